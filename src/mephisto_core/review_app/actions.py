"""The review app's POST endpoints: check the request, then call `ReviewActions` (the only writer).

Single actions answer the new state (the unit or the worker); a bulk action answers one result per unit, done
or refused with the reason, because one unit's refusal (say, already approved) must not stop the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from mephisto_core.data_model import ReviewKind, Unit, Worker
from mephisto_core.data_model.qualifications import BLOCK_QUALIFICATION
from mephisto_core.errors import MephistoError, NotFound
from mephisto_core.review_app import reads
from mephisto_core.review_app.validation import (
    ApiError,
    bad_request,
    check_fields,
    parse_amount,
    parse_client_key,
    parse_id,
    parse_id_list,
    parse_qualification,
    parse_qualification_value,
    parse_text,
)

if TYPE_CHECKING:
    from mephisto_core.abstractions.platform_sync import PlatformOutcome
    from mephisto_core.operations.review.worker_changes import WorkerChange
    from mephisto_core.review_app.app import ReviewApp

#: The fields each action's JSON body may have.
UNIT_ACTIONS: dict[str, set[str]] = {
    "approve": {"feedback"},
    "reject": {"feedback"},
    "soft-reject": {"feedback"},
    "bonus": {"amount", "reason", "client_key"},
}
WORKER_ACTIONS: dict[str, set[str]] = {
    "block": {"reason"},
    "unblock": set(),
    "grant": {"qualification", "value", "unit_id"},
    "revoke": {"qualification", "unit_id"},
}

#: the unit actions that are verdicts, and the word for each once done
_VERDICTS = {"approve": ReviewKind.APPROVE, "reject": ReviewKind.REJECT, "soft-reject": ReviewKind.SOFT_REJECT}
_DONE = {"approve": "approved", "reject": "rejected", "soft-reject": "soft-rejected"}


@dataclass(frozen=True)
class Action:
    """A checked action request: which action and its arguments."""

    kind: str
    feedback: str = ""
    amount: Decimal | None = None
    qualification: str = ""
    value: int = 1
    unit_id: int | None = None  # for grant / revoke: the unit the decision was made on
    client_key: str | None = None  # for bonus: made by the page per bonus asked, so a second press pays once

    @property
    def on_worker(self) -> bool:
        return self.kind in WORKER_ACTIONS


def parse_action(kind: str, body: dict[str, Any], *, extra: frozenset[str] = frozenset()) -> Action:
    """Check an action's body; `extra` names fields the caller handles itself (the bulk's `unit_ids`)."""
    if kind in UNIT_ACTIONS:
        check_fields(body, UNIT_ACTIONS[kind] | extra, kind)
    elif kind in WORKER_ACTIONS:
        allowed = WORKER_ACTIONS[kind] - {"unit_id"} if extra else WORKER_ACTIONS[kind]
        check_fields(body, allowed | extra, kind)
    else:
        known = ", ".join([*UNIT_ACTIONS, *WORKER_ACTIONS])
        raise bad_request(f"unknown action {kind!r}; known actions: {known}")
    if kind == "approve" or kind == "soft-reject":
        return Action(kind, feedback=parse_text(body, "feedback", required=False, what=""))
    if kind == "reject":
        why = "tell the worker why the work is rejected"
        return Action(kind, feedback=parse_text(body, "feedback", required=True, what=why))
    if kind == "bonus":
        amount = parse_amount(body.get("amount"))
        reason = parse_text(body, "reason", required=True, what="tell the worker what the bonus is for")
        return Action(kind, feedback=reason, amount=amount, client_key=parse_client_key(body.get("client_key")))
    if kind == "block":
        return Action(kind, feedback=parse_text(body, "reason", required=True, what="say why the worker is blocked"))
    if kind == "unblock":
        return Action(kind)
    unit_id = parse_id(body["unit_id"], "unit_id") if body.get("unit_id") is not None else None
    value = parse_qualification_value(body) if kind == "grant" else 1
    return Action(kind, qualification=parse_qualification(body), value=value, unit_id=unit_id)


def unit_action(app: ReviewApp, unit_id: int, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST /api/units/<id>/<action>: do it and answer the unit as it is now."""
    action = parse_action(kind, body)
    message = apply_unit_action(app, unit_id, action)
    return {"message": message, **reads.unit_detail(app, unit_id)}


