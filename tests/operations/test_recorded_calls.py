"""`recorded_calls.call_all`: calls several at once, outcomes in the jobs' order, each record in a savepoint of its
own, a failed commit reported to each of its jobs, an interrupt that starts no further call, and the calls that
finished together recorded together, one by one when that fails; jobs one call can do together asked in one call
per group (`Together`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest

from mephisto_core.data_model import Database, Worker
from mephisto_core.operations.recorded_calls import Together, call_all


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


def test_calls_that_finish_together_are_recorded_together_in_the_jobs_order(
    database: Database, calls_answered_together: None
) -> None:
    together: list[list[str]] = []

    def record_together(answered: Sequence[tuple[str, str]]) -> None:
        together.append([job for job, _ in answered])
        Worker.insert_many([{"provider_type": "mock", "name": result} for _, result in answered]).execute()

    def record_alone(job: str, result: str) -> None:
        raise AssertionError(f"{job} was recorded alone")

    outcomes = call_all(database, list("abcdef"), str.upper, record_alone, at_once=6, record_together=record_together)

    assert outcomes == [None] * 6
    assert together == [list("abcdef")]
    assert _names() == set("ABCDEF")


def test_records_together_that_fail_are_recorded_one_by_one_and_only_the_faulty_one_is_refused(
    database: Database, calls_answered_together: None
) -> None:
    failures: list[str] = []

    def call(job: str) -> str:
        if job == "b":
            raise ValueError("the platform said no")
        return job.upper()

    def record(job: str, result: str) -> None:
        Worker.create(provider_type="mock", name=result)
        if job == "d":
            raise RuntimeError("d's record failed after its write")

    def record_together(answered: Sequence[tuple[str, str]]) -> None:
        assert [job for job, _ in answered] == list("acde")  # the failed call is not among them
        Worker.insert_many([{"provider_type": "mock", "name": result} for _, result in answered]).execute()
        raise RuntimeError("one of them cannot be recorded")

    outcomes = call_all(
        database,
        list("abcde"),
        call,
        record,
        lambda job, exc: failures.append(job),
        at_once=5,
        record_together=record_together,
    )

    assert [type(o).__name__ if o else None for o in outcomes] == [None, "ValueError", None, "RuntimeError", None]
    assert failures == ["b"]
    assert _names() == {"A", "C", "E"}  # the records together undone, then each alone: d's undone with its own


def test_jobs_of_one_group_are_asked_in_one_call_of_at_most_most_jobs_and_the_others_alone(database: Database) -> None:
    alone: list[int] = []
    together_calls: list[list[int]] = []
    recorded: list[tuple[int, str]] = []
    lock = threading.Lock()

    def call(job: int) -> str:
        with lock:
            alone.append(job)
        return f"alone {job}"

    def call_together(jobs: Sequence[int]) -> list[str | Exception]:
        with lock:
            together_calls.append(list(jobs))
        return [ValueError("odd one") if job == 7 else f"with {jobs[0]}" for job in jobs]

    # Multiples of 3 are asked alone; the others in two groups by parity, at most 2 jobs a call.
    together = Together(lambda job: None if job % 3 == 0 else job % 2, call_together, most=2)
    outcomes = call_all(
        database, list(range(10)), call, lambda job, result: recorded.append((job, result)), together=together
    )

    assert sorted(alone) == [0, 3, 6, 9]
    assert sorted(together_calls) == [[1, 5], [2, 4], [7], [8]]
    assert [type(o).__name__ if o else None for o in outcomes] == [None] * 7 + ["ValueError"] + [None] * 2
    assert sorted(recorded) == [
        (0, "alone 0"), (1, "with 1"), (2, "with 2"), (3, "alone 3"), (4, "with 2"), (5, "with 1"),
        (6, "alone 6"), (8, "with 8"), (9, "alone 9"),
    ]  # fmt: skip


def test_a_call_together_that_raises_gives_its_error_to_each_of_its_jobs(database: Database) -> None:
    failures: list[int] = []

    def call_together(jobs: Sequence[int]) -> list[int | Exception]:
        raise ConnectionError("no answer")

    outcomes = call_all(
        database,
        [1, 2, 3],
        lambda job: job,
        lambda job, result: None,
        lambda job, exc: failures.append(job),
        together=Together(lambda job: "all", call_together),
    )
    assert [str(outcome) for outcome in outcomes] == ["no answer"] * 3
    assert sorted(failures) == [1, 2, 3]
