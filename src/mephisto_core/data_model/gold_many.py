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


@dataclasses.dataclass(frozen=True, slots=True)
class GoldUnits:
    """What `make_gold_many` makes: per hello of the batch (by position) whether this process knew its worker's
    id (an unknown worker gets a gold unit only when the statement adds them: one it finds may have had units),
    and the gold item's index and inputs; the task, the index gold units have, the run's reward per unit and the
    time."""

    known: list[bool]
    gold_index: list[int]
    inputs: list[Any]
    task_id: int
    unit_index: int
    pay_amount: Any
    now: dt.datetime


#: a gold submission to store and grade: agent id, unit id, outputs, submit key, worker id, review kind, feedback,
#: and for a wrong answer, how many wrong answers of the worker the batch has (0 for a right one)
GoldSubmission = tuple[int, int, Any, str, int, str, str, int]


def make_gold_many(
    queries: PoolQueries,
    provider_type: str,
    hellos: Sequence[Hello],
    gold: GoldUnits,
    checked: Collection[str] = (),
    limit: UnitLimit | None = None,
    required: Sequence[Requirement] = (),
) -> Claimed:
    """A gold unit, already held, for each hello whose standing the batch's claim would admit (`ok_ctes`) and
    who could claim a unit of real work now: its assignment, unit and attempt, with the item of `gold` at the
    hello's position. Returns the hello position -> the gold unit made (with its worker's id), and how many hellos
    the standing check admitted."""
    statements = queries.statements()
    name = "gold" + ("_meeting" if meeting(hellos) else "") + ("_required" if required else "")
    _built(statements).setdefault(name, _make_gold_sql(statements, meeting(hellos), bool(required)))
    params = ok_params(queries, provider_type, hellos, gold.now, checked, limit, required)
    params += (list(range(len(hellos))), gold.known, gold.gold_index, [_JSON.db_value(v) for v in gold.inputs])
    params += (queries.run_id, _LAUNCHED)
    params += (queries.run_id, gold.now)
    params += (queries.run_id, gold.task_id, gold.unit_index, gold.pay_amount, _ASSIGNED, gold.now, gold.now)
    params += (queries.run_id, _IN_TASK, gold.now, gold.now, gold.now, queries.held_by)
    rows = _replanned(statements, name).execute(params).fetchall()
    index = gold.unit_index
    return _claimed([(k, unit_id, agent_id, index, inputs, wid) for k, unit_id, agent_id, inputs, wid in rows])


def complete_gold_many(
    queries: PoolQueries, submissions: Sequence[GoldSubmission], task_id: int, max_wrong: int, now: dt.datetime
) -> dict[int, bool]:
    """`complete_many` for gold submissions, each graded in the same statement (a review of its kind and feedback),
    as the usual way grades them. A wrong answer that would take its worker past `max_wrong` wrong answers in the
    task is left as it was: the usual way grades it and fails the worker. Agent id -> whether its unit moved, for
    the agents that moved; keys must be distinct (the caller's duty)."""
    statements = queries.statements()
    _built(statements).setdefault("complete_gold", _COMPLETE_GOLD)
    agent_ids, unit_ids, outputs, keys, workers, kinds, feedback, wrongs = _columns(submissions, 8)
    params: list[Any] = [agent_ids, unit_ids, [_JSON.db_value(v) for v in outputs], keys, workers, kinds, feedback]
    params += (wrongs, _IN_TASK, _ASSIGNED, _GOLD_WRONG, task_id, max_wrong)
    params += (AgentStatus.COMPLETED.value, now, now, agent_ids, UnitStatus.COMPLETED.value, now, task_id, now)
    rows = _replanned(statements, "complete_gold").execute(params).fetchall()
    return {int(agent_id): bool(unit_moved) for agent_id, unit_moved in rows}


