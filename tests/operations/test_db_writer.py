"""The database writer: jobs of one batch share a commit, and a failed job undoes only its own writes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import peewee as pw
import pytest

from mephisto_core.data_model import Database, Worker
from mephisto_core.errors import DatabaseError
from mephisto_core.operations.run import db_writer
from mephisto_core.operations.run.db_writer import DatabaseWriter


def add_worker(name: str) -> int:
    worker_id: int = Worker.create(provider_type="test", name=name).id
    return worker_id


def add_worker_then_fail(name: str) -> None:
    Worker.create(provider_type="test", name=name)
    raise ValueError(f"{name} failed after writing")


def add_duplicate_and_carry_on(name: str) -> str:
    # The job catches the failed statement itself; on PostgreSQL that leaves its part of the transaction unusable.
    try:
        Worker.create(provider_type="test", name=name)
    except pw.IntegrityError:
        return "caught"
    return "inserted"


async def run_batch(writer: DatabaseWriter, *jobs: tuple[Any, ...]) -> list[Any]:
    """Queue every job before the writer thread starts, so that they run as one batch."""
    calls = [asyncio.ensure_future(writer.call(fn, *args)) for fn, *args in jobs]
    await asyncio.sleep(0)  # every call has queued its job
    writer.start()
    try:
        return await asyncio.gather(*calls, return_exceptions=True)
    finally:
        writer.stop()


def test_a_failing_job_undoes_only_its_own_writes(database: Database) -> None:
    writer = DatabaseWriter(database)
    results = asyncio.run(
        run_batch(writer, (add_worker, "before"), (add_worker_then_fail, "broken"), (add_worker, "after"))
    )
    assert isinstance(results[0], int) and isinstance(results[2], int)
    assert isinstance(results[1], ValueError) and "broken failed" in str(results[1])
    assert writer.batches == 1 and writer.jobs_done == 3
    assert sorted(w.name for w in Worker.select()) == ["after", "before"]


def test_a_job_that_swallows_a_failed_statement_does_not_spoil_the_batch(database: Database) -> None:
    with database.write():
        add_worker("taken")
    writer = DatabaseWriter(database)
    results = asyncio.run(
        run_batch(writer, (add_worker, "first"), (add_duplicate_and_carry_on, "taken"), (add_worker, "last"))
    )
    # SQLite lets the job go on after the failed INSERT; PostgreSQL ignores everything after it, so the job did
    # not do what it says and its caller gets an error instead. Either way the other jobs of the batch commit.
    if database.is_sqlite:
        assert results[1] == "caught"
    else:
        assert isinstance(results[1], DatabaseError) and "nothing of it was stored" in str(results[1])
    assert isinstance(results[0], int) and isinstance(results[2], int)
    assert sorted(w.name for w in Worker.select()) == ["first", "last", "taken"]


def test_a_call_cancelled_before_its_job_started_never_runs(database: Database) -> None:
    writer = DatabaseWriter(database)

    async def scenario() -> int:
        doomed = asyncio.ensure_future(writer.call(add_worker, "doomed"))
        await asyncio.sleep(0)
        doomed.cancel()
        await asyncio.sleep(0)
        writer.start()
        try:
            return await writer.call(add_worker, "kept")
        finally:
            writer.stop()

    assert isinstance(asyncio.run(scenario()), int)
    assert [w.name for w in Worker.select()] == ["kept"]


def test_one_writer_answers_callers_on_successive_event_loops(database: Database) -> None:
    writer = DatabaseWriter(database)
    writer.start()
    try:
        ids = [asyncio.run(writer.call(add_worker, f"loop-{i}")) for i in range(2)]
    finally:
        writer.stop()
    assert ids == [w.id for w in Worker.select().order_by(Worker.name)]


def test_a_failing_database_is_logged_once_per_interval_with_a_count(
    database: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    @contextlib.contextmanager
    def locked() -> Iterator[None]:
        raise pw.OperationalError("database is locked")
        yield  # pragma: no cover - a generator context manager needs a yield

    monkeypatch.setattr(database, "write", locked)
    clock = [1000.0]
    monkeypatch.setattr(db_writer.time, "monotonic", lambda: clock[0])
    writer = DatabaseWriter(database)

    async def three_failing_batches_then_one_later() -> list[Any]:
        writer.start()
        try:
            results = [await asyncio.gather(writer.call(add_worker, f"w{i}"), return_exceptions=True) for i in range(3)]
            clock[0] += db_writer.FAILURE_LOG_EVERY_SECONDS
            results.append(await asyncio.gather(writer.call(add_worker, "later"), return_exceptions=True))
            return results
        finally:
            writer.stop()

    with caplog.at_level(logging.ERROR, logger=db_writer.__name__):
        results = asyncio.run(three_failing_batches_then_one_later())
    assert all(isinstance(result[0], pw.OperationalError) for result in results)
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2, messages
    assert "nothing of its 1 jobs was stored: database is locked" in messages[0]
    assert "(2 more failed batches since the last report)" in messages[1]
    assert Worker.select().count() == 0


def test_a_failed_rollback_reports_the_error_that_broke_the_transaction(
    database: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    @contextlib.contextmanager
    def full_disk() -> Iterator[None]:
        # What SQLite and peewee do on a full disk: SQLite ends the transaction itself, peewee's rollback fails.
        try:
            raise pw.OperationalError("database or disk is full")
        except pw.OperationalError:
            raise pw.OperationalError("cannot rollback - no transaction is active")  # noqa: B904
        yield  # pragma: no cover - a generator context manager needs a yield

    monkeypatch.setattr(database, "write", full_disk)
    writer = DatabaseWriter(database)
    with caplog.at_level(logging.ERROR, logger=db_writer.__name__):
        (result,) = asyncio.run(run_batch(writer, (add_worker, "w")))
    assert isinstance(result, pw.OperationalError) and str(result) == "database or disk is full"
    assert "database or disk is full" in caplog.records[0].getMessage()
