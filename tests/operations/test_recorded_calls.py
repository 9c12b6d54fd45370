"""`recorded_calls.call_all`: calls several at once, outcomes in the jobs' order, each record in a savepoint of its
own, a failed commit reported to each of its jobs, and an interrupt that starts no further call."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from mephisto_core.data_model import Database, Worker
from mephisto_core.operations.recorded_calls import call_all


def _names() -> set[str]:
    return {name for (name,) in Worker.select(Worker.name).tuples()}


def test_outcomes_come_in_the_jobs_order_and_a_failing_record_undoes_only_its_own(database: Database) -> None:
    jobs = ["a", "b", "c", "d", "e", "f"]
    failures: list[tuple[str, str]] = []

    def call(job: str) -> str:
        time.sleep(0.01 * (len(jobs) - jobs.index(job)))  # the last jobs return first
        if job == "c":
            raise ValueError("the platform said no")
        return job.upper()

    def record(job: str, result: str) -> None:
        Worker.create(provider_type="mock", name=result)
        if job == "e":
            raise RuntimeError("record failed after its write")

    outcomes = call_all(database, jobs, call, record, lambda job, exc: failures.append((job, str(exc))), at_once=3)

    assert [type(o).__name__ if o else None for o in outcomes] == [None, None, "ValueError", None, "RuntimeError", None]
    assert failures == [("c", "the platform said no")]
    assert _names() == {"A", "B", "D", "F"}  # E's write was undone with its savepoint, the others kept


def test_no_more_than_at_once_calls_are_in_flight(database: Database) -> None:
    lock = threading.Lock()
    in_flight, most = 0, 0

    def call(job: int) -> int:
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        time.sleep(0.02)
        with lock:
            in_flight -= 1
        return job

    assert call_all(database, list(range(12)), call, lambda job, result: None, at_once=4) == [None] * 12
    assert most == 4


def test_a_commit_that_fails_gives_its_error_to_each_of_its_jobs(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    write = database.write
    commits = 0

    @contextmanager
    def failing_first_commit() -> Iterator[None]:
        nonlocal commits
        with write():
            yield
            commits += 1
            if commits == 1:
                raise OSError("disk full")

    monkeypatch.setattr(database, "write", failing_first_commit)
    outcomes = call_all(
        database,
        ["a", "b"],
        lambda job: job,
        lambda job, result: Worker.create(provider_type="mock", name=result),
        at_once=1,
    )

    assert isinstance(outcomes[0], OSError) and outcomes[1] is None
    assert _names() == {"b"}


def test_an_interrupt_starts_no_further_call(database: Database) -> None:
    called: list[int] = []

    def call(job: int) -> None:
        called.append(job)
        time.sleep(0.05)

    def record(job: int, result: None) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        call_all(database, list(range(6)), call, record, at_once=1)
    time.sleep(0.2)  # a call under way when the interrupt came finishes
    assert 1 <= len(called) <= 2
    assert _names() == set()
