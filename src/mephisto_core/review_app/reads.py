"""What the review app's GET endpoints answer: tasks, pages of units, one unit with its rendering, workers.

Units come from the data browser (`DataBrowser`), worker histories from `operations.worker_stats` and agreement
from `operations.agreement`; this module only picks what the UI needs and shapes it as JSON-ready dicts.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import peewee as pw

from mephisto_core import __version__
from mephisto_core.data_model import Qualification, Task, TaskRun, Unit, UnitStatus, Worker
from mephisto_core.data_model.statuses import SUBMITTED_UNIT_STATUSES, UNIT_TRANSITIONS
from mephisto_core.errors import NotFound
from mephisto_core.operations.review.worker_stats import worker_details_by_id
from mephisto_core.operations.unit_filters import UnitFilters, of_task, resolve_filters
from mephisto_core.review_app.rendering import Rendering, shown_values
from mephisto_core.review_app.summary import answer_summary
from mephisto_core.review_app.validation import (
    MAX_BULK,
    MAX_TEXT,
    bad_request,
    parse_id,
    parse_paging,
    parse_statuses,
)

if TYPE_CHECKING:
    from mephisto_core.operations.data_browser import RunSummary
    from mephisto_core.operations.export.records import UnitRecord
    from mephisto_core.review_app.app import ReviewApp

_SUBMITTED = [s.value for s in UnitStatus if s in SUBMITTED_UNIT_STATUSES]
#: How many of a worker's latest review records a unit's page shows.
RECENT_REVIEWS = 20


def session_info(app: ReviewApp) -> dict[str, Any]:
    """What the page needs before its first query: the task to open and the limits it should enforce too."""
    return {
        "version": __version__,
        "default_task_id": app.default_task_id,
        "undo_seconds": app.undo_seconds,
        "statuses": [s.value for s in UnitStatus],
        "submitted_statuses": _SUBMITTED,
        "max_text": MAX_TEXT,
        "max_bulk": MAX_BULK,
    }


def task_list(app: ReviewApp, task_id: int | None = None) -> dict[str, Any]:
    """Every task (or the one with `task_id`) with its unit counts by status and its runs."""
    summaries, run_summaries = app.browser.overview(task_id)
    runs: dict[str, list[dict[str, Any]]] = {}
    for run in run_summaries:
        runs.setdefault(run.task, []).append(_run_json(run))
    tasks = [
        {
            "id": summary.task_id,
            "name": summary.name,
            "blueprint_type": summary.blueprint_type,
            "created_at": summary.created_at,
            "unit_counts": summary.unit_counts,
            "submitted": summary.submitted,
            "awaiting_review": summary.unit_counts.get(UnitStatus.COMPLETED.value, 0),
            "runs": runs.get(summary.name, []),
        }
        for summary in summaries
    ]
    return {"tasks": tasks}


def task_detail(app: ReviewApp, task_id: int) -> dict[str, Any]:
    """One task as in the task list, plus whether agreement can be computed and its workers."""
    found = task_list(app, task_id)["tasks"]
    if not found:
        raise NotFound(f"task {task_id} does not exist")
    (summary,) = found
    # Both depend on the submitted units alone: made again only once more are submitted (the page asks every 15 s).
    submitted = summary["submitted"]
    shared = app.by_submitted.get("has_agreement", task_id, submitted, lambda: _has_shared_assignments(task_id))
    workers = app.by_submitted.get("workers", task_id, submitted, lambda: _task_workers(task_id))
    return {**summary, "has_agreement": shared, "workers": workers}


def agreement(app: ReviewApp, task_id: int) -> dict[str, Any]:
    """Per-field agreement over the task's submitted units (only meaningful when assignments share units)."""
    from mephisto_core.operations.review.agreement import field_agreement

    filters = replace(resolve_filters(), task_id=task_id)
    # Counted first (7 ms at 100,000 units, where the numbers take a second): see BySubmittedUnits.
    submitted = app.browser.count_filtered(filters)
    if submitted == 0:
        _task(task_id)  # NotFound for a task that does not exist

    def made() -> dict[str, Any]:
        if not _has_shared_assignments(task_id):
            return {"task_id": task_id, "fields": {}, "note": "no assignment of this task has two submitted units yet"}
        return {"task_id": task_id, "fields": field_agreement(app.browser.answers_filtered(filters)), "note": None}

    return app.by_submitted.get("agreement", task_id, submitted, made)


