"""Gold units of many workers at once, on PostgreSQL: a batch's hellos due for a gold unit get theirs in one
statement, and a batch's gold submissions are stored and graded in one (the usual way takes about ten round trips
per gold hello and six per gold submission). Each statement commits on its own, so a gold submission stored is
always graded.

The hellos' standing is checked as the batch's claim checks it (`pool_sql_many.ok_ctes`), and a gold unit is made
only while the worker could claim a unit of real work, as the usual way requires.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection, Sequence
from typing import Any

from mephisto_core.data_model.pool_sql import _ASSIGNED, _IN_TASK, _JSON, _LAUNCHED, PoolQueries, _Statements
from mephisto_core.data_model.pool_sql_many import (
    _ADMITTED,
    Claimed,
    Hello,
    Requirement,
    UnitLimit,
    _built,
    _claimed,
    _columns,
    _complete_agents,
    _replanned,
    meeting,
    ok_ctes,
    ok_params,
)
from mephisto_core.data_model.statuses import AgentStatus, ReviewKind, UnitStatus

_GOLD_WRONG = ReviewKind.GOLD_WRONG.value
#: the hello position of a row of `make_gold_many` that is a gold submission stored (`GoldCompletions`)
_COMPLETED = -2

#: a gold submission to store and grade: agent id, unit id, outputs, submit key, worker id, review kind, feedback,
#: and for a wrong answer, how many wrong answers of the worker the batch has (0 for a right one)
GoldSubmission = tuple[int, int, Any, str, int, str, str, int]


@dataclasses.dataclass(frozen=True, slots=True)
class GoldUnits:
    """What `make_gold_many` gives: the run's gold items in order (index, inputs), every how many attempts a worker
    is due for one, the task, the index gold units have, the run's reward per unit and the time."""

    items: Sequence[tuple[int, Any]]
    every: int
    task_id: int
    unit_index: int
    pay_amount: Any
    now: dt.datetime


@dataclasses.dataclass
class GoldMade:
    """What `make_gold_many` did: the gold units made (hello position -> unit, with `admitted`, the hellos the
    standing check admitted), each one's gold item index, and the hellos whose worker is not due for a gold unit
    (position -> worker id), which claim a unit of real work."""

    units: Claimed
    gold_index: dict[int, int]
    not_due: dict[int, int]
    #: with `GoldCompletions`: agent id -> whether its unit moved, of the gold submissions stored
    completed: dict[int, bool] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class GoldCompletions:
    """Gold submissions to store and grade (`complete_gold_many`): the rows, the task, the most wrong answers a
    worker may give in it, and the time."""

    rows: Sequence[GoldSubmission]
    task_id: int
    max_wrong: int
    now: dt.datetime

    def params(self) -> list[Any]:
        """The parameters of `_COMPLETE_GOLD_CTES`, in its order."""
        agent_ids, unit_ids, outputs, keys, workers, kinds, feedback, wrongs = _columns(self.rows, 8)
        now, task_id = self.now, self.task_id
        params: list[Any] = [agent_ids, unit_ids, [_JSON.db_value(v) for v in outputs], keys, workers, kinds]
        params += (feedback, wrongs, _IN_TASK, _ASSIGNED, _GOLD_WRONG, task_id, self.max_wrong)
        params += (AgentStatus.COMPLETED.value, now, now, agent_ids, UnitStatus.COMPLETED.value, now, task_id, now)
        return params


