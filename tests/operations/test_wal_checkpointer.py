"""SQLite: the database writer's commits never checkpoint; its WalCheckpointer copies the log on its own thread,
so the log stays small, and does nothing while nothing is committed."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path

import peewee as pw
import pytest

from mephisto_core.data_model import Database
from mephisto_core.operations.run.db_writer import DatabaseWriter
from mephisto_core.operations.run.wal_checkpointer import WalCheckpointer

PAGE = 4096
ROW = "x" * 1000
ROWS_PER_COMMIT = 40  # ~10 pages of log per commit
COMMITS_PER_ROUND = 20
ROUNDS = 20  # ~4,000 pages in all: 16 MiB of log if nothing were copied


def _fill(database: Database, rows: int) -> None:
    database.db.execute_sql("CREATE TABLE IF NOT EXISTS filler (x TEXT)")
    for _ in range(rows):
        database.db.execute_sql("INSERT INTO filler (x) VALUES (?)", (ROW,))


def _autocheckpoint(database: Database) -> int:
    """The setting of the calling thread's connection."""
    return int(database.db.execute_sql("PRAGMA wal_autocheckpoint").fetchone()[0])


def _wait_until_copied(checkpointer: WalCheckpointer, after: int) -> None:
    """Until a checkpoint later than the `after`-th copied the whole log."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        result = checkpointer.last_result
        if checkpointer.checkpoints > after and result is not None and result[1] == result[2]:
            return
        time.sleep(0.01)
    raise AssertionError(f"no full checkpoint within 10 s: {checkpointer.checkpoints}, {checkpointer.last_result}")


def _wal(database: Database) -> Path:
    return Path(str(database.db.database) + "-wal")


async def _keep_busy(writer: DatabaseWriter, database: Database, jobs: int) -> int:
    """Run `jobs` writes of 20 rows with the next always queued, so the writer never pauses; the log's largest
    size seen."""
    largest = 0
    in_flight: set[asyncio.Future[None]] = set()
    for _ in range(jobs):
        in_flight.add(asyncio.ensure_future(writer.call(_fill, database, 20)))
        if len(in_flight) >= 4:
            _, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            largest = max(largest, _wal(database).stat().st_size)
    await asyncio.gather(*in_flight)
    return largest


def test_the_writer_leaves_checkpoints_to_its_own_thread_and_the_log_stays_small(sqlite_database: Database) -> None:
    limit = 400  # pages, about a round's log
    writer = DatabaseWriter(sqlite_database)
    writer.checkpointer = checkpointer = WalCheckpointer(sqlite_database, restart_after_pages=limit)

    async def write() -> tuple[int, int]:
        largest = 0
        for _ in range(ROUNDS):
            seen = checkpointer.checkpoints
            for _ in range(COMMITS_PER_ROUND):
                await writer.call(_fill, sqlite_database, ROWS_PER_COMMIT)
            largest = max(largest, _wal(sqlite_database).stat().st_size)
            await asyncio.to_thread(_wait_until_copied, checkpointer, seen)
        return largest, await writer.call(_autocheckpoint, sqlite_database)

    writer.start()
    try:
        largest_log, writer_autocheckpoint = asyncio.run(write())
    finally:
        writer.stop()

    assert writer_autocheckpoint == 0  # the writer's commits never checkpoint
    # SQLite starts the log again from its beginning once everything in it was copied: it holds about a round.
    # When the next round's first commit meets a checkpoint under way, the log goes on instead; past the limit
    # the writer's catch-up starts it over.
    assert largest_log < 4 * limit * PAGE, largest_log
    assert checkpointer.checkpoints >= ROUNDS
    rows = sqlite_database.db.execute_sql("SELECT COUNT(*) FROM filler").fetchone()[0]
    assert rows == ROUNDS * COMMITS_PER_ROUND * ROWS_PER_COMMIT


def test_a_writer_that_never_pauses_still_starts_the_log_over(sqlite_database: Database) -> None:
    # Thousands of workers keep the writer committing all the time: each checkpoint of the other thread ends with
    # a newer commit in the log, so SQLite never started the log over and it grew with every commit. Past the
    # limit the writer copies the rest itself between two transactions, and the log starts over.
    limit = 300  # pages
    writer = DatabaseWriter(sqlite_database)
    writer.checkpointer = checkpointer = WalCheckpointer(sqlite_database, interval=0.01, restart_after_pages=limit)
    jobs = 4_000  # ~20,000 pages of log in all, 66 times the limit

    writer.start()
    try:
        largest_log = asyncio.run(_keep_busy(writer, sqlite_database, jobs))
    finally:
        writer.stop()

    # The limit, plus what came in between the checkpointer's last count and the writer's catch-up: a few times
    # the limit, up to 22 times seen while the other half of the suite kept both cores busy (the checkpointer's
    # thread then waits for a core); without the catch-up the log holds everything written (~80 MiB).
    assert largest_log < 30 * limit * PAGE, largest_log
    assert checkpointer.catch_ups >= 3, (checkpointer.catch_ups, checkpointer.checkpoints)
    rows = sqlite_database.db.execute_sql("SELECT COUNT(*) FROM filler").fetchone()[0]
    assert rows == jobs * 20


def test_the_writer_copies_the_log_itself_while_the_checkpointer_cannot_run(
    sqlite_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On a machine whose cores are all busy the checkpointer's thread may wait for one while the writer commits;
    # its last count of the log's pages is then stale, and the log grew unmeasured. Here the thread never runs at
    # all: the writer copies the log itself once a commit has waited 10 intervals, and the log starts over.
    writer = DatabaseWriter(sqlite_database)
    writer.checkpointer = checkpointer = WalCheckpointer(sqlite_database, interval=0.01)
    monkeypatch.setattr(checkpointer, "start", lambda: None)  # a thread that never gets a core
    jobs = 4_000  # ~20,000 pages of log in all (~80 MiB)

    writer.start()
    try:
        started = time.monotonic()
        largest_log = asyncio.run(_keep_busy(writer, sqlite_database, jobs))
        seconds = time.monotonic() - started
    finally:
        writer.stop()

    assert checkpointer.checkpoints == 0
    # At most one catch-up per 0.1 s, each starting the log over: the log holds what was written in between.
    assert 3 <= checkpointer.catch_ups <= seconds / 0.1 + 1, (checkpointer.catch_ups, seconds)
    assert largest_log < jobs * 20 * 1000 / checkpointer.catch_ups * 3, (largest_log, checkpointer.catch_ups)
    rows = sqlite_database.db.execute_sql("SELECT COUNT(*) FROM filler").fetchone()[0]
    assert rows == jobs * 20


def test_the_checkpointer_runs_only_after_commits(sqlite_database: Database) -> None:
    writer = DatabaseWriter(sqlite_database)
    checkpointer = writer.checkpointer
    assert checkpointer is not None

    async def scenario() -> tuple[int, int, int]:
        await asyncio.sleep(checkpointer.interval * 6)
        idle = checkpointer.checkpoints
        await asyncio.gather(*(writer.call(_fill, sqlite_database, 1) for _ in range(5)))
        await asyncio.to_thread(_wait_until_copied, checkpointer, 0)
        copied = checkpointer.checkpoints
        await asyncio.sleep(checkpointer.interval * 6)
        return idle, copied, checkpointer.checkpoints

    writer.start()
    try:
        idle, copied, later = asyncio.run(scenario())
    finally:
        writer.stop()

    assert idle == 0  # started, nothing committed: nothing to copy
    assert 1 <= copied <= writer.batches  # at most one checkpoint per commit, often one for several
    assert later == copied  # nothing committed since: idle again
    # Other connections (a reader, `mephisto review`) keep SQLite's own checkpoints.
    assert _autocheckpoint(sqlite_database) == 1000


def test_a_failing_checkpoint_is_logged_once_per_interval_and_the_thread_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "not-a-database.db"
    broken.write_bytes(b"this is no SQLite file" * 100)
    checkpointer = WalCheckpointer(Database(pw.SqliteDatabase(str(broken))), interval=0.01)
    caplog.set_level(logging.WARNING, logger="mephisto_core.operations.run.wal_checkpointer")
    checkpointer.start()
    try:
        for _ in range(3):
            checkpointer.committed()
            time.sleep(0.05)
    finally:
        checkpointer.stop()

    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1, warnings
    assert "could not copy the database's write-ahead log into it (will retry)" in warnings[0]
    assert "file is not a database" in warnings[0]
    assert checkpointer.checkpoints == 0


def test_a_stop_that_lands_as_the_interval_ends_is_not_lost(sqlite_database: Database) -> None:
    # The race CI once met on a loaded machine: the interval's wait ended (no stop yet), then stop() set "stopping"
    # and "due", then the thread cleared "due" and went back to wait for a commit that never came; stop() joined
    # it forever. Here the thread's clear() waits until stop() has set both, which makes that order certain.
    checkpointer = WalCheckpointer(sqlite_database, interval=0.01)
    stopping = checkpointer._stopping

    class ClearedAfterTheStop(threading.Event):
        def clear(self) -> None:
            while not stopping.is_set():
                time.sleep(0.001)
            time.sleep(0.05)  # stop() sets "due" right after "stopping"
            super().clear()

    checkpointer._due = ClearedAfterTheStop()
    checkpointer.start()
    checkpointer.committed()
    time.sleep(0.05)  # the interval ended: the thread is in clear(), waiting for the stop
    stopper = threading.Thread(target=checkpointer.stop, daemon=True)
    stopper.start()
    stopper.join(5)
    stopped = not stopper.is_alive()
    if not stopped:  # release the thread left waiting, so the test process does not keep it
        checkpointer.committed()
        stopper.join(5)
    assert stopped, "stop() waited for the checkpointer thread for 5 s"
