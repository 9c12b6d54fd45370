"""In-run platform sync: every `CrowdProvider.sync_interval_seconds`, the platform's view of the units workers hold
(or of every open unit, as `CrowdProvider.in_run_sync_units` says) is compared with ours again, so work returned or
timed out at the platform frees its unit here at once instead of after `assignment_duration_seconds`.

The start-time reconciliation (`reconcile.py`) runs before anything is offered; this one runs against a live
worker pool, so each drift is applied only while the unit is still as it was when the platform was asked:

- returned or abandoned there: the agent that held the unit then (and still does) is released as `returned`
  through the worker pool, its pages are told (`status` `returned`, as for any lost unit), and the unit is
  offered again;
- submitted there: the platform's answer is stored and the unit completed, only while nobody submitted it here
  and the same agent (or nobody) holds it; a stored submission is never overwritten;
- live there, unknown here: withdrawn at the platform, but never a unit that is being published here (a pending
  publish intent), nor an unnamed one while any publish is pending (its id may not be recorded yet).

One sync at a time (the loop awaits each), on the provider-call threads; a sync that fails or times out is
logged and tried again at the next interval: it never stops the run. Each sync that changed something appends a
line (phase "during run") to the run's reconciliation.jsonl.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mephisto_core.abstractions.provider import DriftKind, UnitDrift
from mephisto_core.data_model import AgentStatus, Unit, UnitStatus
from mephisto_core.data_model.publishing import IntentState, PublishIntent
from mephisto_core.operations.run.reconcile import Applied, append_log, store_platform_submission

if TYPE_CHECKING:
    from mephisto_core.operations.provider_calls import ProviderCalls
    from mephisto_core.operations.run.client_io import ClientIOHandler
    from mephisto_core.operations.run.db_writer import DatabaseWriter
    from mephisto_core.operations.run.worker_pool import WorkerPool

log = logging.getLogger(__name__)

#: Units the platform may hold work for during the run (created units are not offered anywhere yet).
_LIVE_OPEN = (UnitStatus.LAUNCHED, UnitStatus.ASSIGNED, UnitStatus.EXPIRED)
#: Units a worker holds: all that a return or a submission at the platform can concern.
_HELD = (UnitStatus.ASSIGNED,)


@dataclass(frozen=True)
class Snapshot:
    """The units the platform is asked about, as they were then, and who held each at that moment."""

    units: list[Unit]
    holders: dict[int, int | None]  # unit id -> agent id (None: nobody)


@dataclass
class SyncOutcome:
    """What one sync did: each drift in words, what to withdraw at the platform, the agents released here."""

    applied: list[Applied] = field(default_factory=list)
    withdraw: list[Unit] = field(default_factory=list)
    returned_agents: list[int] = field(default_factory=list)
    completed_agents: list[int] = field(default_factory=list)


def snapshot(run_id: int, which: str) -> Snapshot:
    """The run's units a sync asks about (`CrowdProvider.in_run_sync_units`: "held" or every "open" one) and
    their holders (writer thread)."""
    statuses = _HELD if which == "held" else _LIVE_OPEN
    units = list(Unit.select().where((Unit.task_run == run_id) & Unit.status.in_([s.value for s in statuses])))
    return Snapshot(units, {unit.id: unit.agent_id for unit in units})


def apply_live_drifts(pool: WorkerPool, taken: Snapshot, drifts: list[UnitDrift]) -> SyncOutcome:
    """Apply what the platform reported against the live run (writer thread, one transaction)."""
    ctx = pool.ctx
    outcome = SyncOutcome()
    publishing = _units_being_published(ctx.run.id)
    for drift in drifts:
        kind = DriftKind(drift.kind)  # a provider may give the plain string
        unit = Unit.get_or_none(Unit.id == drift.unit_id) if drift.unit_id is not None else None

        def done(action: str, drift: UnitDrift = drift) -> None:
            outcome.applied.append(Applied(drift, action))

        if unit is not None and unit.task_run_id != ctx.run.id:
            done("ignored: the unit is not of this run")
        elif unit is not None and unit.id in publishing:
            done("kept: it is being published here; the next sync looks again")
        elif unit is not None and unit.id not in taken.holders:
            done(f"kept: the platform was not asked about it ({unit.status} here)")
        elif unit is not None and unit.agent_id != taken.holders[unit.id]:
            done("kept: someone else holds it here since the platform was asked")
        elif kind is DriftKind.UNKNOWN_HERE:
            if unit is None and publishing:
                done("kept: publishing is under way here; the next sync looks again")
            elif unit is not None and unit.status != UnitStatus.EXPIRED.value:
                done(f"kept: offered here too ({unit.status})")
            else:
                outcome.withdraw.append(unit if unit is not None else Unit(provider_unit_id=drift.provider_unit_id))
                done("withdrawn at the platform")
        elif kind is DriftKind.ABANDONED_THERE:
            if unit is None or unit.status != UnitStatus.ASSIGNED.value or unit.agent_id is None:
                done("nothing to free: nobody holds it here")
            elif pool.release_agent(unit.agent_id, AgentStatus.RETURNED):
                outcome.returned_agents.append(unit.agent_id)
                done("freed: returned, offered again")
            else:
                done("nothing to free: its attempt had ended here")
        else:
            action = store_platform_submission(ctx, unit, drift)
            if action.startswith("stored") and unit is not None:
                holder = Unit.select(Unit.agent_id).where(Unit.id == unit.id).scalar()
                if holder is not None:
                    outcome.completed_agents.append(holder)
            done(action)
    return outcome


def _units_being_published(run_id: int) -> set[int]:
    query = PublishIntent.select(PublishIntent.unit).where(
        (PublishIntent.task_run == run_id) & (PublishIntent.state == IntentState.PENDING.value)
    )
    return {unit_id for (unit_id,) in query.tuples()}


class PlatformSync:
    """Runs the in-run sync of one run every `interval` seconds until cancelled."""

    def __init__(
        self,
        pool: WorkerPool,
        io: ClientIOHandler,
        writer: DatabaseWriter,
        calls: ProviderCalls,
        run_dir: Path,
        interval: float,
    ) -> None:
        if not interval > 0:
            raise ValueError(f"sync_interval_seconds must be a positive number of seconds, got {interval!r}")
        self.pool = pool
        self.io = io
        self.writer = writer
        self.calls = calls
        self.run_dir = run_dir
        self.interval = interval
        self.syncs = 0  # completed syncs, for tests and the log
        self.failures = 0

    async def run(self) -> None:
        """Sync every `interval` seconds (the first one `interval` after the start's reconciliation)."""
        provider = self.pool.ctx.provider.type_name
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.sync_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the platform, the network or the database: try again next interval
                self.failures += 1
                log.warning(
                    "in-run sync with provider %s failed (%s: %s); trying again in %g s",
                    provider,
                    type(exc).__name__,
                    exc,
                    self.interval,
                )

    async def sync_once(self) -> SyncOutcome:
        """Ask the platform about the run's units once and apply what it reports."""
        ctx = self.pool.ctx
        taken = await self.writer.call(snapshot, ctx.run.id, ctx.provider.in_run_sync_units)
        drifts = list(await self.calls.call(ctx.provider.reconcile_units, ctx.run, taken.units)) if taken.units else []
        outcome = await self.writer.call(apply_live_drifts, self.pool, taken, drifts) if drifts else SyncOutcome()
        for agent_id in outcome.returned_agents:
            # As for a unit timed out here: the page says the unit is no longer its own.
            self.io.push_status((False, agent_id), AgentStatus.RETURNED.value)
            self.io.forget_agent((False, agent_id))
        for agent_id in outcome.completed_agents:
            self.io.forget_agent((False, agent_id))  # submitted: nothing left to release when its page goes
        if outcome.withdraw:
            await self.calls.call(ctx.provider.expire_units, outcome.withdraw)
        self.syncs += 1
        if outcome.applied:
            await asyncio.to_thread(append_log, self.run_dir, ctx, len(taken.units), outcome.applied, "during run")
            for applied in outcome.applied:
                log.info(
                    "platform sync: unit %s %s at %s: %s",
                    applied.drift.unit_id,
                    DriftKind(applied.drift.kind).value.replace("_", " "),
                    ctx.provider.type_name,
                    applied.action,
                )
        return outcome


def start_platform_sync(
    stack: contextlib.AsyncExitStack,
    pool: WorkerPool,
    io: ClientIOHandler,
    writer: DatabaseWriter,
    calls: ProviderCalls,
    run_dir: Path,
) -> PlatformSync | None:
    """Start the in-run sync when the run's provider asks for one (`sync_interval_seconds`); it stops when
    `stack` unwinds. None when the provider syncs only at start."""
    interval = pool.ctx.provider.sync_interval_seconds
    if interval is None:
        return None
    sync = PlatformSync(pool, io, writer, calls, run_dir, interval)
    task = asyncio.create_task(sync.run(), name="mephisto-platform-sync")
    stack.callback(task.cancel)
    return sync
