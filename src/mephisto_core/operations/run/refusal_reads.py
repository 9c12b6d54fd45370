"""What a batch of hellos needs to be refused together while a run offers nothing (`HelloGroup.refusals`), read for
all its workers in one statement: at a run's end every worker still asking says hello again, and at a remote
database each statement is a round trip of the writer's, which the run's last submissions wait behind."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from typing import Any

import peewee as pw

from mephisto_core.data_model import Agent, AgentStatus, GrantedQualification, Qualification, Unit, Worker
from mephisto_core.data_model.pool_sql_many import LIMITED_STATUSES
from mephisto_core.operations.run.quality_checks import pending_column
from mephisto_core.operations.run.run_context import RunContext


@dataclasses.dataclass
class RefusalStandings:
    """Of a batch's workers: those whose standing decides their hello (`holding`), their units so far as the
    per-worker limit counts them and their grants of the qualifications judged for the batch (workers with none
    left out of both); in a run with screening, those whose check waits for a person (`screening_pending`)."""

    holding: set[int] = dataclasses.field(default_factory=set)
    units: dict[int, int] = dataclasses.field(default_factory=dict)
    grants: dict[int, dict[str, int]] = dataclasses.field(default_factory=dict)
    screening_pending: set[int] = dataclasses.field(default_factory=set)


def refusal_standings(
    ctx: RunContext,
    checked_names: Collection[str],
    worker_ids: Sequence[int],
    count_units: bool = False,
    judged: Collection[str] = (),
    screening_units: int | None = None,
) -> RefusalStandings:
    """`RefusalStandings` of `worker_ids` in one statement: holding means an agent in task in this run or a grant
    of one of `checked_names` (the qualifications the run checks) other than the `judged` ones, whose values are
    read instead (the run's requirements); with `count_units`, the units of the task each holds or submitted,
    through the unit's (task, worker) index; with `screening_units` (the run's screening of that many first
    units), whether each one's check waits for a person as `quality_checks.screening_pending` reads it: all of
    their screening units submitted, or a validator that raised on one."""
    standings = RefusalStandings()
    if not worker_ids:
        return standings
    asking = Worker.alias("asking")
    # The unary plus keeps SQLite on the agent's (worker, status) index: through (task_run, status) each worker's
    # lookup walked the run's agents in task (thousands at a run's end of 5,000 workers: 0.6 s per batch).
    run = pw.NodeList((pw.SQL("+"), Agent.task_run), glue="")
    held = Agent.select(pw.SQL("1")).where(
        (run == ctx.run.id) & (Agent.status == AgentStatus.IN_TASK.value) & (Agent.worker == asking.id)
    )
    deciding = [name for name in checked_names if name not in judged]
    granted = (
        GrantedQualification.select(pw.SQL("1"))
        .join(Qualification)
        .where(Qualification.name.in_(deciding) & (GrantedQualification.worker == asking.id))
    )
    columns: list[Any] = [asking.id, pw.fn.EXISTS(held) | pw.fn.EXISTS(granted)]
    columns.append(
        Unit.select(pw.fn.COUNT(Unit.id)).where(
            (Unit.task == ctx.task) & (Unit.worker == asking.id) & Unit.status.in_(LIMITED_STATUSES)
        )
        if count_units
        else pw.SQL("0")
    )
    if screening_units is not None:  # quality_checks.screening_pending's two reads, for each worker
        columns.append(pending_column(ctx, asking.id))
    else:
        columns.append(pw.SQL("0"))
    query = asking.select(*columns)
    if judged:  # a row per judged grant (or one with NULLs for a worker who has none)
        grant, qualification = GrantedQualification.alias("judged_grant"), Qualification.alias("judged")
        ids = Qualification.select(Qualification.id).where(Qualification.name.in_(list(judged)))
        query = (
            asking.select(*columns, qualification.name, grant.value)
            .join(grant, pw.JOIN.LEFT_OUTER, on=(grant.worker == asking.id) & grant.qualification.in_(ids))
            .join(qualification, pw.JOIN.LEFT_OUTER, on=qualification.id == grant.qualification)
        )
    for worker_id, holds, done, pending, *judged_grant in query.where(asking.id.in_(list(worker_ids))).tuples():
        worker_id = int(worker_id)
        if holds:
            standings.holding.add(worker_id)
        if pending:
            standings.screening_pending.add(worker_id)
        if done:
            standings.units[worker_id] = int(done)
        if judged_grant and judged_grant[0] is not None:
            standings.grants.setdefault(worker_id, {})[str(judged_grant[0])] = int(judged_grant[1])
    return standings
