"""The task file's `[[task.quality_rules]]`: acting on a worker by their gold accuracy or their agreement.

After each stored submission (not on its acknowledgement's path: the client IO spawns `after_submit` once the
worker has their answer), the rules are evaluated on the database writer thread:

- a graded gold unit re-scores its worker's gold accuracy (gold_correct / graded gold units of the task);
- a submission that completes its assignment (no unit of it still open, at least two answers) re-scores the
  agreement of every worker of that assignment: over the complete assignments of the task they answered, the
  share of (their answer, another worker's answer) comparisons, field by field, that are equal.

A rule whose count reached `after` and whose score is below `below` fires once per worker and task: its local
effect (the grant, revoke or block), a review record with the rule as reviewer, and a `RuleAction` row commit
together, so the worker's next hello is refused or admitted by it. The provider is then told off the writer
thread through the run's `ProviderCalls`, as the run's other automatic grants are (platform_grants.py), and the
outcome is stored on the row and as a `platform` review record. `undo` lifts an action through the review
actions, i.e. the provider first, as a person's own unblock or revoke.
"""

from __future__ import annotations

import json
import logging
import re
import weakref
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import peewee as pw

from mephisto_core.abstractions.platform_sync import PlatformOutcome
from mephisto_core.abstractions.quality_rule_args import QualityRule
from mephisto_core.data_model import Agent, Qualification, Review, ReviewKind, Unit, Worker
from mephisto_core.data_model.models import utcnow
from mephisto_core.data_model.qualifications import (
    BLOCK_QUALIFICATION,
    grant_qualification,
    granted_value,
    revoke_qualification,
    task_blocked_qualification,
)
from mephisto_core.data_model.rule_actions import RuleAction
from mephisto_core.data_model.statuses import INCOMPLETE_UNIT_STATUSES
from mephisto_core.errors import ConfigError, MephistoError, NotFound
from mephisto_core.operations.review import platform_push
from mephisto_core.operations.run import platform_grants

if TYPE_CHECKING:
    from mephisto_core.operations.provider_calls import ProviderCalls
    from mephisto_core.operations.review.actions import ReviewActions
    from mephisto_core.operations.run.db_writer import DatabaseWriter
    from mephisto_core.operations.run.run_context import RunContext
    from mephisto_core.task_config import TaskConfig

log = logging.getLogger(__name__)

GOLD_UNIT_INDEX = -2  # quality_checks.GOLD_UNIT_INDEX (not imported: that module imports the worker pool's rules)
_REVIEW_KIND = {"grant": ReviewKind.GRANT, "revoke": ReviewKind.REVOKE, "block_task": ReviewKind.GRANT}
_PROVIDER_METHOD = {
    "grant": "grant_qualification",
    "revoke": "revoke_qualification",
    "block_task": "block_worker_for_task",
    "block": "block_worker",
}


def reviewer(rule_name: str) -> str:
    """The `reviewer` of every record a rule makes."""
    return f"rule {rule_name}"


# ---- check time ---------------------------------------------------------------------------------------------


def check_rules(config: TaskConfig) -> None:
    """Refuse rules that could never fire on this task (ConfigError naming the rule's table and its line)."""
    task = config.task
    seen: set[str] = set()
    for index, rule in enumerate(task.quality_rules):
        problem = None
        if rule.name in seen:
            problem = f"a second rule is named {rule.name!r}: rule names are recorded with what they did, so unique"
        elif rule.measure == "gold" and task.gold is None:
            problem = "measure 'gold' needs gold units: add a [task.gold] table, or use measure 'agreement'"
        elif rule.measure == "agreement" and task.units_per_assignment < 2:
            problem = (
                f"measure 'agreement' compares the workers of one assignment, but units_per_assignment is "
                f"{task.units_per_assignment}: set it to 2 or more"
            )
        seen.add(rule.name)
        if problem is not None:
            raise ConfigError(
                f"quality rule {rule.name!r}: {problem}",
                file=config.path,
                key=f"task.quality_rules[{index}]",
                line=_table_line(config.path, index),
            )


