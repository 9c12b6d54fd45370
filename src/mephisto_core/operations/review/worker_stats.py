"""Per-worker summaries: units done, approval rate, blocks, qualifications and review history."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import peewee as pw

from mephisto_core.data_model import Agent, GrantedQualification, Qualification, Review, Unit, UnitStatus, Worker
from mephisto_core.data_model.qualifications import BLOCK_QUALIFICATION
from mephisto_core.data_model.statuses import SUBMITTED_UNIT_STATUSES


@dataclass(frozen=True)
class WorkerStats:
    """How a worker's submitted units were judged: the one definition the CLI, the review app and scripts share.

    `approval_rate` is accepted / (accepted + rejected + soft_rejected): the share of reviewed units whose work
    the researcher kept. A soft-rejected unit is paid but its data is not used, so it does not count as
    approved; None while nothing was reviewed. `units_done` counts every submitted unit, reviewed or not.
    """

    worker_db_id: int
    worker_id: str
    provider_type: str
    accepted: int
    rejected: int
    soft_rejected: int
    awaiting_review: int

    @classmethod
    def from_counts(cls, worker: Worker, by_status: dict[str, int]) -> WorkerStats:
        """Stats from a worker's unit counts by status (the statuses a worker's submitted unit can have)."""
        return cls(
            worker_db_id=worker.id,
            worker_id=worker.name,
            provider_type=worker.provider_type,
            accepted=by_status.get(UnitStatus.ACCEPTED.value, 0),
            rejected=by_status.get(UnitStatus.REJECTED.value, 0),
            soft_rejected=by_status.get(UnitStatus.SOFT_REJECTED.value, 0),
            awaiting_review=by_status.get(UnitStatus.COMPLETED.value, 0),
        )

    @property
    def units_done(self) -> int:
        return self.accepted + self.rejected + self.soft_rejected + self.awaiting_review

    @property
    def approval_rate(self) -> float | None:
        reviewed = self.accepted + self.rejected + self.soft_rejected
        return None if reviewed == 0 else self.accepted / reviewed


def submitted_unit_counts(worker_db_id: int) -> dict[str, int]:
    """A worker's submitted units counted by status.

    Found through the worker's agents (the agents' (worker, status) index) and each agent's unit: units have no
    index by worker alone (migration 17). A submitted unit's current agent is the one that submitted it, so the
    units whose current agent is this worker's are exactly this worker's submitted units."""
    return {
        status: int(count)
        for status, count in _submitted_units_of(worker_db_id, [s.value for s in SUBMITTED_UNIT_STATUSES])
        .select(Unit.status, pw.fn.COUNT(Unit.id))
        .group_by(Unit.status)
        .tuples()
    }


def _submitted_units_of(worker_db_id: int, statuses: list[str]) -> Any:
    """The query of `submitted_unit_counts`: the worker's agents joined to the units they submitted."""
    return (
        Agent.select()
        .join(Unit, on=((Unit.id == Agent.unit) & (Unit.agent_id == Agent.id)))
        .where((Agent.worker == worker_db_id) & (Unit.worker == worker_db_id) & Unit.status.in_(statuses))
    )


#: the statuses `_counts_as_columns` counts, in its columns' order
_COUNTED_STATUSES = tuple(sorted(status.value for status in SUBMITTED_UNIT_STATUSES))


def _counts_as_columns(worker_db_id: int) -> list[Any]:
    """`submitted_unit_counts`, a column per status, and the worker's number of review records: scalar subqueries
    that ride along with the worker's row (the review app's unit screen sent a statement for each, one round trip
    each to a database on another machine)."""
    counts = [
        _submitted_units_of(worker_db_id, [status]).select(pw.fn.COUNT(Unit.id)).alias(f"n_{status}")
        for status in _COUNTED_STATUSES
    ]
    reviews = Review.select(pw.fn.COUNT(Review.id)).where(Review.worker == worker_db_id).alias("n_reviews")
    return [*counts, reviews]


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


def worker_summary(worker: Worker) -> dict[str, Any]:
    """The worker's row of `worker_summaries` (counts, approval rate, blocked), without their review history."""
    blocked = (
        GrantedQualification.select()
        .join(Qualification)
        .where(
            (GrantedQualification.worker == worker)
            & (Qualification.name == BLOCK_QUALIFICATION)
            & (GrantedQualification.value != 0)
        )
        .exists()
    )
    return _summary(worker, submitted_unit_counts(worker.id), blocked)


