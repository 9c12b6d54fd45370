"""Database work that need not wait in the writer's queue: a thread and a database connection of their own.

The writer runs every claim and submission one batch after another; a job queued there holds them all up for its
round trips (on PostgreSQL 11 ms away, a read in a transaction is two of them, the tick's offer of waiting units
three). Work whose outcome the writer's jobs do not depend on within a batch can run beside it instead.

- Reads (`read`) whose answer is only acted on through the writer, which checks again: SQLite's log lets a reader
  work while the writer writes, and PostgreSQL gives it a backend of its own. A read sees what is committed, so it
  may miss what the writer is doing at that moment; its callers must not mind (a count stands in only until the
  next one, an agent past its deadline is released only if it is still in task).
- On PostgreSQL only, the operator tick's own writes (`write`, each in a transaction of its own): they change rows
  the workers' claims and submissions do not (units never offered or withdrawn, the run's heartbeat), and row
  locks keep the two apart where they meet. On SQLite, one writer at a time is the database's rule: they stay on
  the writer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import peewee as pw

from mephisto_core.data_model import Database

T = TypeVar("T")


class SideConnection:
    """Runs database work one job at a time on a thread of its own, whose connection (peewee keeps one per thread)
    is opened at the first job and closed by `close`, or after a failure, so the next job opens a new one."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mephisto-side-connection")
        self._closed = False

    @property
    def writes(self) -> bool:
        """Whether this database takes writes beside the writer's (PostgreSQL); `write` is refused otherwise."""
        return not self._database.is_sqlite

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the side thread; a database failure is raised as it came."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._run, fn, args)

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in a transaction of its own on the side thread (PostgreSQL only), committed when this
        returns; a failure undoes it and is raised as it came."""
        if not self.writes:
            raise RuntimeError("SQLite takes one writer at a time: write through the database writer")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._run, self._in_transaction, (fn, args))

    def _in_transaction(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        with self._database.write():
            return fn(*args)

    def _run(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        try:
            return fn(*args)
        except (pw.OperationalError, pw.InterfaceError):
            self._database.db.close()  # a connection the outage broke: the next job opens a new one
            raise

    async def close(self) -> None:
        """Close the side thread's connection and stop the thread (once; later calls do nothing)."""
        if self._closed:
            return
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(self._thread, self._database.db.close)
        self._thread.shutdown(wait=True)