def unit_page(app: ReviewApp, params: dict[str, str]) -> dict[str, Any]:
    """A page of units matching the filters, in id order, with how many match in all."""
    filters = unit_filters(params)
    offset, limit = parse_paging(params)
    total = app.browser.count_filtered(filters)
    if total == 0:
        _check_filtered_task(filters)
    units = [_unit_summary(r) for r in app.browser.page_filtered(offset, limit, filters)] if total > offset else []
    return {"total": total, "offset": offset, "limit": limit, "units": units}


def matching_unit_ids(app: ReviewApp, params: dict[str, str]) -> dict[str, Any]:
    """Every unit id matching the filters, in id order (the page's "select all units matching")."""
    filters = unit_filters(params)
    ids = app.browser.unit_ids_filtered(filters)
    if not ids:
        _check_filtered_task(filters)
    return {"total": len(ids), "unit_ids": ids}


def unit_filters(params: dict[str, str]) -> UnitFilters:
    """The units asked for by the `task`, `run`, `worker` and `status` query parameters (ids checked).

    The parameters are ids, so they need no lookup by name: each query costs a round trip to a database on another
    machine. A task id is checked only when nothing matches (`_check_filtered_task`); a run and a worker at once.
    """
    task_id = parse_id(params["task"], "task") if params.get("task") else None
    run_id = parse_id(params["run"], "run") if params.get("run") else None
    if run_id is not None:
        run = TaskRun.get_or_none(TaskRun.id == run_id)
        if run is None:
            raise NotFound(f"run {run_id} does not exist")
        if task_id is not None and run.task_id != task_id:
            raise bad_request(f"run {run_id} belongs to another task than task {task_id}")
    worker_ids = None
    if params.get("worker"):
        worker_ids = _same_worker_ids(parse_id(params["worker"], "worker"))
    statuses = tuple(parse_statuses(params["status"])) if params.get("status") else None
    return replace(resolve_filters(statuses=statuses), task_id=task_id, run_id=run_id, worker_ids=worker_ids)


def _check_filtered_task(filters: UnitFilters) -> None:
    if filters.task_id is not None:
        _task(filters.task_id)


def unit_detail(app: ReviewApp, unit_id: int) -> dict[str, Any]:
    """One unit: its record, file links, the blueprint's rendering, what may be done to it, and its worker.

    `shown` holds the inputs and outputs as display text (see `shown_values`): the page shows those, never
    numbers it parsed itself.
    """
    record = app.browser.unit(unit_id)
    files = [
        {**stored, "index": index, "url": file_url(app, unit_id, index)} for index, stored in enumerate(record.files)
    ]
    unit = {
        **record.to_dict(),
        "files": files,
        "worker_db_id": record.worker_db_id,
        "allowed": allowed_actions(record),
    }
    rendering = Rendering(None)
    if record.agent_id is not None and isinstance(record.inputs, dict) and isinstance(record.outputs, dict):
        file_urls: dict[str, list[str]] = {}
        for stored in files:
            file_urls.setdefault(stored["field"], []).append(stored["url"])
        rendering = app.renderer.render(record.task_run_id, record.inputs, record.outputs, file_urls)
    worker = None
    if record.worker_db_id is not None:
        worker = worker_json(record.worker_db_id, recent=RECENT_REVIEWS)
    return {
        "unit": unit,
        "shown": {"inputs": shown_values(record.inputs), "outputs": shown_values(record.outputs)},
        "summary": answer_summary(record.outputs, files, record.inputs),
        "render": {"html": rendering.html, "note": rendering.note},
        "worker": worker,
    }


def worker_json(worker_id: int, recent: int | None = None) -> dict[str, Any]:
    """A worker's history: counts, approval rate, blocked or not, qualifications and review records."""
    found = worker_details_by_id(worker_id, recent_reviews=recent)
    if found is None:
        raise NotFound(f"worker {worker_id} does not exist")
    worker, details = found
    # The summary's `worker` and `provider` say again what `name` and `provider_type` say.
    counts = {k: v for k, v in details["summary"].items() if k not in ("worker", "provider")}
    return {
        "id": worker.id,
        "name": worker.name,
        "provider_type": worker.provider_type,
        **counts,
        "qualifications": details["qualifications"],
        "reviews": list(reversed(details["reviews"])),  # newest first
        "review_count": details["review_count"],
    }


