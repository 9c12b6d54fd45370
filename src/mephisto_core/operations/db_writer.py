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
from concurrent.futures import Future
from typing import Any, TypeVar

from mephisto_core.data_model import Database

T = TypeVar("T")
log = logging.getLogger(__name__)

_STOP = object()


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

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Queue `fn(*args)`; the future resolves after the transaction that ran it committed."""
        future: Future[T] = Future()
        self._jobs.put((fn, args, future))
        return future

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on the writer thread and return its result once committed."""
        return await asyncio.wrap_future(self.submit(fn, *args))

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

    def _run_batch(self, batch: list[tuple[Callable[..., Any], tuple[Any, ...], Future[Any]]]) -> None:
        outcomes: list[tuple[Future[Any], bool, Any]] = []
        try:
            with self.database.write():
                for fn, args, future in batch:
                    if not future.set_running_or_notify_cancel():
                        continue
                    try:
                        with self.database.db.atomic():  # a savepoint: a failed job leaves the others intact
                            outcomes.append((future, True, fn(*args)))
                    except Exception as exc:  # handed to the awaiting caller, which decides what to do
                        outcomes.append((future, False, exc))
        except Exception as exc:
            # The commit itself failed: nothing of this batch is durable, so every caller gets the error.
            log.error("database commit failed for %d jobs: %s", len(batch), exc)
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        self.batches += 1
        self.jobs_done += len(outcomes)
        for future, ok, value in outcomes:
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
