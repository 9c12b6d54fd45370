"""Counting a large run's units off the database writer, on the run's side connection (`side_connection.py`).

The writer runs every claim and submission one batch after another, so a count there (50 ms at 100,000 units on
PostgreSQL) holds them all up. Here the count runs beside it. `status_counts.StatusCounts` says when one is due
and takes its result unless this process moved units while it ran.
"""

from __future__ import annotations

import asyncio
import logging
import time

import peewee as pw

from mephisto_core.operations.run.db_writer import DatabaseWriter
from mephisto_core.operations.run.side_connection import SideConnection
from mephisto_core.operations.run.status_counts import CountUnits, StatusCounts

log = logging.getLogger(__name__)


class BackgroundCounts:
    """Refreshes one run's `StatusCounts` off the writer when a count is due; one count at a time."""

    def __init__(self, reads: SideConnection, writer: DatabaseWriter, counts: StatusCounts, count: CountUnits) -> None:
        self._reads = reads
        self._writer = writer
        self._counts = counts
        self._count = count
        self._task: asyncio.Task[None] | None = None
        self._failed_before = False
        self._closed = False

    def kick(self) -> None:
        """Start a count when one is due and none is running (called at each operator tick)."""
        if self._task is None and not self._closed and self._counts.background_due():
            self._task = asyncio.create_task(self._refresh())

    async def _refresh(self) -> None:
        try:
            # Asked of the writer, so every move this process made before it is committed before the count begins.
            generation = await self._writer.call(self._counts.generation)
            counts, cost = await self._reads.read(self._timed_count)
            installed = await self._writer.call(self._counts.install, counts, cost, generation)
            log.debug("units counted off the writer in %.1f ms (%s)", cost * 1000, "used" if installed else "stale")
        except (pw.OperationalError, pw.InterfaceError) as exc:  # the database is away: the writer's tick says so
            if not self._failed_before:
                log.warning("could not count the run's units off the writer (%s); counting on it instead", exc)
            self._failed_before = True
        finally:
            self._task = None

    def _timed_count(self) -> tuple[dict[str, int], float]:
        start = time.monotonic()
        counts = self._count()
        return counts, time.monotonic() - start

    async def close(self) -> None:
        """Stop counting (once; later calls do nothing); the side reads are closed by their owner."""
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