def worker_detail(worker_id: int) -> dict[str, Any]:
    """The worker endpoint's answer."""
    return worker_json(worker_id)


def qualification_list() -> dict[str, Any]:
    """Every qualification name (for the grant form's suggestions)."""
    rows = Qualification.select(Qualification.name, Qualification.description).order_by(Qualification.name)
    return {"qualifications": [{"name": q.name, "description": q.description} for q in rows]}


def allowed_actions(record: UnitRecord) -> dict[str, bool]:
    """Which unit actions the status lifecycle allows now (the UI disables the others)."""
    has_work = record.agent_id is not None
    targets = UNIT_TRANSITIONS.get(UnitStatus(record.status), frozenset())
    return {
        "approve": has_work and UnitStatus.ACCEPTED in targets,
        "reject": has_work and UnitStatus.REJECTED in targets,
        "soft_reject": has_work and UnitStatus.SOFT_REJECTED in targets,
        "bonus": has_work,
    }


def file_url(app: ReviewApp, unit_id: int, index: int) -> str:
    """Where the app serves a unit's file; the token rides along because a link or <img> sends no headers."""
    return f"/api/units/{unit_id}/files/{index}?token={quote(app.token, safe='')}"


def _unit_summary(record: UnitRecord) -> dict[str, Any]:
    last = record.review[-1] if record.review else None
    return {
        "unit_id": record.unit_id,
        "task": record.task,
        "task_run_id": record.task_run_id,
        "assignment_id": record.assignment_id,
        "unit_index": record.unit_index,
        "status": record.status,
        "worker_id": record.worker_id,
        "worker_db_id": record.worker_db_id,
        "submitted_at": record.submitted_at,
        "duration_s": record.duration_s,
        "files": len(record.files),
        "last_review": None if last is None else last["kind"],
    }


def _run_json(run: RunSummary) -> dict[str, Any]:
    return {
        "id": run.run_id,
        "provider_type": run.provider_type,
        "architect_type": run.architect_type,
        "sandbox": run.sandbox,
        "is_completed": run.is_completed,
        "created_at": run.created_at,
        "unit_counts": run.unit_counts,
    }


def _task(task_id: int) -> Task:
    task: Task | None = Task.get_or_none(Task.id == task_id)
    if task is None:
        raise NotFound(f"task {task_id} does not exist")
    return task


def _same_worker_ids(worker_id: int) -> tuple[int, ...]:
    """Worker `worker_id` and every worker the same provider id names (what filtering by worker name covers)."""
    same_name = Worker.select(Worker.name).where(Worker.id == worker_id)
    ids = tuple(int(w.id) for w in Worker.select(Worker.id).where(Worker.name == same_name).order_by(Worker.id))
    if not ids:
        raise NotFound(f"worker {worker_id} does not exist")
    return ids


def _has_shared_assignments(task_id: int) -> bool:
    """Whether some assignment of the task has two or more submitted units (what agreement needs)."""
    # A submitted unit with a submitted sibling, stopping at the first: 0 ms when there is one, against 21 ms for a
    # count per assignment at 100,000 units; 51 against 78 ms when there is none (every assignment of one unit).
    sibling = Unit.alias()
    shared = Unit.select(Unit.id).where(
        of_task(task_id)
        & Unit.status.in_(_SUBMITTED)
        & pw.fn.EXISTS(
            sibling.select(sibling.id).where(
                (sibling.assignment == Unit.assignment) & (sibling.id != Unit.id) & sibling.status.in_(_SUBMITTED)
            )
        )
    )
    return shared.exists()  # type: ignore[no-any-return]


def _task_workers(task_id: int) -> list[dict[str, Any]]:
    """The workers who submitted units of a task, with how many (for the worker filter)."""
    # Counted by worker id first, then joined: grouped by the worker's columns, every unit's row was joined too.
    counts = (
        Unit.select(Unit.worker.alias("worker_id"), pw.fn.COUNT(Unit.id).alias("units"))
        .where(of_task(task_id) & Unit.status.in_(_SUBMITTED))
        .group_by(Unit.worker)
    )
    rows = (
        Worker.select(Worker.id, Worker.name, Worker.provider_type, counts.c.units)
        .join(counts, on=(counts.c.worker_id == Worker.id))
        .order_by(Worker.name)
        .tuples()
    )
    return [{"id": i, "name": name, "provider_type": provider, "units": n} for i, name, provider, n in rows]