def make_gold_many(
    queries: PoolQueries,
    provider_type: str,
    hellos: Sequence[Hello],
    gold: GoldUnits,
    checked: Collection[str] = (),
    limit: UnitLimit | None = None,
    required: Sequence[Requirement] = (),
    completing: GoldCompletions | None = None,
) -> GoldMade:
    """For each hello whose worker is due for a gold unit (`quality_checks.gold_due`: their attempts of the run
    read here) with an item they have not seen, whose standing the batch's claim would admit (`ok_ctes`) and who
    could claim a unit of real work now: the gold unit, already held (its assignment, unit and attempt), of the
    first such item. The workers this process has not met are found or added in the same statement. The hellos of
    workers not due are told apart; the others (due, but refused or with no work left) are in neither. With
    `completing`, the batch's gold submissions are stored and graded in the same round trip (`complete_gold_many`);
    neither part reads what the other changes."""
    statements = queries.statements()
    name = "gold" + ("_meeting" if meeting(hellos) else "") + ("_required" if required else "")
    name += "_completing" if completing is not None else ""
    built = _built(statements)
    if name not in built:  # built once per form: it looks the id sequences up (a round trip)
        built[name] = _make_gold_sql(statements, meeting(hellos), bool(required), completing is not None)
    run = queries.run_id
    params = ok_params(queries, provider_type, hellos, gold.now, checked, limit, required)
    params += ([index for index, _ in gold.items], [_JSON.db_value(inputs) for _, inputs in gold.items])
    params += (run, gold.task_id, run, gold.every, run, _LAUNCHED, run, gold.now)
    params += (run, gold.task_id, gold.unit_index, gold.pay_amount, _ASSIGNED, gold.now, gold.now)
    params += (run, _IN_TASK, gold.now, gold.now, gold.now, queries.held_by)
    if completing is not None:
        params += completing.params()
    rows = _replanned(statements, name).execute(params).fetchall()
    index = gold.unit_index
    made = GoldMade(Claimed(), {}, {})
    for k, unit_id, agent_id, inputs, wid, gold_index in rows:
        if k == _COMPLETED:  # (agent id, whether its unit moved)
            made.completed[int(unit_id)] = bool(agent_id)
        elif unit_id is None:
            made.not_due[int(k)] = int(wid)
        elif k == _ADMITTED:
            made.units.admitted = int(unit_id)
        else:
            made.units.update(_claimed([(k, unit_id, agent_id, index, inputs, wid)]))
            made.gold_index[int(k)] = int(gold_index)
    return made


def complete_gold_many(queries: PoolQueries, submissions: GoldCompletions) -> dict[int, bool]:
    """`complete_many` for gold submissions, each graded in the same statement (a review of its kind and feedback),
    as the usual way grades them. A wrong answer that would take its worker past `max_wrong` wrong answers in the
    task is left as it was: the usual way grades it and fails the worker. Agent id -> whether its unit moved, for
    the agents that moved; keys must be distinct (the caller's duty)."""
    statements = queries.statements()
    _built(statements).setdefault("complete_gold", f'WITH {_COMPLETE_GOLD_CTES} SELECT a."id", {_MOVED} FROM a')
    rows = _replanned(statements, "complete_gold").execute(submissions.params()).fetchall()
    return {int(agent_id): bool(unit_moved) for agent_id, unit_moved in rows}


def _make_gold_sql(st: _Statements, meeting: bool, required: bool, completing: bool) -> str:
    """The statement of `make_gold_many`. Each worker's gold standing is read per hello (their attempts of the run
    through the agent's worker index, the gold items of their units through the unit's (task, worker) index); the
    assignment, unit and agent ids are drawn from their sequences first, so that the three rows of each gold unit
    point at one another in one statement."""
    assignment_id, unit_id = _next_ids(st)
    return (
        f"WITH {ok_ctes(st, meeting, required)}, "
        'items ("gold_index", "inputs", "ord") AS (SELECT * FROM unnest(%s::integer[], %s::text[]) '
        "WITH ORDINALITY), "
        'standing AS (SELECT r."k", r."wid", (SELECT COUNT(*) FROM "agent" a WHERE a."worker_id" = r."wid" '
        'AND +a."task_run_id" = %s) AS "given", ARRAY(SELECT s."gold_index" FROM "unit" t JOIN "assignment" s '
        'ON s."id" = t."assignment_id" WHERE t."task_id" = %s AND t."worker_id" = r."wid" AND t."task_run_id" = %s '
        'AND s."gold_index" IS NOT NULL) AS "seen" FROM req r WHERE r."wid" IS NOT NULL), '
        # the first item not seen, for a worker due (the usual way's `next_gold_item`)
        'owed AS (SELECT s."k", i."gold_index", i."inputs" FROM standing s JOIN LATERAL (SELECT * FROM items i '
        'WHERE mod(s."given", %s) = 0 AND i."gold_index" <> ALL(s."seen") ORDER BY i."ord" LIMIT 1) i ON TRUE), '
        'due AS (SELECT o."k", o."wid", o."pagent", o."token", w."gold_index", w."inputs", '
        f'{assignment_id} AS "aid", {unit_id} AS "uid", {st.next_agent_id} AS "agent_id" '
        'FROM ok o JOIN owed w ON w."k" = o."k" '
        # a gold unit comes with real work only: a launched unit the worker may claim (`claimable_exists`)
        'WHERE EXISTS (SELECT 1 FROM "unit" c WHERE c."task_run_id" = %s AND c."status" = %s AND c."unit_index" >= 0 '
        'AND NOT EXISTS (SELECT 1 FROM "unit" t WHERE t."assignment_id" = c."assignment_id" '
        'AND +t."worker_id" = o."wid" OFFSET 0) LIMIT 1)), '
        'ga AS (INSERT INTO "assignment" ("id", "task_run_id", "inputs", "gold_index", "created_at") '
        'SELECT d."aid", %s::integer, d."inputs", d."gold_index", %s::timestamp FROM due d), '
        'gu AS (INSERT INTO "unit" ("id", "assignment_id", "task_run_id", "task_id", "unit_index", "pay_amount", '
        '"status", "worker_id", "agent_id", "updated_at", "created_at") '
        'SELECT d."uid", d."aid", %s::integer, %s::integer, %s::integer, %s::numeric, %s::varchar, d."wid", '
        'd."agent_id", %s::timestamp, %s::timestamp FROM due d), '
        f'gn AS (INSERT INTO "agent" ({st.agent_columns}) '
        'SELECT d."agent_id", d."uid", d."aid", d."wid", %s::integer, %s::varchar, d."pagent", d."token", '
        "%s::timestamp, %s::timestamp, %s::timestamp, %s::varchar FROM due d)"
        + (f", {_COMPLETE_GOLD_CTES} " if completing else " ")
        + 'SELECT d."k", d."uid", d."agent_id", d."inputs", d."wid", d."gold_index" FROM due d '
        # the hellos of workers not due, with the id found or added
        'UNION ALL SELECT s."k", NULL, NULL, NULL, s."wid", NULL FROM standing s '
        'WHERE NOT EXISTS (SELECT 1 FROM owed w WHERE w."k" = s."k") '
        f"UNION ALL SELECT {_ADMITTED}, (SELECT COUNT(*) FROM ok)::integer, NULL, NULL, NULL, NULL"
        + (
            f' UNION ALL SELECT {_COMPLETED}, a."id", ({_MOVED})::integer, NULL, NULL, NULL FROM a'
            if completing
            else ""
        )
    )


