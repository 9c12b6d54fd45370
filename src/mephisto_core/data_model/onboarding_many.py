"""Onboarding submissions of many workers at once: their attempts read, then stored graded, reviewed and granted,
a statement for all of each (the usual way takes about seven round trips per submission on PostgreSQL). They run
inside the database writer's transaction: each statement relies on the one before.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection, Sequence
from typing import Any

import peewee as pw

from mephisto_core.data_model.models import (
    GrantedQualification,
    OnboardingAgent,
    Qualification,
    Review,
    Task,
    Worker,
)
from mephisto_core.data_model.statuses import AgentStatus, ReviewKind


@dataclasses.dataclass(frozen=True, slots=True)
class Attempt:
    """An onboarding attempt as a submission finds it."""

    worker_id: int
    status: str
    submit_key: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class Graded:
    """An onboarding submission and its grade, to store."""

    agent_id: int
    worker_id: int
    submit_key: str
    outputs: Any
    passed: bool


def attempts(agent_ids: Collection[int]) -> dict[int, Attempt]:
    """The onboarding attempts of `agent_ids` that exist, by id."""
    query = OnboardingAgent.select(
        OnboardingAgent.id, OnboardingAgent.worker, OnboardingAgent.status, OnboardingAgent.submit_key
    ).where(OnboardingAgent.id.in_(list(agent_ids)))
    return {int(i): Attempt(int(worker), str(status), key) for i, worker, status, key in query.tuples()}


def store_graded(graded: Sequence[Graded], now: dt.datetime) -> set[int]:
    """Each attempt of `graded` still in task, moved to approved (passed) or rejected with its outputs, key and
    time, as the usual way's two steps (completed, then graded) leave it; the ids that moved. Keys must be
    distinct and unused (the caller's duty): a key used twice fails the statement on the unique index."""
    agent = OnboardingAgent.id
    encode = OnboardingAgent.outputs.db_value
    query = (
        OnboardingAgent.update(
            status=pw.Case(agent, [(g.agent_id, _graded_status(g.passed)) for g in graded]),
            outputs=pw.Case(agent, [(g.agent_id, encode(g.outputs)) for g in graded]),
            submit_key=pw.Case(agent, [(g.agent_id, g.submit_key) for g in graded]),
            submitted_at=now,
        )
        .where(agent.in_([g.agent_id for g in graded]) & (OnboardingAgent.status == AgentStatus.IN_TASK.value))
        .returning(agent)
    )
    return {int(row[0]) for row in query.tuples().execute()}


def review_and_grant(
    graded: Sequence[Graded], task: Task, qualification: str, description: str, now: dt.datetime
) -> int:
    """Record each grade (an onboarding pass or fail review) and grant `qualification` (1 passed, 0 failed) as
    `grant_qualification` does for one: a grant's `updated_at` moves only when its value changes. The
    qualification's id."""
    qualification_id = int(Qualification.get_or_create(name=qualification, defaults={"description": description})[0].id)
    Review.insert_many(
        [(_review_kind(g.passed), g.worker_id, task.id, now) for g in graded],
        fields=[Review.kind, Review.worker, Review.task, Review.created_at],
    ).execute()
    new_value = pw.EXCLUDED.value
    GrantedQualification.insert_many(
        [(g.worker_id, qualification_id, int(g.passed), now, now) for g in graded],
        fields=[
            GrantedQualification.worker,
            GrantedQualification.qualification,
            GrantedQualification.value,
            GrantedQualification.granted_at,
            GrantedQualification.updated_at,
        ],
    ).on_conflict(
        conflict_target=[GrantedQualification.worker, GrantedQualification.qualification],
        update={
            GrantedQualification.value: new_value,
            GrantedQualification.updated_at: pw.Case(
                None,
                [(GrantedQualification.value != new_value, pw.EXCLUDED.updated_at)],
                GrantedQualification.updated_at,
            ),
        },
    ).execute()
    return qualification_id


def workers(worker_ids: Collection[int]) -> dict[int, Worker]:
    """The workers of `worker_ids`, by id (for the grants the platform is to be told about)."""
    return {int(w.id): w for w in Worker.select().where(Worker.id.in_(list(worker_ids)))}


def _graded_status(passed: bool) -> str:
    return (AgentStatus.APPROVED if passed else AgentStatus.REJECTED).value


def _review_kind(passed: bool) -> str:
    return (ReviewKind.ONBOARDING_PASS if passed else ReviewKind.ONBOARDING_FAIL).value