def _summary(worker: Worker, by_status: dict[str, int], blocked: bool) -> dict[str, Any]:
    stats = WorkerStats.from_counts(worker, by_status)
    rate = stats.approval_rate
    return {
        "worker": worker.name,
        "provider": worker.provider_type,
        "submitted": stats.units_done,
        "awaiting_review": stats.awaiting_review,
        "approved": stats.accepted,
        "soft_rejected": stats.soft_rejected,
        "rejected": stats.rejected,
        "approval_rate": None if rate is None else round(rate, 3),
        "blocked": blocked,
    }


def worker_details(worker: Worker, recent_reviews: int | None = None) -> dict[str, Any]:
    """Everything `mephisto workers show` and the review app tell about one worker.

    `reviews` holds the worker's review records oldest first, only the latest `recent_reviews` when given;
    `review_count` counts them all.
    """
    grants = (
        GrantedQualification.select(Qualification.name, GrantedQualification.value, GrantedQualification.updated_at)
        .join(Qualification)
        .where(GrantedQualification.worker == worker)
        .order_by(Qualification.name)
        .tuples()
    )
    return _details(worker, list(grants), recent_reviews)


def worker_details_by_id(worker_id: int, recent_reviews: int | None = None) -> tuple[Worker, dict[str, Any]] | None:
    """The worker with id `worker_id` and their `worker_details`, or None when there is none, in two statements:
    their row with their grants, unit counts and number of reviews, then their latest reviews (each statement is a
    round trip to a database on another machine: the review app's unit and worker screens)."""
    counted = _counts_as_columns(worker_id)
    rows = list(
        Worker.select(
            Worker.id,
            Worker.provider_type,
            Worker.name,
            Worker.created_at,
            *counted,
            Qualification.name,
            GrantedQualification.value,
            GrantedQualification.updated_at,
        )
        .join(GrantedQualification, pw.JOIN.LEFT_OUTER, on=(GrantedQualification.worker == Worker.id))
        .join(Qualification, pw.JOIN.LEFT_OUTER, on=(Qualification.id == GrantedQualification.qualification))
        .where(Worker.id == worker_id)
        .order_by(Qualification.name)
        .tuples()
    )
    if not rows:
        return None
    worker_id, provider_type, name, created_at = rows[0][:4]
    worker = Worker(id=worker_id, provider_type=provider_type, name=name, created_at=created_at)
    first_grant = 4 + len(counted)
    *unit_counts, review_total = (int(n or 0) for n in rows[0][4:first_grant])
    by_status = {status: n for status, n in zip(_COUNTED_STATUSES, unit_counts, strict=True) if n}
    # a worker with no grant has one row of NULLs
    grants = [row[first_grant:] for row in rows if row[first_grant] is not None]
    return worker, _details(worker, grants, recent_reviews, by_status, review_total)


def _details(
    worker: Worker,
    grants: list[tuple[Any, ...]],
    recent_reviews: int | None,
    by_status: dict[str, int] | None = None,
    review_total: int | None = None,
) -> dict[str, Any]:
    """The worker's details from their grants; `by_status` and `review_total` are read when not given."""
    if by_status is None:
        by_status = submitted_unit_counts(worker.id)
    qualifications = [{"name": name, "value": value, "updated": updated} for name, value, updated in grants]
    blocked = any(q["name"] == BLOCK_QUALIFICATION and q["value"] for q in qualifications)
    latest_first = Review.select().where(Review.worker == worker).order_by(Review.id.desc())
    if recent_reviews is not None:
        latest_first = latest_first.limit(recent_reviews)
    reviews = [
        {"kind": r.kind, "unit": r.unit_id, "amount": r.amount, "feedback": r.feedback, "when": r.created_at}
        for r in reversed(list(latest_first))
    ]
    review_count = len(reviews)
    if recent_reviews is not None and review_count == recent_reviews:
        review_count = (
            review_total if review_total is not None else Review.select().where(Review.worker == worker).count()
        )
    return {
        "summary": _summary(worker, by_status, blocked),
        "qualifications": qualifications,
        "reviews": reviews,
        "review_count": review_count,
    }
