"""Screening and gold units: choosing a worker's next gold unit, and grading screening and gold submissions.

Runs on the database writer thread inside the transaction of the submission it grades, so a grade and the
submission it belongs to are committed together. Every grade is stored as a `Review` record (kind screen_* or
gold_*), which is how review and export show it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

import peewee as pw

from mephisto_core.data_model import Agent, Assignment, Review, ReviewKind, Unit, UnitStatus, Worker
from mephisto_core.data_model.qualifications import granted_value
from mephisto_core.data_model.statuses import SUBMITTED_UNIT_STATUSES
from mephisto_core.operations.run import platform_grants
from mephisto_core.operations.run.run_context import RunContext
from mephisto_core.operations.run.worker_rules import GoldItem, wrong_answers

log = logging.getLogger(__name__)

GOLD_UNIT_INDEX = -2


@dataclasses.dataclass(frozen=True, slots=True)
class GoldStanding:
    """What decides a worker's next gold unit: the attempts of the run they were given (of any status) and the
    gold items they were given units of."""

    given: int = 0
    seen: frozenset[int] = frozenset()


def gold_standings(ctx: RunContext, worker_ids: Sequence[int]) -> dict[int, GoldStanding]:
    """Each worker's `GoldStanding` (those with no attempt left out), read for all at once in one statement."""
    if not worker_ids:
        return {}
    ids = list(worker_ids)
    given = (
        Agent.select(Agent.worker, pw.fn.COUNT(Agent.id), pw.SQL("NULL"))
        .where((Agent.task_run == ctx.run) & Agent.worker.in_(ids))
        .group_by(Agent.worker)
    )
    seen = (
        Unit.select(Unit.worker, pw.SQL("NULL"), Assignment.gold_index)
        .join(Assignment)
        # the task named too: (task, worker) is the index by worker (models.py)
        .where(
            (Unit.task == ctx.task)
            & (Unit.task_run == ctx.run)
            & Unit.worker.in_(ids)
            & Assignment.gold_index.is_null(False)
        )
    )
    counts: dict[int, int] = {}
    items: dict[int, set[int]] = {}
    for worker_id, count, index in given.union_all(seen).tuples():
        if index is None:
            counts[int(worker_id)] = int(count)
        else:
            items.setdefault(int(worker_id), set()).add(int(index))
    return {w: GoldStanding(counts.get(w, 0), frozenset(items.get(w, ()))) for w in {*counts, *items}}


def gold_due(ctx: RunContext, given: int) -> bool:
    """Whether a worker given `given` attempts of the run is due for a gold unit: their first unit, then every
    N-th (when the run has gold units)."""
    gold = ctx.config.task.gold
    return gold is not None and bool(ctx.rules.gold) and given % gold.every == 0


def due_gold_item(ctx: RunContext, standing: GoldStanding) -> GoldItem | None:
    """The gold unit a worker of this standing should get now (`gold_due`) that they have not seen, or None."""
    if not gold_due(ctx, standing.given):
        return None
    return next((item for item in ctx.rules.gold if item.index not in standing.seen), None)


def next_gold_item(ctx: RunContext, worker: Worker) -> GoldItem | None:
    """The gold unit this worker should get now, or None (`due_gold_item`)."""
    return due_gold_item(ctx, gold_standings(ctx, [worker.id]).get(worker.id, GoldStanding()))


def create_gold_unit(ctx: RunContext, worker: Worker, item: GoldItem) -> Unit:
    """A one-off assignment with one gold unit, already held by `worker` (gold units are never offered to others)."""
    assignment = Assignment.create(task_run=ctx.run, inputs=item.inputs, gold_index=item.index)
    unit: Unit = Unit.create(
        assignment=assignment,
        task_run=ctx.run,
        task=ctx.task,
        unit_index=GOLD_UNIT_INDEX,
        pay_amount=ctx.config.task.reward,
        status=UnitStatus.ASSIGNED.value,
        worker=worker,
    )
    return unit


def grade_submission(
    ctx: RunContext, unit: Unit, agent: Agent, inputs: dict[str, Any], outputs: dict[str, Any]
) -> None:
    """Grade a just-stored submission if it is a gold unit or one of the worker's screening units."""
    if unit.unit_index == GOLD_UNIT_INDEX:
        _grade_gold(ctx, unit, agent, outputs)
    elif ctx.rules.screening is not None and granted_value(agent.worker_id, ctx.screening_qualification) is None:
        _grade_screening(ctx, unit, agent, inputs, outputs)


def gold_grade(item: GoldItem, outputs: dict[str, Any]) -> tuple[ReviewKind, str]:
    """A gold submission's grade: its review's kind and feedback."""
    wrong = wrong_answers(item.answers, outputs)
    if wrong:
        return ReviewKind.GOLD_WRONG, f"wrong fields: {', '.join(wrong)}"
    return ReviewKind.GOLD_CORRECT, "all answers as expected"