def _make_gold_sql(st: _Statements, meeting: bool, required: bool) -> str:
    """The statement of `make_gold_many`: the assignment, unit and agent ids drawn from their sequences first, so
    that the three rows of each gold unit point at one another in one statement."""
    assignment_id, unit_id = _next_ids(st)
    # An unknown worker the claim found rather than added may have had units: only those it added get gold here.
    known_or_added = 'AND (g."known" OR r."fresh") ' if meeting else ""
    added_join = 'JOIN req r ON r."k" = o."k" ' if meeting else ""
    return (
        f"WITH {ok_ctes(st, meeting, required)}, "
        'gold ("k", "known", "gold_index", "inputs") AS (SELECT * FROM unnest(%s::integer[], %s::boolean[], '
        "%s::integer[], %s::text[])), "
        'due AS (SELECT o."k", o."wid", o."pagent", o."token", g."gold_index", g."inputs", '
        f'{assignment_id} AS "aid", {unit_id} AS "uid", {st.next_agent_id} AS "agent_id" '
        f'FROM ok o JOIN gold g ON g."k" = o."k" {added_join}'
        f"WHERE TRUE {known_or_added}"
        # a gold unit comes with real work only: a launched unit the worker may claim (`claimable_exists`)
        'AND EXISTS (SELECT 1 FROM "unit" c WHERE c."task_run_id" = %s AND c."status" = %s AND c."unit_index" >= 0 '
        'AND NOT EXISTS (SELECT 1 FROM "unit" t WHERE t."assignment_id" = c."assignment_id" '
        'AND +t."worker_id" = o."wid" OFFSET 0) LIMIT 1)), '
        'a AS (INSERT INTO "assignment" ("id", "task_run_id", "inputs", "gold_index", "created_at") '
        'SELECT d."aid", %s::integer, d."inputs", d."gold_index", %s::timestamp FROM due d), '
        'u AS (INSERT INTO "unit" ("id", "assignment_id", "task_run_id", "task_id", "unit_index", "pay_amount", '
        '"status", "worker_id", "agent_id", "updated_at", "created_at") '
        'SELECT d."uid", d."aid", %s::integer, %s::integer, %s::integer, %s::numeric, %s::varchar, d."wid", '
        'd."agent_id", %s::timestamp, %s::timestamp FROM due d), '
        f'n AS (INSERT INTO "agent" ({st.agent_columns}) '
        'SELECT d."agent_id", d."uid", d."aid", d."wid", %s::integer, %s::varchar, d."pagent", d."token", '
        "%s::timestamp, %s::timestamp, %s::timestamp, %s::varchar FROM due d) "
        'SELECT d."k", d."uid", d."agent_id", d."inputs", d."wid" FROM due d '
        f"UNION ALL SELECT {_ADMITTED}, (SELECT COUNT(*) FROM ok)::integer, NULL, NULL, NULL"
    )


def _next_ids(st: _Statements) -> tuple[str, str]:
    """`nextval` of the sequences of the assignment and unit ids, looked up once per statement text (as the
    claim's agent ids are)."""
    sql = "SELECT pg_get_serial_sequence('assignment', 'id'), pg_get_serial_sequence('unit', 'id')"
    assignment, unit = st.db.execute_sql(sql).fetchone()
    return tuple("nextval('{}'::regclass)".format(name.replace("'", "''")) for name in (assignment, unit))  # type: ignore[return-value]


#: `complete_gold_many`: `g` the submissions; `v` those `_complete_agents` may move, a wrong answer only while its
#: worker's wrong answers in the task, with the batch's, stay within the limit (counted through the review's
#: worker index); the reviews of the agents that moved are inserted in the same statement
_COMPLETE_GOLD = (
    'WITH g ("agent_id", "unit_id", "outputs", "submit_key", "wid", "kind", "feedback", "wrongs") AS (SELECT * FROM '
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
    'r AS (INSERT INTO "review" ("kind", "unit_id", "worker_id", "task_id", "feedback", "reviewer", "created_at") '
    'SELECT g."kind", g."unit_id", g."wid", %s::integer, g."feedback", \'\', %s::timestamp '
    'FROM a JOIN g ON g."agent_id" = a."id") '
    'SELECT a."id", a."unit_id" IN (SELECT "id" FROM u) FROM a'
)
