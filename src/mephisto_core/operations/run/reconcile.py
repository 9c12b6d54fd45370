"""Reconciliation: at every start of a run, the platform's view of each open unit is compared with ours.

A killed operator, a platform-side return, or a withdrawal that never reached the platform leave the two
disagreeing. Before anything is offered, the core asks the provider (`CrowdProvider.reconcile_units`) and
applies each `UnitDrift`:

- submitted there, not here: the platform's answer (what it can tell) is stored and the unit is `completed`,
  so it waits for review like any other submission;
- returned or abandoned there while held here: the agent is `returned` and the unit offered again;
- published there while not offered here (or unknown here): withdrawn at the platform.

The outcome is printed as a short table when there is something to say, and appended to the run's folder as
`reconciliation.jsonl`, one line per start. A file rather than a table: it is a log for the researcher who wants
to know what a start changed, never queried by the core; what it changed in the units is in the database.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mephisto_core.abstractions.provider import DriftKind, UnitDrift
from mephisto_core.data_model import Agent, AgentStatus, Unit, UnitStatus, Worker
from mephisto_core.data_model.models import utcnow
from mephisto_core.data_model.transitions import try_set_agent_status, try_set_unit_status
from mephisto_core.operations.run.worker_pool import WorkerPool

if TYPE_CHECKING:
    from mephisto_core.operations.provider_calls import ProviderCalls
    from mephisto_core.operations.run.db_writer import DatabaseWriter
    from mephisto_core.operations.run.run_context import RunContext

log = logging.getLogger(__name__)

RECONCILIATION_LOG = "reconciliation.jsonl"
#: Units the platform may know of: offered, held, or withdrawn here (a withdrawal may not have reached it).
_OPEN = (UnitStatus.CREATED, UnitStatus.LAUNCHED, UnitStatus.ASSIGNED, UnitStatus.EXPIRED)


@dataclass(frozen=True)
class Applied:
    """One drift and what the core did about it (`action` in words)."""

    drift: UnitDrift
    action: str


def open_units(run_id: int) -> list[Unit]:
    """The run's units the platform may know of (writer thread)."""
    return list(Unit.select().where((Unit.task_run == run_id) & Unit.status.in_([s.value for s in _OPEN])))


def apply_drifts(ctx: RunContext, drifts: list[UnitDrift]) -> tuple[list[Applied], list[Unit]]:
    """Apply submitted/abandoned drifts here (writer thread); returns what was done, and the units to withdraw
    at the platform (an unsaved Unit carrying only `provider_unit_id` for what the database has no unit for)."""
    applied: list[Applied] = []
    withdraw: list[Unit] = []
    for drift in drifts:
        kind = DriftKind(drift.kind)  # a provider may give the plain string
        unit = Unit.get_or_none(Unit.id == drift.unit_id) if drift.unit_id is not None else None
        if unit is not None and unit.task_run_id != ctx.run.id:
            applied.append(Applied(drift, "ignored: the unit is not of this run"))
            continue
        if kind is DriftKind.UNKNOWN_HERE:
            if unit is not None and unit.status in (UnitStatus.LAUNCHED.value, UnitStatus.ASSIGNED.value):
                applied.append(Applied(drift, f"kept: offered here too ({unit.status})"))
                continue
            withdraw.append(unit if unit is not None else Unit(provider_unit_id=drift.provider_unit_id))
            applied.append(Applied(drift, "withdrawn at the platform"))
        elif kind is DriftKind.ABANDONED_THERE:
            applied.append(Applied(drift, _free(unit)))
        else:
            applied.append(Applied(drift, store_platform_submission(ctx, unit, drift)))
    return applied, withdraw


def _free(unit: Unit | None) -> str:
    if unit is None or unit.status != UnitStatus.ASSIGNED.value or unit.agent_id is None:
        return "nothing to free: nobody holds it here"
    try_set_agent_status(unit.agent_id, AgentStatus.IN_TASK, AgentStatus.RETURNED)
    try_set_unit_status(unit.id, UnitStatus.ASSIGNED, UnitStatus.LAUNCHED, worker=None, agent_id=None)
    return "freed: offered again"