def _grade_gold(ctx: RunContext, unit: Unit, agent: Agent, outputs: dict[str, Any]) -> None:
    item = ctx.rules.gold[Assignment.get_by_id(unit.assignment_id).gold_index]
    kind, detail = gold_grade(item, outputs)
    Review.create(kind=kind.value, unit=unit.id, worker=agent.worker_id, task=unit.task_id, feedback=detail)
    assert ctx.config.task.gold is not None
    wrong_count = (
        Review.select()
        .join(Unit, on=(Review.unit == Unit.id))
        .where(
            (Review.worker == agent.worker_id) & (Unit.task == ctx.task) & (Review.kind == ReviewKind.GOLD_WRONG.value)
        )
        .count()
    )
    if wrong_count > ctx.config.task.gold.max_wrong:
        platform_grants.grant(
            ctx, agent.worker_id, ctx.gold_failed_qualification, 1, f"Failed the gold checks of {ctx.task.name}"
        )


def _grade_screening(
    ctx: RunContext, unit: Unit, agent: Agent, inputs: dict[str, Any], outputs: dict[str, Any]
) -> None:
    assert ctx.rules.screening is not None and ctx.config.task.screening is not None
    try:
        passed = bool(ctx.rules.screening(inputs, outputs))
    except Exception as exc:
        # The researcher's validator failed: keep the submission and hold the worker (pending_check) until a
        # person grants or revokes the screening qualification. The review record is what holds them, and
        # what review shows; the log keeps the traceback.
        log.exception(
            "screening validator failed on unit %s of worker %s; they wait (pending_check) until you grant or "
            "revoke %s",
            unit.id,
            agent.worker_id,
            ctx.screening_qualification,
        )
        feedback = f"the screening validator raised {type(exc).__name__}: {exc}"[:2000]
        error = ReviewKind.SCREEN_ERROR.value
        Review.create(kind=error, unit=unit.id, worker=agent.worker_id, task=unit.task_id, feedback=feedback)
        return
    kind = ReviewKind.SCREEN_PASS if passed else ReviewKind.SCREEN_FAIL
    Review.create(kind=kind.value, unit=unit.id, worker=agent.worker_id, task=unit.task_id)
    description = f"Passed the screening of {ctx.task.name}"
    if not passed:
        platform_grants.grant(ctx, agent.worker_id, ctx.screening_qualification, 0, description)
        return
    if screening_units_done(ctx, agent.worker_id) >= ctx.config.task.screening.units and not _screening_failed_to_run(
        ctx, agent.worker_id
    ):
        platform_grants.grant(ctx, agent.worker_id, ctx.screening_qualification, 1, description)


def screening_pending(ctx: RunContext, worker_id: int) -> bool:
    """Whether an unscreened worker must wait for a person: all their screening units are in, or the
    validator raised on one of them (which no later pass outweighs)."""
    assert ctx.config.task.screening is not None
    if screening_units_done(ctx, worker_id) >= ctx.config.task.screening.units:
        return True
    return _screening_failed_to_run(ctx, worker_id)


def screening_pending_of(ctx: RunContext, worker_ids: Sequence[int]) -> set[int]:
    """Which of `worker_ids` wait for a person (`screening_pending`), read for all at once."""
    if not worker_ids:
        return set()
    asking = Worker.alias("asking")
    query = asking.select(asking.id, pending_column(ctx, asking.id)).where(asking.id.in_(list(worker_ids)))
    return {int(worker_id) for worker_id, pending in query.tuples() if pending}


def pending_column(ctx: RunContext, worker: Any) -> Any:
    """`screening_pending` of `worker` (a worker id column of an outer query), as a column."""
    assert ctx.config.task.screening is not None
    done = submitted_units(ctx, worker) >= ctx.config.task.screening.units
    return done | pw.fn.EXISTS(screening_errors(ctx, worker))


def _screening_failed_to_run(ctx: RunContext, worker_id: int) -> bool:
    return bool(screening_errors(ctx, worker_id).exists())


def screening_errors(ctx: RunContext, worker: Any) -> pw.Select:
    """The `screen_error` reviews of `worker` (an id, or a worker id column of an outer query) in this task."""
    return Review.select(pw.SQL("1")).where(
        (Review.worker == worker) & (Review.task == ctx.task) & (Review.kind == ReviewKind.SCREEN_ERROR.value)
    )


def screening_units_done(ctx: RunContext, worker_id: int) -> int:
    """How many of the worker's units in this task were submitted (their first ones are the screening units)."""
    return int(submitted_units(ctx, worker_id).scalar() or 0)


def submitted_units(ctx: RunContext, worker: Any) -> pw.Select:
    """The count of `worker`'s submitted units of this task (an id, or a worker id column of an outer query)."""
    return Unit.select(pw.fn.COUNT(Unit.id)).where(
        (Unit.task == ctx.task)
        & (Unit.worker == worker)
        & (Unit.unit_index >= 0)
        & Unit.status.in_([s.value for s in SUBMITTED_UNIT_STATUSES])
    )
