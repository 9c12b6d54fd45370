"""A batch's jobs of a group whose statements stand on their own (`commits_per_statement`).

On PostgreSQL they run outside a transaction, before the batch's other jobs: their one statement commits as it
completes, one round trip instead of two, and their answers do not wait for the other jobs. Their answers still go
out only once what they report is committed; a failing statement leaves its jobs to the usual way; the batch's
other jobs run in a transaction after them. SQLite always runs the whole batch in its transaction.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from typing import Any

import pytest

from mephisto_core.data_model import Database, Worker
from mephisto_core.operations.run import db_writer
from mephisto_core.operations.run.db_writer import DatabaseWriter
from mephisto_core.testing.pytest_plugin import DatabaseTarget


class _StandingGroup:
    """Adds a worker per job: together in one INSERT; one by one, a worker each."""

    commits_per_statement = True
    alone_together = False

    def __init__(self, fail_together: bool = False) -> None:
        self.fail_together = fail_together
        self.together_calls = 0

    def __repr__(self) -> str:
        return "<standing group>"

    def run_one(self, name: str) -> int:
        worker_id: int = Worker.create(provider_type="test", name=name).id
        return worker_id

    def run_together(self, jobs: list[tuple[Any, ...]]) -> list[tuple[Any] | None]:
        self.together_calls += 1
        if self.fail_together:
            Worker.create(provider_type="test", name="found-first")  # a statement that stands on its own
            Worker.insert_many([{"provider_type": "test", "name": "dup"}] * 2).execute()  # the unique index fails
        rows = [{"provider_type": "test", "name": name} for (name,) in jobs if not name.startswith("later")]
        ids = {
            name: worker_id for worker_id, name in Worker.insert_many(rows).returning(Worker.id, Worker.name).tuples()
        }
        return [(ids[name],) if name in ids else None for (name,) in jobs]


def _committed_names(target: DatabaseTarget) -> list[str]:
    """The workers another connection sees: what is committed."""
    if target.url is None:
        with sqlite3.connect(target.sqlite_path) as conn:
            return sorted(name for (name,) in conn.execute("SELECT name FROM worker"))
    import psycopg2

    conn = psycopg2.connect(target.url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT name FROM worker")
            return sorted(name for (name,) in cur.fetchall())
    finally:
        conn.close()


async def _one_batch(
    writer: DatabaseWriter, group: Any, names: list[str], target: DatabaseTarget, plain: str | None = None
) -> tuple[list[Any], list[list[str]]]:
    """Queue the group's jobs (and a plain job adding `plain`) before the writer starts, so that they share a
    batch. Returns the answers and, for each, what another connection saw committed as it was delivered."""
    loop = asyncio.get_running_loop()
    futures = [loop.create_future() for _ in names]
    seen: list[list[str]] = []
    for future, name in zip(futures, names, strict=True):

        def done(ok: bool, result: Any, future: asyncio.Future[Any] = future) -> None:
            seen.append(_committed_names(target))
            future.set_result(result if ok else ("error", result))

        writer.call_grouped_then(group, (name,), done)
    extra = asyncio.ensure_future(writer.call(_StandingGroup().run_one, plain)) if plain else None
    await asyncio.sleep(0)
    writer.start()
    try:
        answers = list(await asyncio.gather(*futures))
        if extra is not None:
            await extra
        return answers, seen
    finally:
        writer.stop()


def test_a_batch_of_one_standing_group_is_one_round_trip_and_answered_once_committed(
    database: Database, database_target: DatabaseTarget, sent: list[str]
) -> None:
    writer = DatabaseWriter(database)
    answers, seen = asyncio.run(_one_batch(writer, _StandingGroup(), ["a", "b", "c"], database_target))
    assert answers == [Worker.get(Worker.name == name).id for name in ("a", "b", "c")]
    assert seen == [["a", "b", "c"]] * 3  # each answer went out with all three committed
    assert writer.batches == 1
    if not database.is_sqlite:
        assert len(sent) == 1, sent  # the INSERT alone: no BEGIN, no COMMIT
        assert sent[0].startswith("INSERT"), sent


def test_a_job_the_group_leaves_runs_the_usual_way_after_it(
    database: Database, database_target: DatabaseTarget, sent: list[str]
) -> None:
    writer = DatabaseWriter(database)
    group = _StandingGroup()
    names = ["a", "later", "b", "later-too"]
    answers, _ = asyncio.run(_one_batch(writer, group, names, database_target))
    assert answers == [Worker.get(Worker.name == name).id for name in names]
    if not database.is_sqlite:
        assert group.together_calls == 1  # the two it left are not tried together again
        assert sent[0].startswith("INSERT") and "BEGIN" not in sent[0], sent
        assert sent[1].startswith('BEGIN; SAVEPOINT "job1"; INSERT'), sent
        assert sent[2].startswith('RELEASE SAVEPOINT "job1"; SAVEPOINT "job2"; INSERT') and sent[3] == "COMMIT", sent


def test_a_failed_statement_leaves_the_jobs_to_the_usual_way_and_keeps_what_stood_before_it(
    database: Database, database_target: DatabaseTarget, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    monkeypatch.setattr(db_writer, "_GROUP_FAILURES", db_writer._GroupFailures())  # none said recently
    caplog.set_level(logging.WARNING, logger=db_writer.__name__)
    writer = DatabaseWriter(database)
    group = _StandingGroup(fail_together=True)
    answers, _ = asyncio.run(_one_batch(writer, group, ["a", "b"], database_target))
    assert answers == [Worker.get(Worker.name == name).id for name in ("a", "b")]
    assert group.together_calls == 1  # not tried again in the transaction
    assert "ran one by one after their shared statement failed" in caplog.text
    # Outside a transaction the statement before the failing one stays; in the batch's transaction it is undone.
    expected = ["a", "b"] if database.is_sqlite else ["a", "b", "found-first"]
    assert _committed_names(database_target) == expected


def test_a_batch_with_another_job_answers_the_group_before_that_job_runs(
    database: Database, database_target: DatabaseTarget, sent: list[str]
) -> None:
    writer = DatabaseWriter(database)
    answers, seen = asyncio.run(_one_batch(writer, _StandingGroup(), ["a", "b"], database_target, plain="p"))
    assert answers == [Worker.get(Worker.name == name).id for name in ("a", "b")]
    if database.is_sqlite:
        assert seen == [["a", "b", "p"]] * 2  # one commit for the whole batch
        return
    assert all(names[:2] == ["a", "b"] for names in seen), seen  # each answer after its own commit
    assert sent[0].startswith("INSERT") and "BEGIN" not in sent[0], sent  # the group's statement, on its own
    assert sent[1].startswith('BEGIN; SAVEPOINT "job1"; INSERT') and sent[-1] == "COMMIT", sent  # then the rest
    assert len(sent) == 3, sent


@pytest.mark.parametrize("alone_together", [False, True])
def test_a_lone_job_runs_together_only_in_a_group_that_says_so(
    database: Database, database_target: DatabaseTarget, sent: list[str], alone_together: bool
) -> None:
    """An onboarding submission alone in its batch took its usual seven round trips on PostgreSQL where the
    group's statement takes one: such a group runs its lone jobs together too."""
    writer = DatabaseWriter(database)
    group = _StandingGroup()
    group.alone_together = alone_together
    answers, _ = asyncio.run(_one_batch(writer, group, ["a"], database_target))
    assert answers == [Worker.get(Worker.name == "a").id]
    assert group.together_calls == (1 if alone_together else 0)
    if not database.is_sqlite:
        assert len(sent) == (1 if alone_together else 2), sent  # the INSERT alone, or in a transaction