def worker_action(app: ReviewApp, worker_id: int, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST /api/workers/<id>/<action>: do it and answer the worker as they are now."""
    action = parse_action(kind, body)
    worker = app.actions.worker(worker_id)
    message = apply_worker_action(app, worker, action)
    return {"message": message, "worker": reads.worker_detail(worker_id)}


def bulk(app: ReviewApp, body: dict[str, Any]) -> dict[str, Any]:
    """POST /api/units/bulk: one action on several units (worker actions once per distinct worker)."""
    kind = body.get("action")
    if not isinstance(kind, str):
        known = ", ".join([*UNIT_ACTIONS, *WORKER_ACTIONS])
        raise bad_request(f"action is required: one of {known}")
    action = parse_action(kind, body, extra=frozenset({"action", "unit_ids"}))
    unit_ids = parse_id_list(body.get("unit_ids"), "unit_ids")
    results = (
        _bulk_worker_action(app, unit_ids, action) if action.on_worker else _bulk_unit_action(app, unit_ids, action)
    )
    done = sum(1 for r in results if r["ok"])
    return {"action": kind, "done": done, "failed": len(results) - done, "results": results}


def apply_unit_action(app: ReviewApp, unit_id: int, action: Action) -> str:
    """Run one unit action through ReviewActions; returns the sentence the UI shows."""
    with app.action_lock:
        if action.kind in _VERDICTS:
            error = app.actions.decide_all([unit_id], _VERDICTS[action.kind], action.feedback)[0]
            if error is not None:
                raise error
            return f"Unit {unit_id} {_DONE[action.kind]}."
        if action.kind == "bonus":
            assert action.amount is not None  # parse_action requires it
            paid = app.actions.bonus(unit_id, action.amount, action.feedback, action.client_key)
            return _bonus_message(unit_id, action.amount, paid)
    raise AssertionError(f"not a unit action: {action.kind}")


def apply_worker_action(app: ReviewApp, worker: Worker, action: Action) -> str:
    """Run one worker action through ReviewActions; a block of a blocked worker (and the reverse) is a 409."""
    with app.action_lock:
        change, done = _worker_change(app, worker, action)
        result = app.actions.change_workers([change])[0]
    if isinstance(result, MephistoError):
        raise result
    return _with_platform(done, result)


def _worker_change(app: ReviewApp, worker: Worker, action: Action, unit_read: bool = False) -> tuple[WorkerChange, str]:
    """The action's change to `worker` (checked: 409 / 404 / 400 before any platform is told) and its sentence;
    `unit_read`: the action's unit was just read, so it exists."""
    if action.kind == "block":
        if app.actions.is_blocked(worker.id):
            raise ApiError(409, f"worker {worker.name!r} is already blocked")
        return app.actions.block_change(worker.id, action.feedback), f"Worker {worker.name} blocked."
    if action.kind == "unblock":
        if not app.actions.is_blocked(worker.id):
            raise ApiError(409, f"worker {worker.name!r} is not blocked")
        return app.actions.unblock_change(worker.id), f"Worker {worker.name} unblocked."
    if action.unit_id is not None and not unit_read and Unit.get_or_none(Unit.id == action.unit_id) is None:
        raise NotFound(f"unit {action.unit_id} does not exist")
    if action.kind == "grant":
        change = app.actions.grant_change(worker.id, action.qualification, action.value, action.unit_id)
        return change, f"Granted {action.qualification} = {action.value} to worker {worker.name}."
    if action.kind == "revoke":
        change = app.actions.revoke_change(worker.id, action.qualification, action.unit_id)
        return change, f"Revoked {action.qualification} from worker {worker.name}."
    raise AssertionError(f"not a worker action: {action.kind}")


def _bulk_unit_action(app: ReviewApp, unit_ids: list[int], action: Action) -> list[dict[str, Any]]:
    """One unit action on each unit; a verdict asks the platform for several units at once."""
    if action.kind in _VERDICTS:
        with app.action_lock:
            decided = app.actions.decide_all(unit_ids, _VERDICTS[action.kind], action.feedback)
        refusals = [None if error is None else str(error) for error in decided]
        messages = {unit_id: f"Unit {unit_id} {_DONE[action.kind]}." for unit_id in unit_ids}
    else:
        assert action.kind == "bonus" and action.amount is not None  # parse_action requires it
        with app.action_lock:
            paid = app.actions.bonus_all(unit_ids, action.amount, action.feedback, action.client_key)
        refusals = [str(outcome) if isinstance(outcome, MephistoError) else None for outcome in paid]
        amount = action.amount
        messages = {
            unit_id: _bonus_message(unit_id, amount, outcome is True)
            for unit_id, outcome in zip(unit_ids, paid, strict=True)
        }
    done = [unit_id for unit_id, refusal in zip(unit_ids, refusals, strict=True) if refusal is None]
    statuses = dict(Unit.select(Unit.id, Unit.status).where(Unit.id.in_(done)).tuples()) if done else {}
    return [
        {"unit_id": unit_id, "ok": True, "status": statuses.get(unit_id), "message": messages[unit_id]}
        if refusal is None
        else {"unit_id": unit_id, "ok": False, "error": refusal}
        for unit_id, refusal in zip(unit_ids, refusals, strict=True)
    ]


def _bulk_worker_action(app: ReviewApp, unit_ids: list[int], action: Action) -> list[dict[str, Any]]:
    """Apply a worker action once per distinct worker of the units, several workers' platforms told at once; each
    unit reports its worker's outcome."""
    workers = dict(Unit.select(Unit.id, Unit.worker).where(Unit.id.in_(unit_ids)).tuples())
    outcome: dict[int, dict[str, Any]] = {}
    changes: list[tuple[int, WorkerChange, str]] = []
    worker_ids = list(dict.fromkeys(worker_id for worker_id in workers.values() if worker_id is not None))
    checked = (action.qualification,) if action.kind == "revoke" else (BLOCK_QUALIFICATION,)
    with app.action_lock, app.actions.workers_read_together(worker_ids, checked):
        for unit_id in unit_ids:
            worker_id = workers.get(unit_id)
            if worker_id is None or worker_id in outcome:
                continue
            # The decision is recorded against the first selected unit of this worker (which exists: read above).
            on_unit = Action(action.kind, action.feedback, action.amount, action.qualification, action.value, unit_id)
            try:
                change, done = _worker_change(app, app.actions.worker(worker_id), on_unit, unit_read=True)
            except (MephistoError, ApiError) as exc:
                outcome[worker_id] = {"ok": False, "error": _message(exc)}
                continue
            outcome[worker_id] = {}
            changes.append((worker_id, change, done))
        results = app.actions.change_workers([change for _, change, _ in changes])
    for (worker_id, _, done), result in zip(changes, results, strict=True):
        if isinstance(result, MephistoError):
            outcome[worker_id] = {"ok": False, "error": str(result)}
        else:
            outcome[worker_id] = {"ok": True, "message": _with_platform(done, result)}
    answers = []
    for unit_id in unit_ids:
        if unit_id not in workers:
            answers.append({"unit_id": unit_id, "ok": False, "error": f"unit {unit_id} does not exist"})
        elif workers[unit_id] is None:
            answers.append({"unit_id": unit_id, "ok": False, "error": f"unit {unit_id} has no worker yet"})
        else:
            answers.append({"unit_id": unit_id, "worker_db_id": workers[unit_id], **outcome[workers[unit_id]]})
    return answers


def _bonus_message(unit_id: int, amount: Decimal, paid_now: bool) -> str:
    if not paid_now:
        return f"Bonus of {amount} for unit {unit_id} was paid already; nothing more was paid."
    return f"Bonus of {amount} paid for unit {unit_id}."


def _with_platform(done: str, outcomes: list[PlatformOutcome]) -> str:
    """The answer's message: what was done, then what each provider's platform did (never left unsaid)."""
    return " ".join([done, *(f"Platform: {outcome.sentence()}" for outcome in outcomes)])


def _message(exc: MephistoError | ApiError) -> str:
    return exc.message if isinstance(exc, ApiError) else str(exc)
