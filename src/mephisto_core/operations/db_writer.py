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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from mephisto_core.data_model import Database

T = TypeVar("T")
log = logging.getLogger(__name__)

_STOP = object()


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
        try:
            with self.database.write():
                for job in batch:
                    if not job.future.cancelled():
                        outcomes.append((job, *self._run_job(job)))
        except Exception as exc:
            # The commit itself failed: nothing of this batch is durable, so every caller gets the error.
            log.error("database commit failed for %d jobs: %s", len(batch), exc)
            self._deliver([(job, False, exc) for job in batch])
            return
        self.batches += 1
        self.jobs_done += len(outcomes)
        self._deliver(outcomes)

    def _run_job(self, job: _Job) -> tuple[bool, Any]:
        """Run one job in a savepoint: a failed job leaves the others of the batch intact."""
        # Plain statements rather than peewee's atomic(): jobs run one after the other, so one fixed name does,
        # and this runs twice per job.
        execute = self.database.db.execute_sql
        execute('SAVEPOINT "job"')
        try:
            result = job.fn(*job.args)
            execute('RELEASE SAVEPOINT "job"')  # PostgreSQL refuses this when a statement the job caught failed
        except Exception as exc:  # handed to the awaiting caller, which decides what to do
            execute('ROLLBACK TO SAVEPOINT "job"')
            execute('RELEASE SAVEPOINT "job"')
            return False, exc
        return True, result

    @staticmethod
    def _deliver(outcomes: list[tuple[_Job, bool, Any]]) -> None:
        """Hand the results to their event loops: one wake-up per loop per batch, not one per job."""
        by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        for job, ok, value in outcomes:
            by_loop.setdefault(job.loop, []).append((job.future, ok, value))
        for loop, results in by_loop.items():
            if not loop.is_closed():  # a closed loop has nobody left waiting
                loop.call_soon_threadsafe(_resolve, results)


def _resolve(results: list[_Outcome]) -> None:
    for future, ok, value in results:
        if future.done():  # the caller was cancelled while its job ran
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