class _PartlyGroup(_StandingGroup):
    """Adds the first job's worker in a statement of its own, then fails the rest's statement."""

    def run_together(self, jobs: list[tuple[Any, ...]]) -> list[tuple[Any] | None]:
        self.together_calls += 1
        first: int = Worker.create(provider_type="test", name=jobs[0][0]).id
        try:
            Worker.insert_many([{"provider_type": "test", "name": "dup"}] * 2).execute()  # the unique index fails
        except Exception as exc:
            raise db_writer.PartlyDone([(first,), *[None] * (len(jobs) - 1)], exc) from exc
        raise AssertionError("the second statement fails")


def test_a_group_that_fails_after_a_statement_committed_answers_what_it_did_and_leaves_the_rest(
    database: Database, database_target: DatabaseTarget
) -> None:
    """On PostgreSQL the worker added is kept and answered; on SQLite, one transaction, the group's savepoint undoes
    it and the usual way adds it: either way once."""
    writer = DatabaseWriter(database)
    group = _PartlyGroup()
    answers, _ = asyncio.run(_one_batch(writer, group, ["a", "b", "c"], database_target))
    assert answers == [Worker.get(Worker.name == name).id for name in ("a", "b", "c")]
    assert group.together_calls == 1
    assert Worker.select().where(Worker.name == "a").count() == 1  # not added again by the usual way
    assert not Worker.select().where(Worker.name == "dup").exists()
