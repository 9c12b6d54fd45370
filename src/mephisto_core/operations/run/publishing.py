"""Publisher: offers units at the platform and withdraws them, crash-safe, without holding up the writer thread.

Offering a unit of a provider that publishes units takes three steps, each its own commit:

1. the launcher (writer thread) records a `pending` publish intent per unit with a fresh idempotency key;
2. the Publisher asks the provider to publish them (`CrowdProvider.publish_units`) on the provider-call threads;
3. the answer is written with the units' move to `launched` (writer thread).

A process killed between 1 and 3 leaves intents `pending`. Their outcome is unsure (the platform may have
published them), so before anything else the next start asks `find_published(key)` for each: what the platform
has is recorded, and what it has not is published again under the same key. A platform call that fails or
times out during the run makes its keys unsure the same way. Hence a unit is never published twice by the core
nor lost: only a provider that ignores keys (publish_units' default) and loses an answer can publish twice.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import peewee as pw

from mephisto_core.data_model import Unit, UnitStatus
from mephisto_core.data_model.models import utcnow
from mephisto_core.data_model.publishing import IntentState, PublishIntent
from mephisto_core.data_model.transitions import move_units

if TYPE_CHECKING:
    from mephisto_core.operations.provider_calls import ProviderCalls
    from mephisto_core.operations.run.db_writer import DatabaseWriter
    from mephisto_core.operations.run.run_context import RunContext

log = logging.getLogger(__name__)

PUBLISH_CHUNK = 100  # units per publish_units call
WITHDRAW_CHUNK = 100  # units per expire_units call of a stop
FIRST_RETRY_DELAY_SECONDS = 1.0
MAX_RETRY_DELAY_SECONDS = 30.0


@dataclass(frozen=True)
class OpenIntent:
    """A pending intent with its unit, as read on the writer thread for a call off it."""

    key: str
    unit: Unit
    source: UnitStatus


# ---- writer-thread steps -----------------------------------------------------------------------------------


def record_intents(run_id: int, unit_ids: list[int], source: UnitStatus) -> None:
    """Step 1: one pending intent per unit, each with a new idempotency key (writer thread)."""
    now = utcnow()
    rows = [
        {
            "task_run": run_id,
            "unit": unit_id,
            "idempotency_key": f"mephisto-{run_id}-{unit_id}-{secrets.token_hex(8)}",
            "state": IntentState.PENDING.value,
            "source_status": source.value,
            "created_at": now,
        }
        for unit_id in unit_ids
    ]
    for start in range(0, len(rows), 100):  # under SQLite's bound-parameter limit
        PublishIntent.insert_many(rows[start : start + 100]).execute()


def open_intents(run_id: int) -> list[OpenIntent]:
    """The run's pending intents with their units, oldest first (writer thread)."""
    query = (
        PublishIntent.select(PublishIntent, Unit)
        .join(Unit)
        .where((PublishIntent.task_run == run_id) & (PublishIntent.state == IntentState.PENDING.value))
        .order_by(PublishIntent.id)
    )
    return [OpenIntent(i.idempotency_key, i.unit, UnitStatus(i.source_status)) for i in query]


def record_published(published: dict[str, str | None], on_moved: Callable[[], None]) -> int:
    """Step 3: intents by key -> the provider's id of the unit; the units move to `launched` (writer thread).

    A handful of statements per call whatever its size (this runs between submissions' commits).
    """
    if not published:
        return 0
    intents = list(
        PublishIntent.select().where(
            PublishIntent.idempotency_key.in_(list(published))
            & (PublishIntent.state == IntentState.PENDING.value)  # not resolved already by a lookup
        )
    )
    if not intents:
        return 0
    now = utcnow()
    PublishIntent.update(state=IntentState.PUBLISHED.value, resolved_at=now).where(
        PublishIntent.id.in_([i.id for i in intents])
    ).execute()
    named = [(i, pid) for i in intents if (pid := published[i.idempotency_key]) is not None]
    if named:
        PublishIntent.update(provider_unit_id=pw.Case(PublishIntent.id, [(i.id, pid) for i, pid in named])).where(
            PublishIntent.id.in_([i.id for i, _ in named])
        ).execute()
        Unit.update(provider_unit_id=pw.Case(Unit.id, [(i.unit_id, pid) for i, pid in named])).where(
            Unit.id.in_([i.unit_id for i, _ in named])
        ).execute()
    moved = 0
    for source in {i.source_status for i in intents}:
        unit_ids = [i.unit_id for i in intents if i.source_status == source]
        moved += move_units(unit_ids, UnitStatus(source), UnitStatus.LAUNCHED)
    if moved:
        on_moved()
    return moved


def abandon_intents(keys: list[str]) -> None:
    """Intents the platform has nothing under, given up (a stop): their units wait as before (writer thread)."""
    PublishIntent.update(state=IntentState.ABANDONED.value, resolved_at=utcnow()).where(
        PublishIntent.idempotency_key.in_(keys) & (PublishIntent.state == IntentState.PENDING.value)
    ).execute()


# ---- the event loop's side ---------------------------------------------------------------------------------