def store_platform_submission(ctx: RunContext, unit: Unit | None, drift: UnitDrift) -> str:
    """Store what the platform tells of a submission we never received; the unit then waits for review.

    Never over a submission stored here: a unit that is not open (created, launched, assigned, expired) is left
    as it is. Returns what was done, in words (writer thread).
    """
    if unit is None:
        return "not stored: no unit here for it"
    if unit.status != UnitStatus.ASSIGNED.value or unit.agent_id is None:
        if unit.status not in (UnitStatus.CREATED.value, UnitStatus.LAUNCHED.value, UnitStatus.EXPIRED.value):
            return f"not stored: the unit is {unit.status} here"
        if drift.worker_name is None:
            return "not stored: the platform did not say who submitted it"
        worker, _ = Worker.get_or_create(provider_type=ctx.run.provider_type, name=drift.worker_name)
        if unit.status == UnitStatus.EXPIRED.value:
            try_set_unit_status(unit.id, UnitStatus.EXPIRED, UnitStatus.LAUNCHED)
        elif unit.status == UnitStatus.CREATED.value:
            try_set_unit_status(unit.id, UnitStatus.CREATED, UnitStatus.LAUNCHED)
        agent = Agent.create(
            unit=unit.id,
            worker=worker,
            task_run=ctx.run,
            assignment=unit.assignment_id,
            provider_agent_id=drift.provider_unit_id,
            token=WorkerPool.new_token(),
        )
        try_set_unit_status(unit.id, UnitStatus.LAUNCHED, UnitStatus.ASSIGNED, worker=worker, agent_id=agent.id)
        agent_id = agent.id
    else:
        agent_id = unit.agent_id
    now = utcnow()
    try_set_agent_status(agent_id, AgentStatus.IN_TASK, AgentStatus.COMPLETED, outputs=drift.outputs, submitted_at=now)
    try_set_unit_status(unit.id, UnitStatus.ASSIGNED, UnitStatus.COMPLETED)
    fetched = "with its answer" if drift.outputs is not None else "without an answer (the platform keeps it)"
    return f"stored for review, {fetched}"


async def reconcile_run(ctx: RunContext, writer: DatabaseWriter, calls: ProviderCalls, run_dir: Path) -> list[Applied]:
    """Ask the provider about every open unit, apply what it reports, print and store the outcome."""
    units = await writer.call(open_units, ctx.run.id)
    drifts = await calls.call(ctx.provider.reconcile_units, ctx.run, units) if units else []
    applied, withdraw = await writer.call(apply_drifts, ctx, list(drifts))
    if withdraw:
        await calls.call(ctx.provider.expire_units, withdraw)
    append_log(run_dir, ctx, len(units), applied)
    if applied:
        _print(ctx.provider.type_name, applied)
    else:
        log.info("reconciled %d open units with provider %s: nothing to do", len(units), ctx.provider.type_name)
    return applied


def append_log(run_dir: Path, ctx: RunContext, checked: int, applied: list[Applied], phase: str = "start") -> None:
    """One line of the run's reconciliation.jsonl: when (`phase`: "start" or "during run"), what was checked and
    done."""
    line = {
        "at": utcnow().isoformat(timespec="seconds") + "Z",
        "phase": phase,
        "provider": ctx.provider.type_name,
        "open_units_checked": checked,
        "drifts": [
            {
                "kind": DriftKind(a.drift.kind).value,
                "unit_id": a.drift.unit_id,
                "provider_unit_id": a.drift.provider_unit_id,
                "worker_name": a.drift.worker_name,
                "action": a.action,
            }
            for a in applied
        ],
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / RECONCILIATION_LOG).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(line) + "\n")


def _print(provider: str, applied: list[Applied]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Reconciled with {provider}: {len(applied)} units disagreed", title_justify="left")
    for column in ("unit", "at the platform", "platform id", "done"):
        table.add_column(column)
    for a in applied:
        unit = "-" if a.drift.unit_id is None else str(a.drift.unit_id)
        table.add_row(unit, DriftKind(a.drift.kind).value.replace("_", " "), a.drift.provider_unit_id or "-", a.action)
    Console().print(table)
