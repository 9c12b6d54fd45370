"""The worker pool's claims and completions of many at once: a batch's quick hellos and submissions
(operations/run/pool_groups.py) in a few set-based statements instead of a few statements each.

PostgreSQL claims in one statement (standing, units, agents) and completes in one. The hellos and submissions go as
one array per column: one text whatever the batch's size. Both run prepared, and are prepared again each time their
executions double (`replanned.Replanned`): planning was a quarter of their time on the server, but a plan kept
from a run's first batches, made while its tables were small, read whole tables once they had grown.

SQLite, whose common table expressions cannot write, reads the hellos that may claim and the oldest launched units
(one statement each), pairs them here in order (skipping a unit of an assignment its worker had, read in a third),
then takes the units and inserts the agents in one statement each. Its VALUES rows and IN lists come in a few
padded sizes, so that these statements stay prepared rather than being compiled again for each batch size.

The conditions are those of `PoolQueries.standing_and_claim` and `PoolQueries.complete`. SQLite before 3.35 (no
RETURNING) runs each hello and submission on its own (`runs_many` is False).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from mephisto_core.data_model import onboarding_many
from mephisto_core.data_model.pool_sql import (
    _ASSIGNED,
    _IN_TASK,
    _JSON,
    _LAUNCHED,
    SQLITE_HAS_RETURNING,
    ClaimedUnit,
    PoolQueries,
    _sqlite_text,
    _Statements,
)
from mephisto_core.data_model.replanned import Replanned
from mephisto_core.data_model.statuses import SUBMITTED_UNIT_STATUSES, AgentStatus, ReviewKind, UnitStatus
from mephisto_core.errors import DatabaseError

#: worker name, the id it had when last seen (PostgreSQL: None for a worker this process has not met, whom the claim
#: finds or adds itself), provider's agent id, token
Hello = tuple[str, int | None, str | None, str]
Submission = tuple[int, int, Any, str]  # agent id, unit id, outputs, submit key
#: the per-worker unit limit PostgreSQL's claim checks itself: (task id, the most units of the task a worker may
#: hold or have submitted)
UnitLimit = tuple[int, int]
#: a requirement PostgreSQL's claim checks itself: (qualification name, comparator as in the task file's
#: `[[task.qualifications]]`, its integer value or None, its list of values or None); or the run's screening:
#: (`<task>-screened`, `SCREENING`, the units it screens, [the task's id])
Requirement = tuple[str, str, int | None, list[int] | None]
#: the comparator of the run's screening as a `Requirement` (the usual way's `_standing_refusal` and
#: `quality_checks.screening_pending`: screened, or not yet and not waiting for a person)
SCREENING = "screening"
#: the units a per-worker limit counts (here and in `WorkerPool.units_done`)
LIMITED_STATUSES = [UnitStatus.ASSIGNED.value, *sorted(s.value for s in SUBMITTED_UNIT_STATUSES)]


class Claimed(dict[int, ClaimedUnit]):
    """A claim of many: hello position -> its claimed unit, for those that got one; `admitted`, how many of the
    hellos the claim found free to take a unit (their worker's standing let them), got one or not. Fewer units
    than that means the run ran short; fewer hellos admitted, that some were left to the usual way."""

    admitted: int = 0


class WorkerIds(dict[str, int]):
    """Worker name -> id; `created`, the names whose row was made by the statement that found them (a worker
    with nothing granted or held yet); `started`, of those, the ones whose onboarding test the same statement
    started (`AttemptsToStart`): name -> (the attempt's id, its token)."""

    def __init__(self, ids: dict[str, int] | None = None, created: set[str] | None = None) -> None:
        super().__init__(ids or {})
        self.created: set[str] = created or set()
        self.started: dict[str, tuple[int, str]] = {}


@dataclasses.dataclass(frozen=True)
class AttemptsToStart:
    """PostgreSQL: start the onboarding test of each worker `worker_ids_many` adds, in the same statement (an
    attempt in task of `task_id` in `run_id`, with the name's token from `tokens`)."""

    task_id: int
    run_id: int
    tokens: Mapping[str, str]


def runs_many(queries: PoolQueries) -> bool:
    """Whether this database runs claims and completions of many at once."""
    return queries.statements().postgres or SQLITE_HAS_RETURNING


def claim_many(
    queries: PoolQueries,
    provider_type: str,
    hellos: Sequence[Hello],
    now: dt.datetime,
    checked: Collection[str] = (),
    limit: UnitLimit | None = None,
    required: Sequence[Requirement] = (),
) -> Claimed:
    """A unit for each hello whose standing leaves nothing to decide (no agent held in the run, none of its
    qualifications granted but those in `checked`, which the caller judged itself), oldest units first, none of an
    assignment the worker had a unit of. Returns the position in `hellos` -> its claimed unit, for those that got
    one. At most one hello per worker: every standing is read before any claim. PostgreSQL also leaves out the
    workers at the per-worker unit `limit` and those who do not meet the `required` qualifications (the names
    in `checked`); on SQLite the caller does both."""
    statements = queries.statements()
    sql = _built(statements)
    if statements.postgres:
        claim = _replanned(statements, _variant("claim", hellos, required))
        claim_params = ok_params(queries, provider_type, hellos, now, checked, limit, required)
        claim_params += _claim_tail(queries, now)
        return _claimed(claim.execute(claim_params).fetchall())
    run = queries.run_id
    names = _checked_names(queries, checked)
    params: list[Any] = []
    for position, (name, worker_id, _, _) in enumerate(hellos):
        params += (position, name, worker_id)
    values, padding = _sized_rows("(?, ?, ?)", 3, len(hellos))
    params += (*padding, provider_type, _IN_TASK, run, *names)
    ok = queries.db_execute(sql["ok"].format(values=values), params).fetchall()
    claimed = Claimed()
    claimed.admitted = len(ok)
    if not ok:
        return claimed
    units = queries.db_execute(sql["units"], (run, _LAUNCHED, len(ok))).fetchall()
    # Paired in order here, each pair kept unless the worker had a unit of the unit's assignment: SQLite joined
    # the two numbered lists with a nested loop (quadratic in the batch).
    # Only the picked units' assignments matter: their few units are read, not every unit the workers had.
    workers = sorted({int(worker_id) for _, worker_id in ok[: len(units)]})
    assignments = sorted({int(unit[1]) for unit in units})
    had = set(_had(queries, sql["had"], assignments, workers) if workers else ())
    pairs = [
        (k, worker_id, *unit)
        for (k, worker_id), unit in zip(ok, units, strict=False)
        if (worker_id, unit[1]) not in had
    ]
    if not pairs:
        return claimed
    # This transaction is the database's only writer until it commits: the next agent ids are free.
    first_id = int(queries.db_execute('SELECT COALESCE(MAX("id"), 0) + 1 FROM "agent"', ()).fetchone()[0])
    when = _sqlite_text(now)
    take: list[Any] = []
    agents: list[Any] = []
    for agent_id, (k, worker_id, unit_id, assignment_id, unit_index, inputs) in enumerate(pairs, first_id):
        _, _, provider_agent_id, token = hellos[k]
        take += (unit_id, worker_id, agent_id)
        agents += (agent_id, unit_id, assignment_id, worker_id, run, _IN_TASK, provider_agent_id, token)
        agents += (when, when, when, queries.held_by)
        claimed[int(k)] = ClaimedUnit(int(unit_id), agent_id, int(unit_index), _JSON.python_value(inputs))
    values, padding = _sized_rows("(?, ?, ?)", 3, len(pairs))
    taken = queries.db_execute(
        sql["take"].format(values=values), [*take, *padding, _ASSIGNED, when, _LAUNCHED]
    ).fetchall()
    if len(taken) != len(pairs):  # read as launched a moment ago in this transaction: never expected
        raise DatabaseError(f"{len(pairs) - len(taken)} of {len(pairs)} units picked to claim were not launched")
    values, padding = _sized_rows(_SQLITE_AGENT, _AGENT_WIDTH, len(pairs))
    queries.db_execute(sql["agents"].format(values=values), [*agents, *padding])
    return claimed


def worker_ids_many(
    queries: PoolQueries,
    provider_type: str,
    names: Sequence[str],
    now: dt.datetime,
    tests: AttemptsToStart | None = None,
    storing: onboarding_many.Storing | None = None,
) -> WorkerIds:
    """The ids of the workers `names` of this provider, creating those seen for the first time (the usual way's
    `add_worker`; they are `created`). A name another process creates at the same moment is left out: its hello
    goes the usual way. With `tests` (PostgreSQL only), the created workers' onboarding tests start in the same
    round trip (`started`), and with `storing` too, the batch's onboarding submissions are stored in it (its
    `moved` set)."""
    statements = queries.statements()
    sql = _built(statements)
    param = "%s" if statements.postgres else "?"
    # Padded on both databases, for one code path; it is SQLite that keeps them prepared by it (the first hellos of
    # thousands of workers come in batches of every size).
    names_in, padding = _sized_rows(param, 1, len(names))
    if statements.postgres:  # found and added (and their tests started) in one round trip
        when_rows, row_padding = _sized_rows("(%s, %s, %s)", 3, len(names))
        params = [value for name in names for value in (provider_type, name, now)]
        statement = "find_or_add_workers"
        starting: list[Any] = []  # the parameters of what the statement does besides
        if tests is not None:
            statement = "find_or_add_workers_starting"
            started_names = list(tests.tokens)
            tokens = [tests.tokens[name] for name in started_names]
            starting = [tests.task_id, tests.run_id, _IN_TASK, now, started_names, tokens]
            if storing is not None:
                statement = "find_or_add_workers_starting_storing"
                starting += storing.params()
        rows = queries.db_execute(
            sql[statement].format(values=when_rows, names=names_in),
            [*params, *row_padding, *starting, provider_type, *names, *padding],
        ).fetchall()
        if tests is not None and storing is not None:  # a stored test's row: (its id, no name, -, its worker's id)
            storing.moved = {int(row[0]): int(row[3]) for row in rows if row[1] is None}
            rows = [row for row in rows if row[1] is not None]
        ids = WorkerIds({str(row[1]): int(row[0]) for row in rows}, {str(name) for _, name, made, *_ in rows if made})
        if tests is not None:
            ids.started = {str(name): (int(test), tests.tokens[name]) for _, name, _, test in rows if test}
        return ids
    found = queries.db_execute(sql["workers"].format(names=names_in), [provider_type, *names, *padding]).fetchall()
    ids = WorkerIds({str(name): int(worker_id) for worker_id, name in found})
    missing = [name for name in names if name not in ids]
    if missing:
        when = now if statements.postgres else _sqlite_text(now)
        rows, padding = _sized_rows(f"({param}, {param}, {param})", 3, len(missing))
        params = [value for name in missing for value in (provider_type, name, when)]
        added = queries.db_execute(sql["add_workers"].format(values=rows), [*params, *padding]).fetchall()
        ids.update({str(name): int(worker_id) for worker_id, name in added})
        ids.created = {str(name) for _, name in added}
    return ids


def complete_many(queries: PoolQueries, submissions: Sequence[Submission], now: dt.datetime) -> dict[int, bool]:
    """`complete` for many: for each agent that moved to completed, whether its unit moved too. Agents and keys
    must be distinct (the caller's duty): a key used twice fails the statement on the unique index."""
    statements = queries.statements()
    sql = _built(statements)
    if statements.postgres:
        rows = _replanned(statements, "complete").execute(_complete_params(submissions, now)).fetchall()
        return {int(agent_id): bool(unit_moved) for agent_id, unit_moved in rows}
    completed, unit_completed = AgentStatus.COMPLETED.value, UnitStatus.COMPLETED.value
    params: list[Any] = []
    for agent_id, unit_id, output, submit_key in submissions:
        params += (agent_id, unit_id, _JSON.db_value(output), submit_key)
    when = _sqlite_text(now)
    values, padding = _sized_rows("(?, ?, ?, ?)", 4, len(submissions))
    params += (*padding, completed, when, when, _IN_TASK)
    moved = queries.db_execute(sql["complete_agents"].format(values=values), params)
    unit_of = {int(agent_id): int(unit_id) for agent_id, unit_id in moved.fetchall()}
    if not unit_of:
        return {}
    ids, padding = _sized_rows("?", 1, len(unit_of))
    units = queries.db_execute(
        sql["complete_units"].format(ids=ids), [unit_completed, when, *unit_of.values(), *padding, _ASSIGNED]
    ).fetchall()
    units_moved = {int(unit_id) for (unit_id,) in units}
    return {agent_id: unit_id in units_moved for agent_id, unit_id in unit_of.items()}


def claim_and_complete_many(
    queries: PoolQueries,
    provider_type: str,
    hellos: Sequence[Hello],
    submissions: Sequence[Submission],
    now: dt.datetime,
    checked: Collection[str] = (),
    limit: UnitLimit | None = None,
    required: Sequence[Requirement] = (),
) -> tuple[Claimed, dict[int, bool]]:
    """`claim_many` and `complete_many` of one batch: on PostgreSQL in one statement, one round trip instead of
    two (1.00-1.06x units/s at 100 workers on one machine, 4-6 % less operator CPU per unit). Both see the database
    as it was before the statement, and neither needs the other's changes: they change different rows (launched
    units and new agents; agents in task and their assigned units). The one hello that sees a difference, from a
    worker completing a unit in the same statement, still finds that agent in task: it is left to the usual way,
    which runs after and gives the next unit."""
    if not queries.statements().postgres or not hellos or not submissions:
        claimed = claim_many(queries, provider_type, hellos, now, checked, limit, required) if hellos else Claimed()
        return claimed, complete_many(queries, submissions, now) if submissions else {}
    claim = ok_params(queries, provider_type, hellos, now, checked, limit, required) + _claim_tail(queries, now)
    params = [*claim, *_complete_params(submissions, now)]
    rows = _replanned(queries.statements(), _variant("claim_complete", hellos, required)).execute(params).fetchall()
    # A completion's row has no hello position (NULL), and whether the unit moved where a claim has its index.
    moved = {int(agent_id): bool(unit_moved) for k, agent_id, _, unit_moved, _, _ in rows if k is None}
    return _claimed([row for row in rows if row[0] is not None]), moved


def _checked_names(queries: PoolQueries, checked: Collection[str]) -> tuple[str | None, ...]:
    """The run's qualification names for the claim's check; a checked name becomes NULL in the statement's IN
    list, which no qualification's name equals."""
    return tuple(None if name in checked else name for name in queries.qualification_names)


def _claim_tail(queries: PoolQueries, now: dt.datetime) -> list[Any]:
    """PostgreSQL's claim's parameters after those of its `ok_ctes` (`ok_params`)."""
    run = queries.run_id
    return [run, _LAUNCHED, _ASSIGNED, now, run, _IN_TASK, now, now, now, queries.held_by]


def ok_params(
    queries: PoolQueries,
    provider_type: str,
    hellos: Sequence[Hello],
    now: dt.datetime,
    checked: Collection[str],
    limit: UnitLimit | None,
    required: Sequence[Requirement],
) -> list[Any]:
    """The parameters of `ok_ctes`, in its order."""
    params: list[Any] = [list(range(len(hellos))), *_columns(hellos, 4)]
    if meeting(hellos):
        params += (provider_type, now, provider_type, provider_type)  # the workers met here (_MET_HERE)
    params += (provider_type, _IN_TASK, queries.run_id, *_checked_names(queries, checked))
    task_id, most = limit if limit is not None else (None, None)
    params += (most, task_id, LIMITED_STATUSES, most)
    if required:  # as columns: (name, comparator, value, values as an array's text)
        params += _columns([(name, how, value, _array_text(values)) for name, how, value, values in required], 4)
    return params


def _array_text(values: list[int] | None) -> str | None:
    """`values` as PostgreSQL's text of an integer array ('{1,2}'): one array parameter cannot hold lists of
    different lengths, so each requirement's list goes as text, cast back in the statement."""
    return None if values is None else "{" + ",".join(str(int(value)) for value in values) + "}"


def meeting(hellos: Sequence[Hello]) -> bool:
    """Whether the batch has workers this process has not met (a hello without a worker id)."""
    return any(worker_id is None for _, worker_id, _, _ in hellos)


def _variant(name: str, hellos: Sequence[Hello], required: Sequence[Requirement]) -> str:
    """PostgreSQL's statement `name`, in its form that also finds or adds the workers this process has not met
    (`meeting`) and its form that checks the run's required qualifications, as the batch needs."""
    return name + ("_meeting" if meeting(hellos) else "") + ("_required" if required else "")


def _claimed(rows: Sequence[Sequence[Any]]) -> Claimed:
    """PostgreSQL's claim's rows as hello position -> its claimed unit (with its worker's id), and the row of the
    number of hellos it admitted (`_ADMITTED`)."""
    claimed = Claimed()
    for k, unit_id, agent_id, unit_index, inputs, worker_id in rows:
        if k == _ADMITTED:
            claimed.admitted = int(unit_id)
        else:
            claimed[int(k)] = ClaimedUnit(
                int(unit_id), int(agent_id), int(unit_index), _JSON.python_value(inputs), int(worker_id)
            )
    return claimed


def _complete_params(submissions: Sequence[Submission], now: dt.datetime) -> list[Any]:
    """PostgreSQL's completion's parameters."""
    agent_ids, unit_ids, outputs, keys = _columns(submissions, 4)
    params: list[Any] = [_IN_TASK, _ASSIGNED, agent_ids, unit_ids, [_JSON.db_value(value) for value in outputs]]
    params += (keys, AgentStatus.COMPLETED.value, now, now, agent_ids, UnitStatus.COMPLETED.value, now)
    return params


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """`rows` as `width` lists, one per column: PostgreSQL's statements take each column as one array."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


_AGENT_WIDTH = 12
_SQLITE_AGENT = "(" + ", ".join(["?"] * _AGENT_WIDTH) + ")"
#: SQLite writes a batch's VALUES rows and IN lists in a few sizes, padded with NULLs (which match no row), so
#: that each statement has a few texts, and they stay prepared in the 128 statements `sqlite3` keeps. One text per
#: batch size was compiled again at almost every batch: 175 against 67 µs for the standing check of 35 hellos.
_SQLITE_SMALLEST_ROWS = 8


def _sized_rows(row: str, width: int, count: int) -> tuple[str, list[None]]:
    """The VALUES rows (or IN items) for `count`: as many as the next power of two, at least
    _SQLITE_SMALLEST_ROWS; and the NULL parameters that fill the rows past `count`."""
    size = max(_SQLITE_SMALLEST_ROWS, 1 << (count - 1).bit_length())
    return ", ".join([row] * size), [None] * (width * (size - count))


def _had(queries: PoolQueries, sql: str, assignments: list[int], workers: list[int]) -> list[tuple[Any, ...]]:
    """Which of `workers` had a unit of one of `assignments` (pairs of worker and assignment ids)."""
    in_assignments, pad_assignments = _sized_rows("?", 1, len(assignments))
    in_workers, pad_workers = _sized_rows("?", 1, len(workers))
    return list(
        queries.db_execute(
            sql.format(assignments=in_assignments, workers=in_workers),
            (*assignments, *pad_assignments, *workers, *pad_workers),
        ).fetchall()
    )


def _replanned(statements: _Statements, name: str) -> Replanned:
    """PostgreSQL's statement `name`, run prepared and prepared again as the run's tables grow."""
    replanned = statements.replanned.get(name)
    if replanned is None:
        replanned = statements.replanned[name] = Replanned(statements.db, _built(statements)[name])
    return replanned


def _built(statements: _Statements) -> dict[str, str]:
    """This database's statements, with `{values}` (or `{ids}`, `{names}`) for the rows of each call; PostgreSQL's
    claim and completion take arrays instead."""
    if not statements.many:
        statements.many.update(_postgres(statements) if statements.postgres else _sqlite(statements))
    return statements.many


def _standing_ok(
    p: str,
    names: str,
    carried: str = "",
    fence: str = "",
    fresh: bool = False,
    limited: bool = False,
    required: bool = False,
) -> str:
    """The `ok` table: the hellos (`req`) whose worker holds no agent of the run and no qualification it checks,
    numbered in order, with the `carried` columns of `req` (e.g. ', r."token"'). With `fresh`, `req` says which
    workers the statement itself added (`_MET_HERE`): they hold nothing yet, and the checks, which see the tables
    as the statement found them, would not find them. With `limited` (PostgreSQL), a worker must also have fewer
    units of the task than the limit (parameters: the limit or NULL for none, the task id, the statuses counted, the
    limit again), counted through the unit's (task, worker) index. With `required` (PostgreSQL), the worker must
    meet every requirement (`_REQUIRED`; parameters: its four columns as arrays), a worker just added too.

    Each check is a subquery on the hello's worker id, so that the hellos drive the plan: joined to `worker`,
    PostgreSQL scanned every worker of the provider and their agents before it met the hellos. PostgreSQL turns
    such EXISTS into joins of its own (a hash join over every worker of the provider, at each claim) unless each
    ends with `fence` (" OFFSET 0"), which keeps it a lookup per hello.
    """
    granted = (
        'SELECT 1 FROM "granted_qualification" g JOIN "qualification" q ON q."id" = g."qualification_id" '
        f'WHERE g."worker_id" = r."wid" AND q."name" IN ({names}){fence}'
        if names
        else "SELECT 1 WHERE 1 = 0"
    )
    # The unary plus keeps SQLite off the (task_run_id, status) index, as in the standing query.
    held = (
        f'SELECT 1 FROM "agent" a WHERE a."worker_id" = r."wid" AND a."status" = {p} AND +a."task_run_id" = {p}{fence}'
    )
    same = f'SELECT 1 FROM "worker" w WHERE w."id" = r."wid" AND w."provider_type" = {p} AND w."name" = r."name"{fence}'
    checks = f"EXISTS ({same}) AND NOT EXISTS ({held}) AND NOT EXISTS ({granted})"
    if limited:
        done = (
            f'SELECT COUNT(*) FROM "unit" u WHERE u."task_id" = {p} AND u."worker_id" = r."wid" '
            f'AND u."status" = ANY({p}::varchar[])'
        )
        checks += f" AND ({p}::integer IS NULL OR ({done}) < {p})"
    if fresh:
        checks = f'r."wid" IS NOT NULL AND (r."fresh" OR ({checks}))'
    if required:
        checks += f" AND NOT EXISTS ({_REQUIRED}{fence})"
    return (
        f'ok AS (SELECT r."k", r."wid"{carried}, row_number() OVER (ORDER BY r."k") AS "n" FROM req r WHERE {checks})'
    )


#: when a worker holding `h."held"` (NULL: no grant) meets a requirement `rq`, by its comparator (one not named
#: here meets nothing: its hellos go the usual way, which judges every comparator)
_MEETS = {
    "exists": 'h."held" IS NOT NULL',
    "not_exists": 'h."held" IS NULL',
    "==": 'h."held" = rq."value"',
    "!=": 'h."held" <> rq."value"',
    ">": 'h."held" > rq."value"',
    ">=": 'h."held" >= rq."value"',
    "<": 'h."held" < rq."value"',
    "<=": 'h."held" <= rq."value"',
    "in": 'h."held" = ANY(rq."values"::integer[])',
    "not_in": 'h."held" <> ALL(rq."values"::integer[])',
    # the run's screening (`SCREENING`): screened, or not yet, with fewer of the task's units submitted than it
    # screens and no validator error; the task's id is the requirement's one value
    SCREENING: '(h."held" = 1 OR (h."held" IS NULL AND (SELECT COUNT(*) FROM "unit" su '
    'WHERE su."task_id" = (rq."values"::integer[])[1] AND su."worker_id" = r."wid" AND su."unit_index" >= 0 '
    'AND su."status" IN ('
    + ", ".join(f"'{status.value}'" for status in sorted(SUBMITTED_UNIT_STATUSES))
    + ')) < rq."value" AND NOT EXISTS (SELECT 1 FROM "review" sv WHERE sv."worker_id" = r."wid" '
    f'AND sv."task_id" = (rq."values"::integer[])[1] AND sv."kind" = \'{ReviewKind.SCREEN_ERROR.value}\')))',
}
#: The requirements a hello's worker does not meet (`worker_rules.unmet_requirement` in SQL): each requirement a
#: row of the arrays, its grant's value looked up for the worker (one at most: a worker holds a qualification
#: once), compared as its comparator says. A value comparison needs a grant; NULL (no grant) meets none.
_REQUIRED = (
    'SELECT 1 FROM unnest(%s::varchar[], %s::varchar[], %s::integer[], %s::varchar[]) AS rq ("name", "how", '
    '"value", "values") LEFT JOIN LATERAL (SELECT g."value" AS "held" FROM "granted_qualification" g '
    'JOIN "qualification" q ON q."id" = g."qualification_id" WHERE g."worker_id" = r."wid" AND q."name" = rq."name") '
    'h ON true WHERE NOT COALESCE(CASE rq."how" '
    + " ".join(f"WHEN '{how}' THEN {test}" for how, test in _MEETS.items())
    + " END, false)"
)
#: the hello position of the claim's row that counts the hellos it admitted
_ADMITTED = -1
#: ends a PostgreSQL subquery that must stay a lookup per row (PostgreSQL turns an unfenced EXISTS into a join)
_FENCE = " OFFSET 0"
#: PostgreSQL's claim: `req` is the batch's `hellos` with each worker's id. A hello without one (a worker this
#: process has not met) has its worker added (`new_workers`, whose rows the RETURNING gives, `fresh`) or found as
#: it was, in the claim's round trip rather than one of its own before it. A name another process adds at the
#: same moment is neither (the INSERT does nothing, the read does not see it): that hello goes the usual way.
#: Only names not there are offered to the INSERT, so a known worker takes no number from the id sequence.
_MET_HERE = (
    'new_workers AS (INSERT INTO "worker" ("provider_type", "name", "created_at") '
    'SELECT %s, h."name", %s::timestamp FROM hellos h WHERE h."wid" IS NULL AND NOT EXISTS '
    '(SELECT 1 FROM "worker" w WHERE w."provider_type" = %s AND w."name" = h."name") '
    'ON CONFLICT ("provider_type", "name") DO NOTHING RETURNING "id", "name"), '
    'req AS (SELECT h."k", h."name", COALESCE(h."wid", n."id", (SELECT w."id" FROM "worker" w '
    'WHERE w."provider_type" = %s AND w."name" = h."name")) AS "wid", h."pagent", h."token", '
    'n."id" IS NOT NULL AS "fresh" FROM hellos h LEFT JOIN new_workers n ON n."name" = h."name")'
)


def ok_ctes(st: _Statements, meeting: bool, required: bool) -> str:
    """PostgreSQL: the common table expressions of a statement on a batch's hellos up to `ok` (`_standing_ok`), whose
    rows carry each hello's provider agent id and token along; `meeting`, with the workers this process has not met
    found or added in the same round trip (`_MET_HERE`). Parameters: `ok_params`."""
    hellos = (
        '("k", "name", "wid", "pagent", "token") AS (SELECT * FROM unnest(%s::integer[], %s::varchar[], '
        "%s::integer[], %s::varchar[], %s::varchar[]))"
    )
    found = f"hellos {hellos}, {_MET_HERE}, " if meeting else f"req {hellos}, "
    carried = ', r."pagent", r."token"'
    return found + _standing_ok(
        "%s", st.names, carried=carried, fence=_FENCE, fresh=meeting, limited=True, required=required
    )


def _postgres(st: _Statements) -> dict[str, str]:
    p = "%s"

    claim_ctes = (
        "{ok}, "
        # as many launched units as hellos that may claim, oldest first, skipping those other processes hold
        'picked AS (SELECT c."id", c."assignment_id" FROM "unit" c '
        'WHERE c."task_run_id" = %s AND c."status" = %s AND c."unit_index" >= 0 '
        'ORDER BY c."id" LIMIT (SELECT COUNT(*) FROM ok) FOR UPDATE SKIP LOCKED), '
        # hellos and units zipped in order (unnest pads the shorter list with NULLs): no join to plan
        'zipped AS (SELECT * FROM unnest(ARRAY(SELECT "k" FROM ok ORDER BY "n"), '
        'ARRAY(SELECT "wid" FROM ok ORDER BY "n"), ARRAY(SELECT "pagent" FROM ok ORDER BY "n"), '
        'ARRAY(SELECT "token" FROM ok ORDER BY "n"), ARRAY(SELECT "id" FROM picked ORDER BY "id"), '
        'ARRAY(SELECT "assignment_id" FROM picked ORDER BY "id")) '
        'AS z ("k", "wid", "pagent", "token", "unit_id", "assignment_id")), '
        'pairs AS (SELECT z."k", z."wid", z."pagent", z."token", z."unit_id", '
        f'{st.next_agent_id} AS "agent_id" FROM zipped z WHERE z."unit_id" IS NOT NULL '
        # none of an assignment the worker had a unit of: the few units of each picked unit's assignment are read
        # through its index, not every unit the worker had in the run (hundreds late in a long run) nor, as a
        # join would, every unit of the table (OFFSET 0 keeps the check a lookup per pair; the unary plus keeps
        # it off the worker's index)
        'AND NOT EXISTS (SELECT 1 FROM "unit" t WHERE t."assignment_id" = z."assignment_id" '
        'AND +t."worker_id" = z."wid" OFFSET 0)), '
        # picked locked these units as launched: no status to check again. Such a check (estimated to keep one unit
        # in 200) made the table look like one row to a planner whose statistics date from before the launch added
        # thousands of units: a nested loop compared every unit with every hello.
        'c AS (UPDATE "unit" SET "status" = %s, "worker_id" = p."wid", "updated_at" = %s, "agent_id" = p."agent_id" '
        'FROM pairs p WHERE "unit"."id" = p."unit_id" '
        'RETURNING p."k", "unit"."id", "unit"."assignment_id", "unit"."agent_id", "unit"."unit_index", '
        'p."wid", p."pagent", p."token"), '
        f'added AS (INSERT INTO "agent" ({st.agent_columns}) '
        'SELECT c."agent_id", c."id", c."assignment_id", c."wid", %s::integer, %s::varchar, c."pagent", c."token", '
        "%s::timestamp, %s::timestamp, %s::timestamp, %s::varchar FROM c)"
    )
    claimed = (
        'SELECT c."k", c."id", c."agent_id", c."unit_index", s."inputs", c."wid" FROM c '
        'JOIN "assignment" s ON s."id" = c."assignment_id" '
        # and one row of how many hellos the standing checks admitted (`ok` is computed once for the statement)
        f"UNION ALL SELECT {_ADMITTED}, (SELECT COUNT(*) FROM ok)::integer, NULL, NULL, NULL, NULL"
    )
    complete_ctes = (
        # The statuses to check come as columns of v (OFFSET 0 keeps them columns, not constants pulled into the
        # scans), so each check is a join clause. As a filter on a table whose statistics predate the run, a
        # status check was estimated to keep one row in 200: the planner took the agents in task for one row and
        # compared each of them with every submission.
        'v ("in_task", "assigned", "agent_id", "unit_id", "outputs", "submit_key") AS (SELECT %s::varchar, '
        "%s::varchar, * FROM unnest(%s::integer[], %s::integer[], %s::text[], %s::varchar[]) OFFSET 0), "
        f"a AS ({_complete_agents(p, postgres=True)} "
        'RETURNING "agent"."id", "agent"."unit_id", v."assigned"), '
        'u AS (UPDATE "unit" SET "status" = %s, "updated_at" = %s FROM a '
        'WHERE "unit"."id" = a."unit_id" AND "unit"."status" = a."assigned" RETURNING "unit"."id")'
    )
    # the IN, hashed once, rather than a join the planner would make a nested loop (CTEs are estimated at a row
    # each): quadratic in the batch
    moved = 'a."unit_id" IN (SELECT "id" FROM u)'
    claim = f"WITH {claim_ctes} {claimed}"
    # both in one statement (claim_and_complete_many): a completion's row has a NULL hello position
    claim_complete = (
        f"WITH {claim_ctes}, {complete_ctes} {claimed} "
        f'UNION ALL SELECT NULL, a."id", NULL, ({moved})::integer, NULL, NULL FROM a'
    )
    # The claims whose hellos' workers this process knows keep the statement they had: the one for new workers
    # costs the database ~5 % more per unit (the worker rows' CTEs run at every claim). The check of required
    # qualifications is in the forms of runs that have some.
    claims = {
        name + ("_meeting" if meeting else "") + ("_required" if required else ""): text.replace(
            "{ok}", ok_ctes(st, meeting, required)
        )
        for name, text in (("claim", claim), ("claim_complete", claim_complete))
        for meeting in (False, True)
        for required in (False, True)
    }
    return {**claims, "complete": f'WITH {complete_ctes} SELECT a."id", {moved} FROM a', **_workers("%s")}


def _sqlite(st: _Statements) -> dict[str, str]:
    p = "?"
    ok = 'WITH req ("k", "name", "wid") AS (VALUES {values}), ' + _standing_ok(p, st.names)
    ok += ' SELECT "k", "wid" FROM ok ORDER BY "k"'
    units = (  # the oldest launched units, as many as asked
        'SELECT u."id", u."assignment_id", u."unit_index", '
        '(SELECT s."inputs" FROM "assignment" s WHERE s."id" = u."assignment_id") FROM "unit" u '
        'WHERE u."task_run_id" = ? AND u."status" = ? AND u."unit_index" >= 0 ORDER BY u."id" LIMIT ?'
    )
    had = (  # the unary plus keeps SQLite on the assignment index (a unit or two each), off the worker index
        'SELECT DISTINCT "worker_id", "assignment_id" FROM "unit" '
        'WHERE "assignment_id" IN ({assignments}) AND +"worker_id" IN ({workers})'
    )
    take = (
        'WITH v ("unit_id", "wid", "agent_id") AS (VALUES {values}) '
        'UPDATE "unit" SET "status" = ?, "worker_id" = v."wid", "updated_at" = ?, "agent_id" = v."agent_id" '
        'FROM v WHERE "unit"."id" = v."unit_id" AND "unit"."status" = ? RETURNING "id"'
    )
    # the padding rows (NULL id) are left out
    agents = f'INSERT INTO "agent" ({st.agent_columns}) SELECT * FROM (VALUES {{values}}) WHERE "column1" IS NOT NULL'
    complete_agents = (
        'WITH v ("agent_id", "unit_id", "outputs", "submit_key") AS (VALUES {values}) '
        f'{_complete_agents(p)} RETURNING "id", "unit_id"'
    )
    complete_units = (
        'UPDATE "unit" SET "status" = ?, "updated_at" = ? WHERE "id" IN ({ids}) AND "status" = ? RETURNING "id"'
    )
    return {
        **_workers(p),
        "ok": ok,
        "units": units,
        "had": had,
        "take": take,
        "agents": agents,
        "complete_agents": complete_agents,
        "complete_units": complete_units,
    }


def _workers(p: str) -> dict[str, str]:
    """Finding workers by name, and adding those missing (`{names}`, `{values}` for their rows, padded as
    `_sized_rows` pads them: the padding rows, NULL, are left out). `find_or_add_workers` (PostgreSQL) does both in
    one statement: the rows it adds, then those that were there (its SELECT sees the table as the statement found
    it, without the rows added), each with whether it was added. Only names not there are offered to the INSERT,
    so a known worker does not take a number from the id sequence at each of its first hellos in a process.
    `find_or_add_workers_starting` also starts the onboarding test of each worker it adds, and gives its attempt's
    id (NULL for workers found)."""
    named = f'FROM "worker" WHERE "provider_type" = {p} AND "name" IN ({{names}})'
    workers = f'SELECT "id", "name" {named}'
    added = (
        'WITH "added" AS (INSERT INTO "worker" ("provider_type", "name", "created_at") '
        'SELECT * FROM (VALUES {values}) AS v WHERE "column1" IS NOT NULL AND NOT EXISTS '
        '(SELECT 1 FROM "worker" AS w WHERE w."provider_type" = v."column1" AND w."name" = v."column2") '
        'ON CONFLICT ("provider_type", "name") DO NOTHING RETURNING "id", "name")'
    )
    # each added worker's onboarding test (`AttemptsToStart`): task, run, status, time, then names and tokens
    started = (
        '"started" AS (INSERT INTO "onboarding_agent" '
        '("worker_id", "task_id", "task_run_id", "token", "status", "started_at") '
        f'SELECT a."id", {p}, {p}, t."token", {p}, {p} FROM "added" a '
        f'JOIN unnest({p}::varchar[], {p}::varchar[]) AS t ("name", "token") ON t."name" = a."name" '
        'RETURNING "id", "worker_id")'
    )
    workers_started = (
        'SELECT a."id", a."name", TRUE, s."id" FROM "added" a LEFT JOIN "started" s ON s."worker_id" = a."id" '
        f'UNION ALL SELECT "id", "name", FALSE, NULL {named}'
    )
    return {
        "workers": workers,
        "add_workers": 'INSERT INTO "worker" ("provider_type", "name", "created_at") '
        'SELECT * FROM (VALUES {values}) AS v WHERE "column1" IS NOT NULL '
        'ON CONFLICT ("provider_type", "name") DO NOTHING RETURNING "id", "name"',
        "find_or_add_workers": f'{added} SELECT "id", "name", TRUE FROM "added" '
        f'UNION ALL SELECT "id", "name", FALSE {named}',
        "find_or_add_workers_starting": f"{added}, {started} {workers_started}",
        # and the batch's onboarding submissions stored (`onboarding_many.Storing`): a row each, with no name
        "find_or_add_workers_starting_storing": f"{added}, {started}, {onboarding_many.Storing.ctes} "
        f'{workers_started} UNION ALL SELECT m."id", NULL, NULL, m."worker_id" FROM "moved" m',
    }


def _complete_agents(p: str, postgres: bool = False) -> str:
    """The agents of `v` in task move to completed with their outputs and key, unless the key is taken (the
    NOT EXISTS turns a reused key into "not moved" rather than a unique-index error).

    On PostgreSQL the status to check is `v`'s "in_task" column (a join clause, see the completion), the agents are
    also found by their id list (read through the primary key at any table size), and the key check is fenced so
    that it stays a lookup per moved agent."""
    in_task, among, fence = (
        ('v."in_task"', 'AND "agent"."id" = ANY(%s::integer[]) ', _FENCE) if postgres else (p, "", "")
    )
    return (
        f'UPDATE "agent" SET "status" = {p}, "outputs" = v."outputs", "submit_key" = v."submit_key", '
        f'"submitted_at" = {p}, "updated_at" = {p} FROM v '
        f'WHERE "agent"."id" = v."agent_id" AND "agent"."unit_id" = v."unit_id" AND "agent"."status" = {in_task} '
        f"{among}"
        f'AND NOT EXISTS (SELECT 1 FROM "agent" o WHERE o."submit_key" = v."submit_key"{fence})'
    )