def _table_line(path: Path, index: int) -> int | None:
    """The line of the `index`-th `[[task.quality_rules]]` header (best effort)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    header = re.compile(r"^\s*\[\[\s*task\.quality_rules\s*\]\]")
    found = [number for number, line in enumerate(lines, start=1) if header.match(line)]
    if not found:  # `quality_rules = [ {...}, {...} ]` under [task], one table a line
        key = re.compile(r"^\s*quality_rules\s*=")
        start = next((number for number, line in enumerate(lines, start=1) if key.match(line)), None)
        if start is None:
            return None
        found = [start] if "{" in lines[start - 1] else []
        found += [n for n, line in enumerate(lines[start:], start=start + 1) if line.lstrip().startswith("{")]
    return found[index] if index < len(found) else None


# ---- scores (writer thread) ---------------------------------------------------------------------------------


def gold_score(task_id: int, worker_id: int) -> tuple[float, int]:
    """(share of the worker's graded gold units answered as expected, how many were graded) in a task."""
    kinds = (ReviewKind.GOLD_CORRECT.value, ReviewKind.GOLD_WRONG.value)
    graded = list(
        Review.select(Review.kind)
        .where((Review.worker == worker_id) & (Review.task == task_id) & Review.kind.in_(kinds))
        .tuples()
    )
    if not graded:
        return 1.0, 0
    correct = sum(1 for (kind,) in graded if kind == ReviewKind.GOLD_CORRECT.value)
    return correct / len(graded), len(graded)


@dataclass(slots=True)
class AgreementTally:
    """A worker's running agreement: equal comparisons, all comparisons, the complete assignments counted."""

    same: int = 0
    compared: int = 0
    assignments: set[int] = field(default_factory=set)

    @property
    def score(self) -> float:
        return self.same / self.compared if self.compared else 1.0


def agreement_score(task_id: int, worker_id: int, fields: Sequence[str]) -> tuple[float, int]:
    """(share of equal answers against the other workers of the same assignments, complete assignments counted).

    Compared field by field: `fields`, or every field both answers have. Values are equal when their JSON
    texts (keys sorted) are. Reads the worker's whole history in the task (see `AgreementTallies`).
    """
    tally = agreement_tally(worker_id, _assignments_of(task_id, worker_id), fields)
    return tally.score, len(tally.assignments)


def _assignments_of(task_id: int, worker_id: int) -> list[int]:
    query = Unit.select(Unit.assignment).where(
        (Unit.task == task_id) & (Unit.worker == worker_id) & (Unit.unit_index >= 0)
    )
    return [a for (a,) in query.tuples()]


def agreement_tally(
    worker_id: int, assignment_ids: Sequence[int], fields: Sequence[str], into: AgreementTally | None = None
) -> AgreementTally:
    """Add the worker's comparisons on the complete ones of `assignment_ids` to `into` (or a new tally)."""
    tally = into if into is not None else AgreementTally()
    answers: dict[int, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    open_assignments: set[int] = set()
    rows = (
        Unit.select(Unit.assignment, Unit.status, Agent.worker, Agent.outputs)
        .join(Agent, pw.JOIN.LEFT_OUTER, on=(Agent.unit == Unit.id) & Agent.submit_key.is_null(False))
        .where(Unit.assignment.in_(list(assignment_ids)) & (Unit.unit_index >= 0))
        .tuples()
    )
    incomplete = {s.value for s in INCOMPLETE_UNIT_STATUSES}
    for assignment_id, status, agent_worker, outputs in rows:
        if status in incomplete:
            open_assignments.add(assignment_id)
        elif agent_worker is not None and isinstance(outputs, dict):
            answers[assignment_id].append((agent_worker, outputs))
    for assignment_id, given in answers.items():
        if assignment_id in open_assignments or assignment_id in tally.assignments:
            continue
        own = [outputs for who, outputs in given if who == worker_id]
        others = [outputs for who, outputs in given if who != worker_id]
        if not own or not others:
            continue
        before = tally.compared
        for other in others:
            keys = fields or sorted(own[0].keys() & other.keys())
            for key in keys:
                tally.compared += 1
                tally.same += _canonical(own[0].get(key)) == _canonical(other.get(key))
        if tally.compared > before:
            tally.assignments.add(assignment_id)
    return tally


class AgreementTallies:
    """Each worker's running agreement in one run, kept by the process that serves it (writer thread only).

    The first time a worker's assignment completes here, their whole history in the task is read once; after
    that only the newly complete assignment is, so a worker with 1,000 assignments costs the writer one
    assignment's rows, not 1,000 (a full read took about 36 ms at that depth on SQLite). With several operator
    processes serving one run, each counts the assignments it saw complete plus the history it read first.
    """

    def __init__(self) -> None:
        self._tallies: dict[tuple[int, tuple[str, ...]], AgreementTally] = {}

    def update(self, task_id: int, worker_id: int, fields: Sequence[str], completed: int) -> AgreementTally:
        key = (worker_id, tuple(fields))
        tally = self._tallies.get(key)
        if tally is None:
            tally = self._tallies[key] = agreement_tally(worker_id, _assignments_of(task_id, worker_id), fields)
        elif completed not in tally.assignments:
            agreement_tally(worker_id, [completed], fields, into=tally)
        return tally


#: per running RunContext (by id, with a weak reference to tell a reused id apart)
_run_tallies: dict[int, tuple[weakref.ref[RunContext], AgreementTallies]] = {}


def _tallies_for(ctx: RunContext) -> AgreementTallies:
    found = _run_tallies.get(id(ctx))
    if found is not None and found[0]() is ctx:
        return found[1]
    for stale in [k for k, (ref, _) in _run_tallies.items() if ref() is None]:
        del _run_tallies[stale]
    tallies = AgreementTallies()
    _run_tallies[id(ctx)] = (weakref.ref(ctx), tallies)
    return tallies


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


# ---- firing (writer thread) ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fired:
    """A committed rule action the provider is still to be told about."""

    action_id: int
    worker: Worker
    action: str
    qualification: str
    qualification_id: int | None
    value: int | None
    reason: str
    rule: str


def evaluate(ctx: RunContext, agent_id: int) -> list[Fired]:
    """Score what the stored submission of `agent_id` changed and fire the rules that now apply."""
    rules = ctx.config.task.quality_rules
    agent = Agent.get_by_id(agent_id)
    unit = Unit.get_by_id(agent.unit_id)
    task_id = ctx.task.id
    fired: list[Fired] = []
    if unit.unit_index == GOLD_UNIT_INDEX:
        gold_rules = [r for r in rules if r.measure == "gold"]
        if gold_rules:
            score, counted = gold_score(task_id, agent.worker_id)
            for rule in gold_rules:
                fired.extend(_consider(ctx, rule, agent.worker_id, score, counted))
        return fired
    agreement_rules = [r for r in rules if r.measure == "agreement"]
    if not agreement_rules or unit.unit_index < 0 or not _assignment_complete(unit.assignment_id):
        return fired
    workers = [
        w for (w,) in Unit.select(Unit.worker).where(Unit.assignment == unit.assignment_id).distinct().tuples() if w
    ]
    tallies = _tallies_for(ctx)
    for worker_id in sorted(workers):
        for rule in agreement_rules:
            tally = tallies.update(task_id, worker_id, rule.fields, unit.assignment_id)
            fired.extend(_consider(ctx, rule, worker_id, tally.score, len(tally.assignments)))
    return fired


def _assignment_complete(assignment_id: int) -> bool:
    statuses = [s for (s,) in Unit.select(Unit.status).where(Unit.assignment == assignment_id).tuples()]
    incomplete = {s.value for s in INCOMPLETE_UNIT_STATUSES}
    return len(statuses) >= 2 and not any(s in incomplete for s in statuses)


def _consider(ctx: RunContext, rule: QualityRule, worker_id: int, score: float, counted: int) -> list[Fired]:
    if counted < rule.after or score >= rule.below:
        return []
    task = ctx.task
    exists = RuleAction.select().where(
        (RuleAction.task == task.id) & (RuleAction.rule == rule.name) & (RuleAction.worker == worker_id)
    )
    if exists.exists():
        return []  # a rule acts once per worker; an undone action stays undone
    what = "gold accuracy" if rule.measure == "gold" else "agreement with the other workers"
    unit_word = "gold units" if rule.measure == "gold" else "complete assignments"
    reason = f"quality rule {rule.name!r}: {what} {score:.0%} below {rule.below:.0%} after {counted} {unit_word}"
    name = _qualification_of(rule, task.name)
    previous = granted_value(worker_id, name)
    value: int | None = None
    if rule.action == "revoke":
        revoke_qualification(worker_id, name)
    else:
        value = rule.value if rule.action == "grant" else 1
        grant_qualification(worker_id, name, value, description=reason if rule.action != "grant" else "")
    qualification = Qualification.get_or_none(Qualification.name == name)
    kind = _REVIEW_KIND.get(rule.action, ReviewKind.BLOCK)
    Review.create(
        kind=kind.value,
        worker=worker_id,
        task=task.id,
        qualification=qualification.id if qualification is not None and kind != ReviewKind.BLOCK else None,
        qualification_value=value if kind == ReviewKind.GRANT else None,
        feedback=reason,
        reviewer=reviewer(rule.name),
    )
    row = RuleAction.create(
        task=task.id,
        task_run=ctx.run.id,
        worker=worker_id,
        rule=rule.name,
        measure=rule.measure,
        score=score,
        counted=counted,
        action=rule.action,
        qualification=name,
        value=value,
        previous_value=previous,
        detail=reason,
    )
    log.info("%s: %s for worker %s", reason, rule.action, worker_id)
    worker = Worker.get_by_id(worker_id)
    qualification_id = qualification.id if qualification is not None else None
    return [Fired(row.id, worker, rule.action, name, qualification_id, value, reason, rule.name)]


def _qualification_of(rule: QualityRule, task_name: str) -> str:
    if rule.action == "block":
        return BLOCK_QUALIFICATION
    if rule.action == "block_task":
        return task_blocked_qualification(task_name)
    assert rule.qualification is not None  # the model refuses grant/revoke without one
    return rule.qualification


# ---- the provider (event loop) ------------------------------------------------------------------------------


async def after_submit(ctx: RunContext, writer: DatabaseWriter, calls: ProviderCalls | None, agent_id: int) -> None:
    """Evaluate the rules for a stored submission, then tell the provider what fired; never raises."""
    try:
        fired = await writer.call(evaluate, ctx, agent_id)
    except Exception:
        log.exception("quality rules could not be evaluated for agent %s (the next submission tries again)", agent_id)
        return
    for item in fired:
        await _tell_provider(ctx, writer, calls, item)


async def _tell_provider(ctx: RunContext, writer: DatabaseWriter, calls: ProviderCalls | None, item: Fired) -> None:
    provider = ctx.provider
    method_name = _PROVIDER_METHOD[item.action]
    args: tuple[Any, ...] = {
        "grant": (item.worker, item.qualification, item.value),
        "revoke": (item.worker, item.qualification),
        "block_task": (item.worker, ctx.task.name, item.reason),
        "block": (item.worker, item.reason),
    }[item.action]
    action = f"{item.action} {item.qualification}" + (f"={item.value}" if item.action == "grant" else "")
    outcome = await platform_grants.tell_provider(provider, calls, method_name, action, item.worker.id, *args)
    try:
        await writer.call(_record_outcome, item, outcome)
    except Exception:
        log.exception("could not record the platform outcome of %s for worker %s", action, item.worker.id)


def _record_outcome(item: Fired, outcome: PlatformOutcome) -> None:
    platform_push.record([outcome], item.worker.id, reviewer(item.rule), item.qualification_id)
    RuleAction.update(platform_status=outcome.status, platform_detail=outcome.detail or "").where(
        RuleAction.id == item.action_id
    ).execute()


# ---- listing and undo (commands and the review app) ---------------------------------------------------------


def action_rows(task_name: str | None = None, worker_id: int | None = None) -> list[dict[str, Any]]:
    """Every rule action (newest first), as plain dicts for the CLI, JSON and the review app."""
    from mephisto_core.data_model import Task

    query = RuleAction.select(RuleAction, Task.name, Worker.name).join(Task).switch(RuleAction).join(Worker)
    if task_name is not None:
        query = query.where(Task.name == task_name)
    if worker_id is not None:
        query = query.where(RuleAction.worker == worker_id)
    return [
        {
            "id": row.id,
            "task": row.task.name,
            "worker": row.worker.name,
            "worker_id": row.worker_id,
            "rule": row.rule,
            "action": row.action,
            "qualification": row.qualification,
            "score": round(row.score, 4),
            "counted": row.counted,
            "platform": row.platform_status,
            "at": row.created_at.isoformat(timespec="seconds"),
            "undone": row.undone_at.isoformat(timespec="seconds") if row.undone_at else None,
            "detail": row.detail,
        }
        for row in query.order_by(RuleAction.id.desc())
    ]


def undo(actions: ReviewActions, action_id: int) -> list[PlatformOutcome]:
    """Lift what a rule did (the provider first, as a person's own unblock or revoke) and mark it undone."""
    row = RuleAction.get_or_none(RuleAction.id == action_id)
    if row is None:
        raise NotFound(f"no quality rule action has id {action_id} (`mephisto quality actions` lists them)")
    if row.undone_at is not None:
        raise MephistoError(f"quality rule action {action_id} was undone already ({row.undone_at:%Y-%m-%d %H:%M})")
    worker_id, previous = row.worker_id, row.previous_value
    outcomes: list[PlatformOutcome] = []
    if row.action == "block":
        if previous is None:
            outcomes = actions.unblock_worker(worker_id)
    elif row.action == "block_task":
        if previous is None:
            outcomes = actions.unblock_worker_for_task(worker_id, row.task.name)
    elif previous is not None:  # grant or revoke: give the value back
        if granted_value(worker_id, row.qualification) != previous:
            outcomes = actions.grant_qualification(worker_id, row.qualification, previous)
    elif row.action == "grant" and granted_value(worker_id, row.qualification) is not None:
        outcomes = actions.revoke_qualification(worker_id, row.qualification)
    with actions.database.write():
        RuleAction.update(undone_at=utcnow(), undone_by=actions.reviewer or "unknown").where(
            RuleAction.id == action_id
        ).execute()
    return outcomes
