"""Onboarding submissions of many workers at once: each attempt still in task stored graded, its grade recorded
as a review and granted, with a statement for all of each (the usual way takes about seven round trips per
submission on PostgreSQL). On PostgreSQL the three are one statement, which commits on its own: a test stored
is always reviewed and granted. On SQLite they run in the writer's transaction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import peewee as pw

from mephisto_core.data_model.models import GrantedQualification, OnboardingAgent, Qualification, Review
from mephisto_core.data_model.statuses import AgentStatus, ReviewKind

_IN_TASK = AgentStatus.IN_TASK.value
_APPROVED, _REJECTED = AgentStatus.APPROVED.value, AgentStatus.REJECTED.value
_PASS, _FAIL = ReviewKind.ONBOARDING_PASS.value, ReviewKind.ONBOARDING_FAIL.value


@dataclasses.dataclass(frozen=True, slots=True)
class Graded:
    """An onboarding submission and its grade, to store."""

    agent_id: int
    submit_key: str
    outputs: Any
    passed: bool


def ensure_qualification(name: str, description: str) -> None:
    """Create the qualification `name` unless it exists (the statements below find it by name)."""
    Qualification.get_or_create(name=name, defaults={"description": description})


def store_graded(
    graded: Sequence[Graded], task_id: int, qualification: str, now: dt.datetime, postgres: bool
) -> dict[int, int]:
    """Each attempt of `graded` still in task moved to approved (passed) or rejected with its outputs, key and time,
    as the usual way's two steps (completed, then graded) leave it; its grade recorded (an onboarding pass or fail
    review of the task) and granted as `qualification` (1 passed, 0 failed; a grant's `updated_at` moves only when
    its value changes). Agent id -> worker id of the attempts that moved. Keys must be distinct and unused (the
    caller's duty): a key used twice fails the statement on the unique index; so does a missing qualification."""
    if postgres:
        return _store_graded_postgres(graded, task_id, qualification, now)
    agent = OnboardingAgent.id
    encode = OnboardingAgent.outputs.db_value
    moved = (
        OnboardingAgent.update(
            status=pw.Case(agent, [(g.agent_id, _APPROVED if g.passed else _REJECTED) for g in graded]),
            outputs=pw.Case(agent, [(g.agent_id, encode(g.outputs)) for g in graded]),
            submit_key=pw.Case(agent, [(g.agent_id, g.submit_key) for g in graded]),
            submitted_at=now,
        )
        .where(agent.in_([g.agent_id for g in graded]) & (OnboardingAgent.status == _IN_TASK))
        .returning(agent, OnboardingAgent.worker)
    )
    workers = {int(agent_id): int(worker_id) for agent_id, worker_id in moved.tuples().execute()}
    if not workers:
        return workers
    passed = {g.agent_id: g.passed for g in graded}
    qualification_id = Qualification.get(Qualification.name == qualification).id
    Review.insert_many(
        [(_PASS if passed[a] else _FAIL, w, task_id, now, "", "") for a, w in workers.items()],
        fields=[Review.kind, Review.worker, Review.task, Review.created_at, Review.feedback, Review.reviewer],
    ).execute()
    value = pw.EXCLUDED.value
    GrantedQualification.insert_many(
        [(w, qualification_id, int(passed[a]), now, now) for a, w in workers.items()],
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
            GrantedQualification.value: value,
            GrantedQualification.updated_at: pw.Case(
                None, [(GrantedQualification.value != value, pw.EXCLUDED.updated_at)], GrantedQualification.updated_at
            ),
        },
    ).execute()
    return workers


# The three steps in one statement: each of its parts sees the table as the statement found it, so the review and
# the grant are made from the attempts `moved` returns, not read again.
_POSTGRES = """
WITH v ("id", "status", "outputs", "submit_key") AS (
    SELECT * FROM unnest(%s::integer[], %s::text[], %s::text[], %s::text[])
), moved AS (
    UPDATE "onboarding_agent" AS o SET "status" = v."status", "outputs" = v."outputs", "submit_key" = v."submit_key",
        "submitted_at" = %s
    FROM v WHERE o."id" = v."id" AND o."status" = %s
    RETURNING o."id", o."worker_id", o."status"
), q AS (
    SELECT "id" FROM "qualification" WHERE "name" = %s
), reviewed AS (
    INSERT INTO "review" ("kind", "worker_id", "task_id", "created_at", "feedback", "reviewer")
    SELECT CASE WHEN moved."status" = %s THEN %s ELSE %s END, moved."worker_id", %s, %s, '', '' FROM moved
), granted AS (
    INSERT INTO "granted_qualification" ("worker_id", "qualification_id", "value", "granted_at", "updated_at")
    SELECT moved."worker_id", (SELECT "id" FROM q), CASE WHEN moved."status" = %s THEN 1 ELSE 0 END, %s, %s
    FROM moved
    ON CONFLICT ("worker_id", "qualification_id") DO UPDATE SET "value" = EXCLUDED."value",
        "updated_at" = CASE WHEN "granted_qualification"."value" <> EXCLUDED."value"
            THEN EXCLUDED."updated_at" ELSE "granted_qualification"."updated_at" END
)
SELECT "id", "worker_id" FROM moved
"""


def _store_graded_postgres(
    graded: Sequence[Graded], task_id: int, qualification: str, now: dt.datetime
) -> dict[int, int]:
    encode = OnboardingAgent.outputs.db_value
    params: list[Any] = [
        [g.agent_id for g in graded],
        [_APPROVED if g.passed else _REJECTED for g in graded],
        [encode(g.outputs) for g in graded],
        [g.submit_key for g in graded],
        now,
        _IN_TASK,
        qualification,
        _APPROVED,
        _PASS,
        _FAIL,
        task_id,
        now,
        _APPROVED,
        now,
        now,
    ]
    rows = OnboardingAgent._meta.database.execute_sql(_POSTGRES, params).fetchall()
    return {int(agent_id): int(worker_id) for agent_id, worker_id in rows}
