"""The writer's savepoints without round trips of their own (PostgreSQL), and what they must still guarantee.

On PostgreSQL the batch's BEGIN and each job's savepoint travel with the job's first statement; on SQLite the
savepoints are statements of their own. Either way a failing job undoes only its own writes.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mephisto_core.data_model import Database, Worker
from mephisto_core.operations.run.db_writer import DatabaseWriter


def add_worker(name: str) -> int:
    worker_id: int = Worker.create(provider_type="test", name=name).id
    return worker_id


def fail_before_any_statement(name: str) -> None:
    raise ValueError(f"{name} failed before writing")


def no_statement(name: str) -> str:
    return name


def add_worker_twice(name: str) -> None:
    # The second INSERT breaks the unique (provider_type, name) index: the first one must be undone with it.
    Worker.create(provider_type="test", name=name)
    Worker.create(provider_type="test", name=name)


async def run_batch(writer: DatabaseWriter, *jobs: tuple[Any, ...]) -> list[Any]:
    """Queue every job before the writer thread starts, so that they run as one batch."""
    calls = [asyncio.ensure_future(writer.call(fn, *args)) for fn, *args in jobs]
    await asyncio.sleep(0)
    writer.start()
    try:
        return await asyncio.gather(*calls, return_exceptions=True)
    finally:
        writer.stop()


def names() -> list[str]:
    return sorted(w.name for w in Worker.select())


def test_failing_jobs_without_statements_or_half_way_undo_no_batch_mate(database: Database) -> None:
    writer = DatabaseWriter(database)
    results = asyncio.run(
        run_batch(
            writer,
            (fail_before_any_statement, "first"),  # before the batch's BEGIN went out
            (add_worker, "a"),
            (no_statement, "quiet"),
            (fail_before_any_statement, "empty"),  # its savepoint never went out: nothing to roll back
            (add_worker, "b"),
            (add_worker_twice, "twice"),  # its first INSERT went out with its savepoint, its second failed
            (add_worker, "c"),
        )
    )
    assert isinstance(results[0], ValueError) and isinstance(results[3], ValueError)
    assert results[2] == "quiet"
    assert all(isinstance(results[i], int) for i in (1, 4, 6))
    assert isinstance(results[5], Exception)
    assert writer.batches == 1
    assert names() == ["a", "b", "c"]


def test_a_batch_that_sends_no_statement_commits_nothing_and_answers(database: Database) -> None:
    writer = DatabaseWriter(database)
    results = asyncio.run(run_batch(writer, (no_statement, "x"), (fail_before_any_statement, "y")))
    assert results[0] == "x" and isinstance(results[1], ValueError)
    assert names() == []
    # The connection is usable as before: the next batch stores what it should.
    writer = DatabaseWriter(database)
    assert asyncio.run(run_batch(writer, (add_worker, "later")))[0] > 0
    assert names() == ["later"]


def test_postgresql_sends_begin_and_savepoints_with_the_jobs_statements(database: Database, sent: list[str]) -> None:
    if database.is_sqlite:
        return  # SQLite's savepoints are statements of their own (no round trips to save); the test above holds
    writer = DatabaseWriter(database)
    results = asyncio.run(
        run_batch(writer, (add_worker, "a"), (no_statement, "q"), (add_worker_twice, "t"), (add_worker, "b"))
    )
    assert isinstance(results[0], int) and isinstance(results[3], int) and isinstance(results[2], Exception)
    assert names() == ["a", "b"]
    # One round trip per statement of the jobs, one for the rollback of the failed job, one for the COMMIT.
    assert len(sent) == 6, sent
    assert sent[0].startswith('BEGIN; SAVEPOINT "job1"; INSERT')
    assert sent[1].startswith('RELEASE SAVEPOINT "job1"; SAVEPOINT "job3"; INSERT')
    assert sent[2].startswith("INSERT")
    assert sent[3] == 'ROLLBACK TO SAVEPOINT "job3"'
    assert sent[4].startswith('RELEASE SAVEPOINT "job3"; SAVEPOINT "job4"; INSERT')
    assert sent[5] == "COMMIT"


def test_postgresql_sends_nothing_for_a_batch_whose_jobs_send_no_statement(database: Database, sent: list[str]) -> None:
    if database.is_sqlite:
        return  # SQLite's BEGIN and COMMIT cost no round trip
    writer = DatabaseWriter(database)
    results = asyncio.run(run_batch(writer, (no_statement, "x"), (fail_before_any_statement, "y"), (no_statement, "z")))
    assert results[0] == "x" and results[2] == "z" and isinstance(results[1], ValueError)
    assert sent == []  # no BEGIN, no savepoint, no COMMIT: the jobs worked in this process's memory only
    # and the next batch still opens its transaction with its first statement
    writer = DatabaseWriter(database)
    assert asyncio.run(run_batch(writer, (add_worker, "later")))[0] > 0
    assert sent[0].startswith('BEGIN; SAVEPOINT "job1"; INSERT') and sent[-1] == "COMMIT", sent
    assert names() == ["later"]
