"""Reads that need not wait in the database writer's queue: a thread and a database connection of their own.

The writer runs every claim and submission one batch after another; a read queued there holds them all up for its
round trips (on PostgreSQL 11 ms away, a read in a transaction is two of them). A read whose answer is only acted
on through the writer, which checks again, can run beside it instead: SQLite's log lets a reader work while the
writer writes, and PostgreSQL gives it a backend of its own. It sees what is committed, so it may miss what the
writer is doing at that moment; its callers must not mind (a count stands in only until the next one, an agent
past its deadline is released only if it is still in task).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import peewee as pw

from mephisto_core.data_model import Database

T = TypeVar("T")


class SideReads:
    """Runs reads one at a time on a thread of their own, whose connection (peewee keeps one per thread) is
    opened at the first read and closed by `close`, or after a failure, so the next read opens a new one."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mephisto-side-reads")
        self._closed = False

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the reading thread; a database failure is raised as it came."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._run, fn, args)

    def _run(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        try:
            return fn(*args)
        except (pw.OperationalError, pw.InterfaceError):
            self._database.db.close()  # a connection the outage broke: the next read opens a new one
            raise

    async def close(self) -> None:
        """Close the reading thread's connection and stop the thread (once; later calls do nothing)."""
        if self._closed:
            return
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(self._thread, self._database.db.close)
        self._thread.shutdown(wait=True)
