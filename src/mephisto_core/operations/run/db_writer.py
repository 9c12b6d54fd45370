"""The one thread that touches the database for the operator, with group commit.

The event loop never blocks on the database: it hands a function to `DatabaseWriter.call` and awaits the result.
The writer thread runs queued functions back to back inside one transaction (each in its own savepoint, so one
failing job does not undo the others) and commits once for the whole batch. Results are released only after that
commit, which is what lets the operator acknowledge a submission only once it is durable.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from mephisto_core.data_model import Database
from mephisto_core.errors import DatabaseError
from mephisto_core.operations.run import metrics_hooks

T = TypeVar("T")
log = logging.getLogger(__name__)

_STOP = object()
# While the database keeps failing (a lock past the busy timeout, a full disk), every batch fails the same way:
# one log line this often says so, the callers report their own failures.
FAILURE_LOG_EVERY_SECONDS = 10.0


@dataclass(slots=True)
class _Job:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


_Outcome = tuple[asyncio.Future[Any], bool, Any]  # (future, succeeded, result or exception)


class DatabaseWriter:
    """Runs database work on one thread, batching up to `max_batch` jobs per commit."""

    def __init__(self, database: Database, max_batch: int = 256) -> None:
        self.database = database
        self.max_batch = max_batch
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="mephisto-db-writer", daemon=True)
        self.batches = 0
        self.jobs_done = 0
        self._failures_unlogged = 0
        self._failure_logged_at = -FAILURE_LOG_EVERY_SECONDS

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Finish queued jobs, then stop the thread."""
        if self._thread.is_alive():
            self._jobs.put(_STOP)
            self._thread.join()

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on the writer thread and return its result once committed.

        A caller cancelled before its job started never runs it; once started, the job runs to its commit.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put(_Job(fn, args, future, loop))
        return await future

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._jobs.get()
            if first is _STOP:
                break
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is _STOP:
                    stopping = True
                    break
                batch.append(job)
            self._run_batch(batch)

    def _run_batch(self, batch: list[_Job]) -> None:
        outcomes: list[tuple[_Job, bool, Any]] = []
        started = time.perf_counter()
        try:
            with self.database.write():
                savepoints = _JobSavepoints(self.database)
                for job in batch:
                    if not job.future.cancelled():
                        outcomes.append((job, *savepoints.run(job)))
        except Exception as exc:
            # The transaction failed (its BEGIN, a statement outside the savepoints, or the COMMIT): nothing of
            # this batch is durable, so every caller gets the error.
            error = _first_cause(exc)
            self._log_failed_batch(len(batch), error)
            self._deliver([(job, False, error) for job in batch])
            return
        self.batches += 1
        self.jobs_done += len(outcomes)
        metrics_hooks.observe_db_write(time.perf_counter() - started, len(outcomes))
        self._deliver(outcomes)

    def _log_failed_batch(self, jobs: int, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._failure_logged_at < FAILURE_LOG_EVERY_SECONDS:
            self._failures_unlogged += 1
            return
        more = (
            f" ({self._failures_unlogged} more failed batches since the last report)" if self._failures_unlogged else ""
        )
        log.error("database transaction failed, nothing of its %d jobs was stored: %s%s", jobs, exc, more)
        self._failure_logged_at = now
        self._failures_unlogged = 0

    @staticmethod
    def _deliver(outcomes: list[tuple[_Job, bool, Any]]) -> None:
        """Hand the results to their event loops: one wake-up per loop per batch, not one per job."""
        by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        for job, ok, value in outcomes:
            by_loop.setdefault(job.loop, []).append((job.future, ok, value))
        for loop, results in by_loop.items():
            if not loop.is_closed():  # a closed loop has nobody left waiting
                loop.call_soon_threadsafe(_resolve, results)


def _first_cause(exc: Exception) -> Exception:
    """The error that broke the transaction, not the failed rollback it led to.

    When SQLite hits a full disk (or I/O error) it rolls the transaction back by itself; peewee's own rollback
    then fails with "cannot rollback - no transaction is active", which would hide "database or disk is full".
    """
    if "no transaction is active" in str(exc) and isinstance(exc.__context__, Exception):
        return exc.__context__
    return exc


class _JobSavepoints:
    """Runs the jobs of one transaction each in a savepoint, so that a failed job undoes only its own writes.

    Plain statements rather than peewee's atomic(): jobs run one after the other, so one fixed name does. On
    SQLite a savepoint costs two cheap statements per job. On PostgreSQL every statement is a round trip, so the
    release of one job's savepoint and the next one's start go together, and a rollback keeps the savepoint for
    the next job: one round trip per job.
    """

    def __init__(self, database: Database) -> None:
        self._execute = database.db.execute_sql
        self._connection = database.db.connection()
        self._postgres = not database.is_sqlite
        self._open = False

    def run(self, job: _Job) -> tuple[bool, Any]:
        """(True, result) or (False, the exception), with the job's writes kept or undone accordingly."""
        if not self._postgres:
            self._execute('SAVEPOINT "job"')
        elif self._open:
            self._execute('RELEASE SAVEPOINT "job"; SAVEPOINT "job"')
        else:
            self._execute('SAVEPOINT "job"')
            self._open = True
        try:
            result = job.fn(*job.args)
            if self._postgres:
                _raise_if_statement_failed(self._connection)
            else:
                self._execute('RELEASE SAVEPOINT "job"')
        except Exception as exc:  # handed to the awaiting caller, which decides what to do
            self._execute('ROLLBACK TO SAVEPOINT "job"')
            if not self._postgres:
                self._execute('RELEASE SAVEPOINT "job"')
            return False, exc
        return True, result


def _raise_if_statement_failed(connection: Any) -> None:
    """PostgreSQL ignores every statement after a failed one until a rollback: a job that caught the failure
    and returned normally did not do what it reports, so its caller gets an error instead."""
    from psycopg2.extensions import TRANSACTION_STATUS_INERROR

    if connection.info.transaction_status == TRANSACTION_STATUS_INERROR:
        raise DatabaseError("a statement of this job failed inside the transaction; nothing of it was stored")


def _resolve(results: list[_Outcome]) -> None:
    for future, ok, value in results:
        if future.done():  # the caller was cancelled while its job ran
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