def _next_ids(st: _Statements) -> tuple[str, str]:
    """`nextval` of the sequences of the assignment and unit ids, looked up once per statement text (as the
    claim's agent ids are)."""
    sql = "SELECT pg_get_serial_sequence('assignment', 'id'), pg_get_serial_sequence('unit', 'id')"
    assignment, unit = st.db.execute_sql(sql).fetchone()
    return tuple("nextval('{}'::regclass)".format(name.replace("'", "''")) for name in (assignment, unit))  # type: ignore[return-value]


#: `complete_gold_many`: `g` the submissions; `v` those `_complete_agents` may move, a wrong answer only while its
#: worker's wrong answers in the task, with the batch's, stay within the limit (counted through the review's
#: worker index); the reviews of the agents that moved are inserted in the same statement (`graded`)
_COMPLETE_GOLD_CTES = (
    'g ("agent_id", "unit_id", "outputs", "submit_key", "wid", "kind", "feedback", "wrongs") AS (SELECT * FROM '
    "unnest(%s::integer[], %s::integer[], %s::text[], %s::varchar[], %s::integer[], %s::varchar[], %s::text[], "
    "%s::integer[])), "
    'v ("in_task", "assigned", "agent_id", "unit_id", "outputs", "submit_key") AS (SELECT %s::varchar, '
    '%s::varchar, g."agent_id", g."unit_id", g."outputs", g."submit_key" FROM g WHERE g."wrongs" = 0 OR '
    '(SELECT COUNT(*) FROM "review" r JOIN "unit" t ON t."id" = r."unit_id" WHERE r."worker_id" = g."wid" '
    'AND r."kind" = %s AND t."task_id" = %s) + g."wrongs" <= %s OFFSET 0), '
    f"a AS ({_complete_agents('%s', postgres=True)} "
    'RETURNING "agent"."id", "agent"."unit_id", v."assigned"), '
    'u AS (UPDATE "unit" SET "status" = %s, "updated_at" = %s FROM a '
    'WHERE "unit"."id" = a."unit_id" AND "unit"."status" = a."assigned" RETURNING "unit"."id"), '
    'graded AS (INSERT INTO "review" ("kind", "unit_id", "worker_id", "task_id", "feedback", "reviewer", '
    '"created_at") SELECT g."kind", g."unit_id", g."wid", %s::integer, g."feedback", \'\', %s::timestamp '
    'FROM a JOIN g ON g."agent_id" = a."id")'
)
#: whether the unit of a stored gold submission (a row of `a`) moved
_MOVED = 'a."unit_id" IN (SELECT "id" FROM u)'
