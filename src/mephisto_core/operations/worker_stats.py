"""Per-worker summaries: units done, approval rate, blocks, qualifications and review history."""

from __future__ import annotations

from typing import Any

import peewee as pw

from mephisto_core.data_model import GrantedQualification, Qualification, Review, Unit, UnitStatus, Worker
from mephisto_core.data_model.qualifications import BLOCK_QUALIFICATION
from mephisto_core.data_model.statuses import SUBMITTED_UNIT_STATUSES


def worker_summaries(blocked_only: bool = False) -> list[dict[str, Any]]:
    """One row per worker (two grouped queries, not one per worker)."""
    counts: dict[int, dict[str, int]] = {}
    query = (
        Unit.select(Unit.worker, Unit.status, pw.fn.COUNT(Unit.id))
        .where(Unit.worker.is_null(False) & Unit.status.in_([s.value for s in SUBMITTED_UNIT_STATUSES]))
        .group_by(Unit.worker, Unit.status)
        .tuples()
    )
    for worker_id, status, count in query:
        counts.setdefault(worker_id, {})[status] = int(count)
    blocked = {
        worker_id
        for (worker_id,) in GrantedQualification.select(GrantedQualification.worker)
        .join(Qualification)
        .where((Qualification.name == BLOCK_QUALIFICATION) & (GrantedQualification.value != 0))
        .tuples()
    }
    rows = []
    for worker in Worker.select().order_by(Worker.provider_type, Worker.name):
        if blocked_only and worker.id not in blocked:
            continue
        rows.append(_summary(worker, counts.get(worker.id, {}), worker.id in blocked))
    return rows


def _summary(worker: Worker, by_status: dict[str, int], blocked: bool) -> dict[str, Any]:
    accepted = by_status.get(UnitStatus.ACCEPTED.value, 0) + by_status.get(UnitStatus.SOFT_REJECTED.value, 0)
    rejected = by_status.get(UnitStatus.REJECTED.value, 0)
    reviewed = accepted + rejected
    return {
        "worker": worker.name,
        "provider": worker.provider_type,
        "submitted": sum(by_status.values()),
        "awaiting_review": by_status.get(UnitStatus.COMPLETED.value, 0),
        "approved": accepted,
        "rejected": rejected,
        "approval_rate": round(accepted / reviewed, 3) if reviewed else None,
        "blocked": blocked,
    }


def worker_details(worker: Worker) -> dict[str, Any]:
    """Everything `mephisto workers show` and the review app tell about one worker."""
    by_status = {
        status: int(count)
        for status, count in Unit.select(Unit.status, pw.fn.COUNT(Unit.id))
        .where((Unit.worker == worker) & Unit.status.in_([s.value for s in SUBMITTED_UNIT_STATUSES]))
        .group_by(Unit.status)
        .tuples()
    }
    grants = (
        GrantedQualification.select(GrantedQualification, Qualification)
        .join(Qualification)
        .where(GrantedQualification.worker == worker)
        .order_by(Qualification.name)
    )
    qualifications = [{"name": g.qualification.name, "value": g.value, "updated": g.updated_at} for g in grants]
    blocked = any(q["name"] == BLOCK_QUALIFICATION and q["value"] for q in qualifications)
    reviews = [
        {"kind": r.kind, "unit": r.unit_id, "amount": r.amount, "feedback": r.feedback, "when": r.created_at}
        for r in Review.select().where(Review.worker == worker).order_by(Review.id)
    ]
    return {"summary": _summary(worker, by_status, blocked), "qualifications": qualifications, "reviews": reviews}