class Publisher:
    """Publishes a run's pending intents and withdraws its unclaimed units through `ProviderCalls`."""

    def __init__(
        self,
        ctx: RunContext,
        writer: DatabaseWriter,
        calls: ProviderCalls,
        expire_unclaimed: Callable[[], list[Unit]],
        on_moved: Callable[[], None],
    ) -> None:
        self.ctx = ctx
        self.writer = writer
        self.calls = calls
        self._expire_unclaimed = expire_unclaimed  # the launcher's writer-thread step
        self._on_moved = on_moved
        self._lock = asyncio.Lock()
        #: keys whose platform call may or may not have published (a crash, a failure, a timeout)
        self._unsure: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._again = False
        # After a failed round, the next starts no sooner than this (doubling up to MAX_RETRY_DELAY_SECONDS), so
        # a platform that is down is not asked again at every tick.
        self._retry_at = 0.0
        self._retry_delay = FIRST_RETRY_DELAY_SECONDS
        self.published = 0  # units this process moved to `launched` through the platform

    async def resolve_open_intents(self) -> int:
        """At a run's start: every intent a previous process left pending is looked up, then published or
        recorded (see the module docstring); returns how many were open."""
        if not self.ctx.provider.publishes_units:
            return 0
        intents = await self.writer.call(open_intents, self.ctx.run.id)
        self._unsure.update(i.key for i in intents)
        if intents:
            log.info("%d units were being published when the last process stopped: looking them up", len(intents))
            await self.publish_pending()
        return len(intents)

    def kick(self) -> asyncio.Task[None]:
        """Publish what is pending in the background (the tick must not wait on the platform); the task doing
        it, for a caller that wants to wait (the feeder prints the link once its first units are published)."""
        if self._task is not None and not self._task.done():
            self._again = True  # the running round may have read the intents before the new ones
            return self._task
        if self._task is not None and time.monotonic() < self._retry_at:
            return self._task  # the last round failed: the platform is given a rest before the next one
        self._task = asyncio.create_task(self._publish_rounds(), name="mephisto-publish")
        return self._task

    async def _publish_rounds(self) -> None:
        while True:
            self._again = False
            try:
                await self.publish_pending()
            except Exception as exc:  # the database or the provider: a later kick tries again
                log.warning("publishing units failed (%s); trying again in %.0f s", exc, self._retry_delay)
                self._retry_at = time.monotonic() + self._retry_delay
                self._retry_delay = min(self._retry_delay * 2, MAX_RETRY_DELAY_SECONDS)
                return
            self._retry_delay = FIRST_RETRY_DELAY_SECONDS
            if not self._again:
                return

    async def publish_pending(self) -> None:
        """Publish the run's pending intents (looking unsure ones up first); one round at a time."""
        if not self.ctx.provider.publishes_units:
            return  # no intent is ever recorded for it: the writer is not asked at every tick for none
        async with self._lock:
            intents = await self.writer.call(open_intents, self.ctx.run.id)
            if not intents:
                return
            found = await self._look_up([i for i in intents if i.key in self._unsure])
            if found:
                await self._record(found)
            todo = [i for i in intents if i.key not in found]
            if not self.ctx.accepting:
                # A stop began: nothing more is published, and these intents are known to have nothing there.
                await self.writer.call(abandon_intents, [i.key for i in todo])
                self._unsure.difference_update(i.key for i in todo)
                await self._withdraw()
                return
            for start in range(0, len(todo), PUBLISH_CHUNK):
                await self._publish(todo[start : start + PUBLISH_CHUNK])

    async def _look_up(self, intents: list[OpenIntent]) -> dict[str, str | None]:
        """What the platform published under each unsure key ({key: its id or None when it has no id})."""
        results = await asyncio.gather(
            *(self.calls.call(self.ctx.provider.find_published, i.key) for i in intents), return_exceptions=True
        )
        found: dict[str, str | None] = {}
        for intent, result in zip(intents, results, strict=True):
            if isinstance(result, BaseException):
                raise result  # still unsure: nothing may be published again under this key before we know
            self._unsure.discard(intent.key)
            if result is not None:
                found[intent.key] = result or None
        return found

    async def _publish(self, intents: list[OpenIntent]) -> None:
        keys = {i.unit.id: i.key for i in intents}
        # Unsure from the call on until its result is committed: a failed call may have published some, and a
        # failed commit lost what it did publish. Either way they are looked up before the next try.
        self._unsure.update(keys.values())
        ids = await self.calls.call(
            self.ctx.provider.publish_units, [i.unit for i in intents], self.ctx.worker_url, keys
        )
        await self._record({keys[unit_id]: pid for unit_id, pid in ids.items() if unit_id in keys})
        # A unit the provider did not answer for stays unsure: looked up, then published again if need be.
        self._unsure.difference_update(keys[unit_id] for unit_id in ids if unit_id in keys)
        if not self.ctx.accepting:  # a stop began while the platform published: withdraw them at once
            await self._withdraw()

    async def _record(self, published: dict[str, str | None]) -> None:
        items = list(published.items())
        for start in range(0, len(items), PUBLISH_CHUNK):  # bounded statements (SQLite's parameter limit)
            chunk = dict(items[start : start + PUBLISH_CHUNK])
            self.published += await self.writer.call(record_published, chunk, self._on_moved)

    async def withdraw_unclaimed(self) -> None:
        """Withdraw every unclaimed unit here and at the platform (a stop); waits for a publish in flight."""
        async with self._lock:
            await self._withdraw()

    async def _withdraw(self) -> None:
        units = await self.writer.call(self._expire_unclaimed)
        # In chunks, as publishing: each call then stays well inside the provider's call timeout however many units
        # a stop withdraws (MTurk: 100 units at 8 at once, two calls each, take 2.5-7.5 s).
        for first in range(0, len(units), WITHDRAW_CHUNK):
            await self.calls.call(self.ctx.provider.expire_units, units[first : first + WITHDRAW_CHUNK])

    async def close(self) -> None:
        """Let a background publishing round end (a stop abandons what it did not publish)."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
