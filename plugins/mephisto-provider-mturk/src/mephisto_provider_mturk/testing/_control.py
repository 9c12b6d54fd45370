"""The fake's own control endpoints (`/_fake/...`) for a fake running in another process.

A test that starts `python -m mephisto_provider_mturk.testing.fake_server` drives the workers'
side and the clock over HTTP with these; a fake hosted in the test process is driven through
`FakeMTurk`'s methods instead. Bodies and answers are JSON. There is no authentication: the fake
listens on 127.0.0.1 for tests only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._state import money
from ._worker_side import WorkerActionRefused

CONTROL_PREFIX = "/_fake/"
Action = Callable[[Any, dict[str, Any]], dict[str, Any]]


def _accept(fake: Any, body: dict[str, Any]) -> dict[str, Any]:
    visit = fake.accept(body["hitId"], body["workerId"])
    return {
        "assignmentId": visit.assignment_id,
        "hitId": visit.hit_id,
        "workerId": visit.worker_id,
        "url": visit.url,
    }


def _state(fake: Any, body: dict[str, Any]) -> dict[str, Any]:
    snap = fake.snapshot()
    return {
        "now": snap.now,
        "balances": {key: money(value) for key, value in snap.balances.items()},
        "hits": {
            hit_id: {
                "status": snap.hit_statuses[hit_id],
                "maxAssignments": hit.max_assignments,
                "annotation": hit.annotation,
            }
            for hit_id, hit in snap.hits.items()
        },
        "assignments": {
            a.assignment_id: {"hitId": a.hit_id, "workerId": a.worker_id, "state": a.state.value}
            for a in snap.assignments.values()
        },
        "bonuses": [
            {"workerId": b.worker_id, "assignmentId": b.assignment_id, "amount": money(b.amount)} for b in snap.bonuses
        ],
        "blocks": [{"owner": owner, "workerId": worker} for owner, worker in snap.blocks],
        "requests": [{"operation": r.operation, "error": r.error} for r in snap.requests],
    }


ACTIONS: dict[str, Action] = {
    "accept": _accept,
    "preview_url": lambda fake, body: {"url": fake.preview_url(body["hitId"])},
    "return": lambda fake, body: fake.return_assignment(body["assignmentId"]) or {},
    "abandon": lambda fake, body: fake.abandon(body["assignmentId"]) or {},
    "submit": lambda fake, body: fake.submit(body["assignmentId"], body.get("answers", {})) or {},
    "advance": lambda fake, body: fake.advance(float(body["seconds"])) or {"now": fake.now()},
    "set_worker": lambda fake, body: fake.set_worker(**body) or {},
    "add_account": lambda fake, body: fake.add_account(**body) or {},
    "set_latency": lambda fake, body: fake.set_latency(float(body["seconds"])) or {},
    "fail_next": lambda fake, body: fake.fail_next(**body) or {},
    "state": _state,
}


def run_control(fake: Any, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Run the control action the path names; (HTTP status, JSON answer)."""
    name = path.removeprefix(CONTROL_PREFIX)
    action = ACTIONS.get(name)
    if action is None:
        return 404, {"error": f"unknown control action {name!r}; known: {', '.join(sorted(ACTIONS))}"}
    try:
        return 200, action(fake, body)
    except WorkerActionRefused as refused:
        return 409, {"error": str(refused)}
    except (KeyError, TypeError, ValueError) as bad:
        return 400, {"error": f"bad {name} request: {bad!r}"}
