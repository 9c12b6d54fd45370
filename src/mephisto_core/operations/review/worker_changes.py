"""Changes to workers (block, unblock, grant, revoke): what the platforms are told, and what is written here after.

A `WorkerChange` is told to its platforms by `ReviewActions.change_workers`, several at once; its `LocalChange` is
then written here: the qualification granted or revoked, the review record, and one `platform` record per
provider outcome. The local changes of workers whose platforms answered together are written together, a few
statements for all of them (each statement is a round trip to a database on another machine: a bulk grant to 100
workers spent 20 s on them 11 ms away, docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import peewee as pw

from mephisto_core.abstractions import CrowdProvider
from mephisto_core.abstractions.platform_sync import PlatformOutcome
from mephisto_core.abstractions.provider import WORKER_CALLS_FOR_MANY
from mephisto_core.data_model import GrantedQualification, Qualification, Review, ReviewKind, Worker
from mephisto_core.data_model.models import utcnow
from mephisto_core.operations.review import platform_push

#: rows named in one statement (well within SQLite's limit on bound parameters)
IDS_PER_STATEMENT = 500


@dataclass(frozen=True)
class LocalChange:
    """What a worker change writes here once its platforms answered: qualification `qualification` granted with
    `value` (or revoked, `value` None), a `review_kind` record, and a `platform` record per provider outcome."""

    worker_id: int
    qualification: str
    value: int | None
    review_kind: ReviewKind
    reviewer: str
    feedback: str = ""
    unit_id: int | None = None
    #: the qualification's description when this grant creates it
    description: str = ""
    #: the review and platform records name the qualification (and the review its value): grants by name
    names_qualification: bool = False

    def record(self, outcomes: list[PlatformOutcome]) -> None:
        """Write this change (inside the caller's transaction)."""
        LocalChange.record_all([(self, outcomes)])

    @staticmethod
    def record_all(changes: Sequence[tuple[LocalChange, list[PlatformOutcome]]]) -> None:
        """Write each change with its platform outcomes, as `record` would one by one: the qualifications looked up
        (and created) once, the grants in one upsert, the revocations in one DELETE per qualification, and the
        review records in one INSERT. A worker changed twice in the list is changed in the list's order."""
        keys = [(change.worker_id, change.qualification) for change, _ in changes]
        if len(set(keys)) < len(keys):
            for one in changes:  # one after the other, so the last change of a worker wins as it would
                LocalChange.record_all([one])
            return
        ids = _qualification_ids([change for change, _ in changes])
        _grant(ids, [change for change, _ in changes if change.value is not None])
        _revoke(ids, [change for change, _ in changes if change.value is None])
        rows = [row for change, outcomes in changes for row in _review_rows(change, outcomes, ids)]
        Review.insert_many(rows).execute()


@dataclass(frozen=True)
class WorkerChange:
    """One change to a worker (block, unblock, grant, revoke), ready to be told to the platforms and recorded
    (`ReviewActions.change_workers`)."""

    worker: Worker
    targets: list[CrowdProvider]
    action: str  # in words, for the outcomes: "block", "grant", ...
    method: str  # the provider method that tells a platform
    args: tuple[Any, ...]
    local: LocalChange

    def tell_platforms(self) -> list[PlatformOutcome]:
        return platform_push.push(self.targets, self.worker, self.action, self.method, *self.args)

    def together_key(self) -> Hashable | None:
        """The changes its one platform takes in one call with this one (the same provider, action and arguments
        but the worker), or None: told alone."""
        if len(self.targets) != 1 or self.method not in WORKER_CALLS_FOR_MANY:  # a change with a form for many
            return None
        provider = self.targets[0]
        if self.method not in provider.calls_for_many:
            return None
        return (id(provider), self.method, self.args[1:])

    @staticmethod
    def tell_platforms_together(changes: Sequence[WorkerChange]) -> list[list[PlatformOutcome] | Exception]:
        """Tell the one platform of `changes` (one `together_key`) in one call; per change, its outcomes or its
        refusal."""
        first = changes[0]
        workers = [change.worker for change in changes]
        return platform_push.push_many(first.targets[0], workers, first.action, first.method, *first.args[1:])

    def record(self, outcomes: list[PlatformOutcome]) -> None:
        """The local change (inside the caller's transaction)."""
        self.local.record(outcomes)


def _qualification_ids(changes: list[LocalChange]) -> dict[str, int]:
    """The ids of the changes' qualifications. One granted that does not exist yet is created, with the first
    description given for it; one only revoked is not (nobody holds it)."""
    names = list(dict.fromkeys(change.qualification for change in changes))
    query = Qualification.select(Qualification.name, Qualification.id).where(Qualification.name.in_(names))
    ids: dict[str, int] = dict(query.tuples())
    to_create = {
        change.qualification: change.description
        for change in reversed(changes)
        if change.value is not None and change.qualification not in ids
    }
    if to_create:  # another process may create one meanwhile: its row stands
        rows = [{"name": name, "description": description} for name, description in to_create.items()]
        Qualification.insert_many(rows).on_conflict_ignore().execute()
        query = Qualification.select(Qualification.name, Qualification.id).where(
            Qualification.name.in_(list(to_create))
        )
        ids.update(query.tuples())
    return ids


def _grant(ids: dict[str, int], grants: list[LocalChange]) -> None:
    """Grant each (or re-grant with its new value); `updated_at` moves only where the value changes."""
    for start in range(0, len(grants), IDS_PER_STATEMENT):
        rows = [
            {"worker": grant.worker_id, "qualification": ids[grant.qualification], "value": grant.value}
            for grant in grants[start : start + IDS_PER_STATEMENT]
        ]
        GrantedQualification.insert_many(rows).on_conflict(
            conflict_target=[GrantedQualification.worker, GrantedQualification.qualification],
            update={GrantedQualification.value: pw.EXCLUDED.value, GrantedQualification.updated_at: utcnow()},
            where=GrantedQualification.value != pw.EXCLUDED.value,
        ).execute()


def _revoke(ids: dict[str, int], revocations: list[LocalChange]) -> None:
    by_qualification: dict[int, list[int]] = {}
    for change in revocations:
        if change.qualification in ids:  # a qualification that does not exist is held by nobody
            by_qualification.setdefault(ids[change.qualification], []).append(change.worker_id)
    for qualification_id, worker_ids in by_qualification.items():
        for start in range(0, len(worker_ids), IDS_PER_STATEMENT):
            GrantedQualification.delete().where(
                (GrantedQualification.qualification == qualification_id)
                & GrantedQualification.worker.in_(worker_ids[start : start + IDS_PER_STATEMENT])
            ).execute()


def _review_rows(change: LocalChange, outcomes: list[PlatformOutcome], ids: dict[str, int]) -> list[dict[str, Any]]:
    qualification_id = ids[change.qualification] if change.names_qualification else None
    review = {
        "kind": change.review_kind.value,
        "worker": change.worker_id,
        "unit": change.unit_id,
        "qualification": qualification_id,
        "qualification_value": change.value if change.names_qualification else None,
        "feedback": change.feedback,
        "reviewer": change.reviewer,
    }
    platform = [platform_push.record_row(o, change.worker_id, change.reviewer, qualification_id) for o in outcomes]
    return [review, *platform]
