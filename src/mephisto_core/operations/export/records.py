"""`UnitRecord`, one exported unit, and the conversions from raw database values to it.

The data browser reads raw cursor rows rather than peewee model instances: building 100,000 models (and letting
peewee parse every datetime with strptime) would take longer than the whole export is allowed to.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from mephisto_core.operations.export.review_columns import REVIEW_COLUMNS, review_columns

_decoder = json.JSONDecoder()

#: The keys of an exported unit, in order (DESIGN.md, "Export").
EXPORT_KEYS: tuple[str, ...] = (
    "task",
    "task_run_id",
    "assignment_id",
    "unit_id",
    "unit_index",
    "worker_id",
    "agent_id",
    "status",
    "inputs",
    "outputs",
    "files",
    "started_at",
    "submitted_at",
    "duration_s",
    "review",
    "procedure_calls",
    *REVIEW_COLUMNS,
)


class Answer(NamedTuple):
    """One unit's answer as agreement reads it (`DataBrowser.answers`): no inputs, reviews, files or calls."""

    unit_id: int
    assignment_id: int
    unit_index: int
    worker_db_id: int | None
    outputs: Any


@dataclass(slots=True)
class UnitRecord:
    """One unit with its submission: what `DataBrowser.units()` yields and `mephisto export` writes.

    `worker_id` is the provider's id for the worker (e.g. the MTurk worker id), `worker_db_id` the row id in this
    database. `files` are dicts with field, name, size, type, sha256 and path (relative to the data dir, or to the
    copy when the export copied files). `review` lists review actions on the unit, oldest first, as dicts with kind,
    amount (float or None), feedback, reviewer and created_at (ISO text). Times are timezone-aware UTC datetimes.
    """

    unit_id: int
    task: str
    task_run_id: int
    assignment_id: int
    unit_index: int
    status: str
    worker_id: str | None
    worker_db_id: int | None
    agent_id: int | None
    inputs: Any
    outputs: Any
    started_at: dt.datetime | None
    submitted_at: dt.datetime | None
    files: list[dict[str, Any]] = field(default_factory=list)
    review: list[dict[str, Any]] = field(default_factory=list)
    #: the remote procedure calls of the submitting attempt, in order (docs/export.md)
    procedure_calls: list[dict[str, Any]] = field(default_factory=list)
    aggregate: dict[str, Any] | None = None

    @property
    def duration_s(self) -> float | None:
        """Seconds from the agent starting the unit to submitting it; None until submitted."""
        if self.started_at is None or self.submitted_at is None:
            return None
        return round((self.submitted_at - self.started_at).total_seconds(), 3)

    def to_dict(self) -> dict[str, Any]:
        """The export object: JSON-ready, keys exactly as DESIGN.md lists (plus `aggregate` when one was added)."""
        exported: dict[str, Any] = {
            "task": self.task,
            "task_run_id": self.task_run_id,
            "assignment_id": self.assignment_id,
            "unit_id": self.unit_id,
            "unit_index": self.unit_index,
            "worker_id": self.worker_id,
            "agent_id": self.agent_id,
            "status": self.status,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "files": self.files,
            "started_at": iso_utc(self.started_at),
            "submitted_at": iso_utc(self.submitted_at),
            "duration_s": self.duration_s,
            "review": self.review,
            "procedure_calls": self.procedure_calls,
            **review_columns(self.review),
        }
        if self.aggregate is not None:
            exported["aggregate"] = self.aggregate
        return exported


def iso_utc(moment: dt.datetime | None) -> str | None:
    """ISO 8601 text with an explicit UTC offset, or None."""
    return None if moment is None else moment.isoformat()


def utc_datetime(raw: Any) -> dt.datetime | None:
    """A stored time (SQLite gives text, PostgreSQL a naive datetime; both are UTC) as an aware datetime."""
    if raw is None:
        return None
    if isinstance(raw, str):
        return dt.datetime.fromisoformat(raw + "+00:00")  # one call instead of parse-then-replace: 200k per export
    moment = raw if isinstance(raw, dt.datetime) else dt.datetime.fromisoformat(str(raw))
    return moment.replace(tzinfo=dt.UTC)


def json_value(raw: Any) -> Any:
    """A stored JSON document (text) as Python; None stays None."""
    if raw is None:
        return None
    if isinstance(raw, str):
        try:
            # JSONField writes compact JSON: skip json.loads' whitespace checks, which cost a regex match each.
            return _decoder.raw_decode(raw)[0]
        except ValueError:
            return json.loads(raw)
    return json.loads(raw) if isinstance(raw, bytes) else raw


def money(raw: Any) -> float | None:
    """A stored amount (SQLite gives a number, PostgreSQL a Decimal) as a float rounded to cents."""
    if raw is None:
        return None
    return float(round(Decimal(str(raw)), 2))


def review_dict(kind: str, amount: Any, feedback: str, reviewer: str, created_at: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "amount": money(amount),
        "feedback": feedback,
        "reviewer": reviewer,
        "created_at": iso_utc(utc_datetime(created_at)),
    }


def procedure_call_dict(
    name: str, args: Any, result: Any, error_code: str | None, error: str | None, started: Any, finished: Any, ms: Any
) -> dict[str, Any]:
    """One stored remote procedure call as exported: `error` is the words the worker saw."""
    return {
        "name": name,
        "args": json_value(args),
        "result": json_value(result),
        "error_code": error_code,
        "error": error,
        "started_at": iso_utc(utc_datetime(started)),
        "finished_at": iso_utc(utc_datetime(finished)),
        "duration_ms": None if ms is None else round(float(ms), 3),
    }


def file_dict(field_name: str, name: str, size: int, content_type: str, sha256: str, path: str) -> dict[str, Any]:
    return {"field": field_name, "name": name, "size": int(size), "type": content_type, "sha256": sha256, "path": path}
