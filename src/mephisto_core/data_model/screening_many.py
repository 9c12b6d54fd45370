"""Submissions of a run with screening, many at once: each stored and, for a worker not screened yet, graded
as the usual way grades it (quality_checks.py: a `screen_pass` or `screen_fail`
review, `<task>-screened` = 0 on a fail, = 1 once the screened units all passed with no validator error), where the
usual way takes six to eight round trips per submission on PostgreSQL. There one statement does it all and commits
on its own, so a submission stored is always graded; SQLite takes a few statements in the writer's transaction.

The verdicts come from the researcher's validator, run by the caller before the statement for every submission;
the statement reads each worker's grant and uses the verdict only for a worker without one, as the usual way runs
the validator only then.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import peewee as pw

from mephisto_core.data_model.models import Agent, Review, Unit
from mephisto_core.data_model.onboarding_many import grant_many
from mephisto_core.data_model.pool_sql import _ASSIGNED, _IN_TASK, _JSON, PoolQueries
from mephisto_core.data_model.pool_sql_many import _built, _columns, _complete_agents, _replanned, complete_many
from mephisto_core.data_model.qualifications import granted_values
from mephisto_core.data_model.statuses import SUBMITTED_UNIT_STATUSES, AgentStatus, ReviewKind, UnitStatus

#: a submission of a run with screening: agent id, unit id, outputs, submit key, whether the validator passed it
ScreenedSubmission = tuple[int, int, Any, str, bool]


@dataclasses.dataclass(frozen=True, slots=True)
class Screened:
    """What `complete_screened_many` did: agent id -> whether its unit moved, of the submissions stored; and the
    grants of `<task>-screened` it made (agent id of the submission -> (worker id, value))."""

    moved: dict[int, bool]
    granted: dict[int, tuple[int, int]]


@dataclasses.dataclass(frozen=True, slots=True)
class Screening:
    """A run's screening, as the statements take it: its qualification (`<task>-screened`, which must exist), how
    many first units of the task it screens, and the task."""

    qualification: str
    units: int
    task_id: int


def complete_screened_many(
    queries: PoolQueries, submissions: Sequence[ScreenedSubmission], screening: Screening, now: dt.datetime
) -> Screened:
    """Store the submissions (as `complete_many`), and grade those of workers without a grant of the screening's
    qualification as the usual way does. At most one submission per worker (a run where a worker holds one unit at
    a time), and keys distinct (the caller's duty)."""
    statements = queries.statements()
    if not statements.postgres:
        return _complete_screened_sqlite(queries, submissions, screening, now)
    _built(statements).setdefault("complete_screened", _COMPLETE_SCREENED)
    qualification, units, task_id = screening.qualification, screening.units, screening.task_id
    agent_ids, unit_ids, outputs, keys, passed = _columns(submissions, 5)
    params: list[Any] = [agent_ids, unit_ids, [_JSON.db_value(v) for v in outputs], keys, passed]
    params += (qualification, task_id, sorted(s.value for s in SUBMITTED_UNIT_STATUSES), task_id)
    params += (ReviewKind.SCREEN_ERROR.value, _IN_TASK, _ASSIGNED)
    params += (AgentStatus.COMPLETED.value, now, now, agent_ids, UnitStatus.COMPLETED.value, now)
    params += (ReviewKind.SCREEN_PASS.value, ReviewKind.SCREEN_FAIL.value, task_id, now, units)
    params += (qualification, now, now)
    rows = _replanned(statements, "complete_screened").execute(params).fetchall()
    screened = Screened({}, {})
    for agent_id, unit_moved, worker_id, value in rows:
        screened.moved[int(agent_id)] = bool(unit_moved)
        if value is not None:
            screened.granted[int(agent_id)] = (int(worker_id), int(value))
    return screened


def _complete_screened_sqlite(
    queries: PoolQueries, submissions: Sequence[ScreenedSubmission], screening: Screening, now: dt.datetime
) -> Screened:
    """SQLite, in the writer's transaction: the steps of PostgreSQL's statement, a statement each (the standing is
    read after the completion here, so the units submitted count this one)."""
    qualification, units, task_id = screening.qualification, screening.units, screening.task_id
    moved = complete_many(queries, [(agent, unit, outputs, key) for agent, unit, outputs, key, _ in submissions], now)
    screened = Screened(moved, {})
    if not moved:
        return screened
    workers = {
        int(a): int(w) for a, w in Agent.select(Agent.id, Agent.worker).where(Agent.id.in_(list(moved))).tuples()
    }
    granted = granted_values(sorted(set(workers.values())), [qualification])
    grading = {agent: worker for agent, worker in workers.items() if (worker, qualification) not in granted}
    if not grading:
        return screened
    ids = sorted(set(grading.values()))
    done = dict(
        Unit.select(Unit.worker, pw.fn.COUNT(Unit.id))
        .where(
            (Unit.task == task_id)
            & Unit.worker.in_(ids)
            & (Unit.unit_index >= 0)
            & Unit.status.in_([s.value for s in SUBMITTED_UNIT_STATUSES])
        )
        .group_by(Unit.worker)
        .tuples()
    )
    errors = Review.select(Review.worker).where(
        Review.worker.in_(ids) & (Review.task == task_id) & (Review.kind == ReviewKind.SCREEN_ERROR.value)
    )
    erred = {int(worker) for (worker,) in errors.tuples()}
    rows = {row[0]: row for row in submissions}
    kinds = {True: ReviewKind.SCREEN_PASS.value, False: ReviewKind.SCREEN_FAIL.value}
    Review.insert_many(
        [(kinds[rows[a][4]], rows[a][1], w, task_id, "", "", now) for a, w in grading.items()],
        fields=[
            Review.kind,
            Review.unit,
            Review.worker,
            Review.task,
            Review.feedback,
            Review.reviewer,
            Review.created_at,
        ],
    ).execute()
    for agent, worker in grading.items():
        if not rows[agent][4]:
            screened.granted[agent] = (worker, 0)
        elif done.get(worker, 0) >= units and worker not in erred:
            screened.granted[agent] = (worker, 1)
    grant_many(qualification, dict(screened.granted.values()), now)
    return screened


#: `s` the submissions with their workers; `held` each one's worker's standing in the screening before the
#: statement (their grant, the task's units they submitted, whether a validator raised on one), read through the
#: same indexes as the usual way's reads; `v`, `a`, `u` the completion (`_complete_agents`); `graded` the review of
#: each moved submission of a worker without a grant; `granting` what it grants (0 on a fail; 1 on a pass that makes
#: the screened units all submitted, counting this one, with no validator error), made in `granted` as
#: `grant_qualification` makes a grant
_COMPLETE_SCREENED = (
    'WITH p ("agent_id", "unit_id", "outputs", "submit_key", "passed") AS (SELECT * FROM unnest('
    "%s::integer[], %s::integer[], %s::text[], %s::varchar[], %s::boolean[])), "
    's AS (SELECT p.*, (SELECT w."worker_id" FROM "agent" w WHERE w."id" = p."agent_id") AS "wid" FROM p), '
    'held AS (SELECT s.*, (SELECT g."value" FROM "granted_qualification" g JOIN "qualification" q '
    'ON q."id" = g."qualification_id" WHERE g."worker_id" = s."wid" AND q."name" = %s) AS "screened", '
    '(SELECT COUNT(*) FROM "unit" t WHERE t."task_id" = %s AND t."worker_id" = s."wid" AND t."unit_index" >= 0 '
    'AND t."status" = ANY(%s::varchar[])) AS "done", EXISTS (SELECT 1 FROM "review" e WHERE e."worker_id" = s."wid" '
    'AND e."task_id" = %s AND e."kind" = %s) AS "erred" FROM s), '
    'v ("in_task", "assigned", "agent_id", "unit_id", "outputs", "submit_key") AS (SELECT %s::varchar, '
    '%s::varchar, h."agent_id", h."unit_id", h."outputs", h."submit_key" FROM held h OFFSET 0), '
    f"a AS ({_complete_agents('%s', postgres=True)} "
    'RETURNING "agent"."id", "agent"."unit_id", v."assigned"), '
    'u AS (UPDATE "unit" SET "status" = %s, "updated_at" = %s FROM a '
    'WHERE "unit"."id" = a."unit_id" AND "unit"."status" = a."assigned" RETURNING "unit"."id"), '
    'graded AS (INSERT INTO "review" ("kind", "unit_id", "worker_id", "task_id", "feedback", "reviewer", '
    '"created_at") SELECT CASE WHEN h."passed" THEN %s ELSE %s END, h."unit_id", h."wid", %s::integer, \'\', '
    '\'\', %s::timestamp FROM a JOIN held h ON h."agent_id" = a."id" WHERE h."screened" IS NULL), '
    'granting AS (SELECT h."agent_id", h."wid", CASE WHEN h."passed" THEN 1 ELSE 0 END AS "value" FROM a '
    'JOIN held h ON h."agent_id" = a."id" WHERE h."screened" IS NULL AND (NOT h."passed" OR '
    '(h."done" + 1 >= %s AND NOT h."erred"))), '
    'granted AS (INSERT INTO "granted_qualification" ("worker_id", "qualification_id", "value", "granted_at", '
    '"updated_at") SELECT g."wid", (SELECT "id" FROM "qualification" WHERE "name" = %s), g."value", '
    "%s::timestamp, %s::timestamp FROM granting g "
    'ON CONFLICT ("worker_id", "qualification_id") DO UPDATE SET "value" = EXCLUDED."value", '
    '"updated_at" = CASE WHEN "granted_qualification"."value" <> EXCLUDED."value" THEN EXCLUDED."updated_at" '
    'ELSE "granted_qualification"."updated_at" END) '
    'SELECT a."id", a."unit_id" IN (SELECT "id" FROM u), g."wid", g."value" FROM a '
    'LEFT JOIN granting g ON g."agent_id" = a."id"'
)
