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
    its value changes). Agent id -> worker id of the attempts that moved; not one whose key another attempt holds.
    Keys must be distinct in `graded` (the caller's duty): a key used twice fails the statement on the unique index;
    so does a missing qualification."""
    if postgres:
        return _store_graded_postgres(graded, task_id, qualification, now)
    agent = OnboardingAgent.id
    encode = OnboardingAgent.outputs.db_value
    # each attempt's new key, compared as it is (the key column's conversion would make the ids text)
    key_of = pw.Case(agent, [(pw.Value(g.agent_id, converter=False), pw.Value(g.submit_key)) for g in graded])
    keyed = OnboardingAgent.alias("keyed")
    moved = (
        OnboardingAgent.update(
            status=pw.Case(agent, [(g.agent_id, _APPROVED if g.passed else _REJECTED) for g in graded]),
            outputs=pw.Case(agent, [(g.agent_id, encode(g.outputs)) for g in graded]),
            submit_key=key_of,
            submitted_at=now,
        )
        .where(
            agent.in_([g.agent_id for g in graded])
            & (OnboardingAgent.status == _IN_TASK)
            & ~pw.fn.EXISTS(keyed.select(pw.SQL("1")).where(keyed.submit_key == key_of))
        )
        .returning(agent, OnboardingAgent.worker)
    )
    workers = {int(agent_id): int(worker_id) for agent_id, worker_id in moved.tuples().execute()}
    if not workers:
        return workers
    passed = {g.agent_id: g.passed for g in graded}
    Review.insert_many(
        [(_PASS if passed[a] else _FAIL, w, task_id, now, "", "") for a, w in workers.items()],
        fields=[Review.kind, Review.worker, Review.task, Review.created_at, Review.feedback, Review.reviewer],
    ).execute()
    grant_many(qualification, {w: int(passed[a]) for a, w in workers.items()}, now)
    return workers


def grant_many(qualification: str, values: dict[int, int], now: dt.datetime) -> None:
    """Grant `qualification` (which must exist) to each worker of `values` with its value, in one statement, as
    `grant_qualification` grants it: a grant's `updated_at` moves only when its value changes."""
    if not values:
        return
    qualification_id = Qualification.get(Qualification.name == qualification).id
    value = pw.EXCLUDED.value
    GrantedQualification.insert_many(
        [(w, qualification_id, v, now, now) for w, v in values.items()],
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


# The three steps in one statement's common table expressions: each of them sees the tables as the statement found
# them, so the review and the grant are made from the attempts "moved" returns, not read again. An attempt whose key
# another attempt holds is not moved (the usual way answers it), rather than failing the statement on the unique
# index with everything else it carries (`Storing`).
_POSTGRES_CTES = """
"tests" ("id", "status", "outputs", "submit_key") AS (
    SELECT * FROM unnest(%s::integer[], %s::text[], %s::text[], %s::text[])
), "moved" AS (
    UPDATE "onboarding_agent" AS o SET "status" = t."status", "outputs" = t."outputs", "submit_key" = t."submit_key",
        "submitted_at" = %s
    FROM "tests" t WHERE o."id" = t."id" AND o."status" = %s
        AND NOT EXISTS (SELECT 1 FROM "onboarding_agent" k WHERE k."submit_key" = t."submit_key")
    RETURNING o."id", o."worker_id", o."status"
), "test_qualification" AS (
    SELECT "id" FROM "qualification" WHERE "name" = %s
), "reviewed" AS (
    INSERT INTO "review" ("kind", "worker_id", "task_id", "created_at", "feedback", "reviewer")
    SELECT CASE WHEN m."status" = %s THEN %s ELSE %s END, m."worker_id", %s, %s, '', '' FROM "moved" m
), "granted" AS (
    INSERT INTO "granted_qualification" ("worker_id", "qualification_id", "value", "granted_at", "updated_at")
    SELECT m."worker_id", (SELECT "id" FROM "test_qualification"), CASE WHEN m."status" = %s THEN 1 ELSE 0 END, %s, %s
    FROM "moved" m
    ON CONFLICT ("worker_id", "qualification_id") DO UPDATE SET "value" = EXCLUDED."value",
        "updated_at" = CASE WHEN "granted_qualification"."value" <> EXCLUDED."value"
            THEN EXCLUDED."updated_at" ELSE "granted_qualification"."updated_at" END
)"""


@dataclasses.dataclass
class Storing:
    """A batch's graded onboarding submissions to store on PostgreSQL (`store_graded`'s arguments) in a statement
    of their own or, as common table expressions (`ctes`, then `params`, whose result is the "moved" table: id and
    worker id), in another statement's round trip; that statement sets `moved` (agent id -> worker id)."""

    graded: Sequence[Graded]
    task_id: int
    qualification: str
    now: dt.datetime
    moved: dict[int, int] | None = None

    ctes = _POSTGRES_CTES

    def params(self) -> list[Any]:
        """The parameters of `ctes`, in their order."""
        encode = OnboardingAgent.outputs.db_value
        graded, now = self.graded, self.now
        return [
            [g.agent_id for g in graded],
            [_APPROVED if g.passed else _REJECTED for g in graded],
            [encode(g.outputs) for g in graded],
            [g.submit_key for g in graded],
            now,
            _IN_TASK,
            self.qualification,
            _APPROVED,
            _PASS,
            _FAIL,
            self.task_id,
            now,
            _APPROVED,
            now,
            now,
        ]


def _store_graded_postgres(
    graded: Sequence[Graded], task_id: int, qualification: str, now: dt.datetime
) -> dict[int, int]:
    storing = Storing(graded, task_id, qualification, now)
    sql = f'WITH {storing.ctes} SELECT "id", "worker_id" FROM "moved"'
    rows = OnboardingAgent._meta.database.execute_sql(sql, storing.params()).fetchall()
    return {int(agent_id): int(worker_id) for agent_id, worker_id in rows}
