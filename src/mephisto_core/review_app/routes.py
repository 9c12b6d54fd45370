"""The JSON API's routes: method, path pattern, accepted query parameters and the function that answers.

A handler gets the app and the parsed request and returns a JSON-ready dict, or a `RecordedFile` to send.
Path segments that should be ids match anything, so `/api/units/abc` gets a 400 naming the bad id instead
of a puzzling 404.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mephisto_core.review_app import actions, quality_panel, reads
from mephisto_core.review_app.files import RecordedFile, recorded_file
from mephisto_core.review_app.validation import ApiError, bad_request, parse_id, parse_index

if TYPE_CHECKING:
    from mephisto_core.review_app.app import ReviewApp


@dataclass(frozen=True)
class Request:
    """What a handler sees: the path's named parts, the query parameters and the JSON body (POST)."""

    method: str
    path: str
    parts: dict[str, str]
    params: dict[str, str]
    body: dict[str, Any] = field(default_factory=dict)


Handler = Callable[["ReviewApp", Request], "dict[str, Any] | RecordedFile"]


@dataclass(frozen=True)
class Route:
    """One endpoint."""

    method: str
    pattern: re.Pattern[str]
    handler: Handler
    params: frozenset[str] = frozenset()


def _session(app: ReviewApp, req: Request) -> dict[str, Any]:
    return reads.session_info(app)


def _tasks(app: ReviewApp, req: Request) -> dict[str, Any]:
    return reads.task_list(app)


def _task(app: ReviewApp, req: Request) -> dict[str, Any]:
    return reads.task_detail(app, parse_id(req.parts["task_id"], "task id"))


def _agreement(app: ReviewApp, req: Request) -> dict[str, Any]:
    return reads.agreement(app, parse_id(req.parts["task_id"], "task id"))


def _units(app: ReviewApp, req: Request) -> dict[str, Any]:
    return reads.unit_page(app, req.params)


def _unit_ids(app: ReviewApp, req: Request) -> dict[str, Any]:
    return reads.matching_unit_ids(app, req.params)


def _unit(app: ReviewApp, req: Request) -> dict[str, Any]:
    return reads.unit_detail(app, parse_id(req.parts["unit_id"], "unit id"))


def _file(app: ReviewApp, req: Request) -> RecordedFile:
    unit_id = parse_id(req.parts["unit_id"], "unit id")
    return recorded_file(app, unit_id, parse_index(req.parts["file"], "file number"))


def _worker(app: ReviewApp, req: Request) -> dict[str, Any]:
    return reads.worker_detail(parse_id(req.parts["worker_id"], "worker id"))


def _qualifications(app: ReviewApp, req: Request) -> dict[str, Any]:
    return reads.qualification_list()


def _unit_action(app: ReviewApp, req: Request) -> dict[str, Any]:
    unit_id = parse_id(req.parts["unit_id"], "unit id")
    action = req.parts["action"]
    if action not in actions.UNIT_ACTIONS:
        raise ApiError(404, f"no unit action {action!r}; unit actions: {', '.join(actions.UNIT_ACTIONS)}")
    return actions.unit_action(app, unit_id, action, req.body)


def _worker_action(app: ReviewApp, req: Request) -> dict[str, Any]:
    worker_id = parse_id(req.parts["worker_id"], "worker id")
    action = req.parts["action"]
    if action not in actions.WORKER_ACTIONS:
        raise ApiError(404, f"no worker action {action!r}; worker actions: {', '.join(actions.WORKER_ACTIONS)}")
    return actions.worker_action(app, worker_id, action, req.body)


def _bulk(app: ReviewApp, req: Request) -> dict[str, Any]:
    return actions.bulk(app, req.body)


def _rule_actions(app: ReviewApp, req: Request) -> dict[str, Any]:
    return quality_panel.rule_actions(app, req.params)


def _undo_rule_action(app: ReviewApp, req: Request) -> dict[str, Any]:
    return quality_panel.undo_rule_action(app, req.parts["action_id"])


def _live(app: ReviewApp, req: Request) -> dict[str, Any]:
    return quality_panel.live_numbers(app)


_SEG = r"[^/]+"


def _route(method: str, path: str, handler: Handler, params: tuple[str, ...] = ()) -> Route:
    pattern = re.sub(r"<(\w+)>", lambda m: f"(?P<{m.group(1)}>{_SEG})", path)
    return Route(method, re.compile(pattern), handler, frozenset(params))


ROUTES: tuple[Route, ...] = (
    _route("GET", "/api/session", _session),
    _route("GET", "/api/tasks", _tasks),
    _route("GET", "/api/tasks/<task_id>", _task),
    _route("GET", "/api/tasks/<task_id>/agreement", _agreement),
    _route("GET", "/api/units", _units, ("task", "run", "worker", "status", "offset", "limit")),
    _route("POST", "/api/units/bulk", _bulk),
    _route("GET", "/api/units/ids", _unit_ids, ("task", "run", "worker", "status")),
    _route("GET", "/api/units/<unit_id>", _unit),
    _route("GET", "/api/units/<unit_id>/files/<file>", _file),
    _route("POST", "/api/units/<unit_id>/<action>", _unit_action),
    _route("GET", "/api/workers/<worker_id>", _worker),
    _route("POST", "/api/workers/<worker_id>/<action>", _worker_action),
    _route("GET", "/api/qualifications", _qualifications),
    _route("GET", "/api/rule-actions", _rule_actions, ("task", "worker")),
    _route("POST", "/api/rule-actions/<action_id>/undo", _undo_rule_action),
    _route("GET", "/api/live", _live),
)


def find_route(method: str, path: str) -> tuple[Route, dict[str, str]]:
    """The route serving `method path`; ApiError 404 (no such path) or 405 (path exists, other method)."""
    allowed: list[str] = []
    for route in ROUTES:
        found = route.pattern.fullmatch(path)
        if found is None:
            continue
        if route.method == method:
            return route, found.groupdict()
        allowed.append(route.method)
    if allowed:
        methods = ", ".join(sorted(set(allowed)))
        raise ApiError(405, f"{method} is not allowed on {path}; use {methods}", allow=methods)
    raise ApiError(404, f"no API endpoint at {path} (see docs/review.md for the list)")


def check_params(route: Route, params: dict[str, str]) -> None:
    """Refuse query parameters the endpoint does not take (`token` is accepted everywhere)."""
    unknown = sorted(set(params) - route.params - {"token"})
    if unknown:
        known = ", ".join(sorted(route.params)) or "none"
        raise bad_request(f"unknown query parameter {unknown[0]!r}; this endpoint takes: {known}")
