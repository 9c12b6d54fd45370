"""Hand-written SQL for the statements the worker pool runs for every unit: standing, claim and submission.

Why not the query builder: building SQL text through peewee took more of the operator's CPU than everything
else per unit (the database's own work included). These few statements are written out once per task run as
parameterised SQL, the same for SQLite and PostgreSQL except for the placeholder, and run with `execute_sql`.
On PostgreSQL, where each statement is a round trip and planning costs more than running them, the claim and
the submission are one statement each, prepared once per connection. The status changes here are conditional
UPDATEs like those of `transitions`, and their transitions are checked when the statements are built.
Everything else keeps using the models.
"""

from __future__ import annotations

import datetime as dt
import itertools
import sqlite3
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import peewee as pw

from mephisto_core.data_model.models import JSONField, database_proxy
from mephisto_core.data_model.replanned import Replanned, numbered, prepared_again_if_lost
from mephisto_core.data_model.statuses import (
    INCOMPLETE_UNIT_STATUSES,
    AgentStatus,
    UnitStatus,
    check_agent_transition,
    check_unit_transition,
)
from mephisto_core.data_model.unit_probes import statuses_present_params, statuses_present_sql

#: SQLite learned RETURNING in 3.35; older libraries (e.g. RHEL 9's 3.34) claim with a SELECT, then the UPDATE.
SQLITE_HAS_RETURNING = sqlite3.sqlite_version_info >= (3, 35, 0)

_IN_TASK = AgentStatus.IN_TASK.value
_LAUNCHED = UnitStatus.LAUNCHED.value
_ASSIGNED = UnitStatus.ASSIGNED.value
#: `offer_state`'s statuses: launched (offered to someone) first, then the other incomplete ones (work left).
_OFFER_PROBES = (_LAUNCHED, *sorted(s.value for s in INCOMPLETE_UNIT_STATUSES if s.value != _LAUNCHED))
check_unit_transition(_LAUNCHED, _ASSIGNED)
check_unit_transition(_ASSIGNED, UnitStatus.COMPLETED.value)
check_agent_transition(_IN_TASK, AgentStatus.COMPLETED.value)
_JSON = JSONField()  # JSON text spelled as the models spell it


@dataclass(frozen=True)
class Standing:
    """A worker as registration sees them: their id, the grants that matter to this run, the agents they hold."""

    worker_id: int
    grants: dict[str, int]  # qualification name -> value, only the run's relevant qualifications
    held: int  # in-task agents of this worker in this run
    first_held: int | None  # the oldest of them


@dataclass(frozen=True)
class ClaimedUnit:
    """A unit just moved from launched to assigned for a worker, its new agent, and what its page needs."""

    unit_id: int
    agent_id: int
    unit_index: int
    inputs: Any
    #: the worker's id, when the claim itself found or added the worker (PostgreSQL's claim of many)
    worker_id: int | None = None


@dataclass(frozen=True)
class AgentForSubmit:
    """What a submission needs to know about the agent it is for, read in one statement."""

    status: AgentStatus
    submit_key: str | None
    unit_id: int
    worker_id: int
    unit_index: int
    inputs: Any


class PoolQueries:
    """The worker pool's per-unit statements for one task run, with the qualification names it checks."""

    def __init__(self, run_id: int, qualification_names: Sequence[str]) -> None:
        self.run_id = run_id
        self.qualification_names = tuple(dict.fromkeys(qualification_names))
        self._built: _Statements | None = None
        #: The operator process ("host:pid") written on each agent the claim makes (`agent.held_by`), so the
        #: other processes of a run served by several can return its agents if it dies (operator_leases.py).
        self.held_by: str | None = None

    # ---- registration -------------------------------------------------------------------------------------

    def standing(self, provider_type: str, name: str) -> Standing | None:
        """The worker named `name`, or None when this provider has never seen them."""
        rows = self._run(
            "standing", (self.run_id, _IN_TASK, self.run_id, _IN_TASK, *self.qualification_names, provider_type, name)
        ).fetchall()
        return _standing_of(rows) if rows else None

    @property
    def claims_with_standing(self) -> bool:
        """Whether `standing_and_claim` is available (PostgreSQL, where it saves a round trip per unit)."""
        return self.statements().postgres

    def standing_and_claim(
        self, provider_type: str, name: str, worker_id: int, provider_agent_id: str | None, token: str, now: dt.datetime
    ) -> tuple[Standing | None, ClaimedUnit | None]:
        """PostgreSQL: `standing` and, in the same statement, `claim` for `worker_id` (the id `name` had when last
        seen) when that standing holds no agent of the run and none of its qualifications. (None, None) when the
        worker is not (any more) in the database; a standing without claim when the claim was not tried or found
        no unit."""
        standing = (self.run_id, _IN_TASK, self.run_id, _IN_TASK, *self.qualification_names, provider_type, name)
        take = (_ASSIGNED, worker_id, now, self.run_id, _LAUNCHED, worker_id, _LAUNCHED)
        agent = (worker_id, self.run_id, _IN_TASK, provider_agent_id, token, now, now, now, self.held_by)
        rows = self._run("standing_claim", (*standing, worker_id, *take, *agent)).fetchall()
        if not rows:
            return None, None
        unit_id, agent_id, unit_index, inputs = rows[0][5:]
        claimed = None
        if unit_id is not None:
            claimed = ClaimedUnit(int(unit_id), int(agent_id), int(unit_index), _JSON.python_value(inputs))
        return _standing_of([row[:5] for row in rows]), claimed

    def add_worker(self, provider_type: str, name: str, now: dt.datetime) -> int:
        """Create the worker `name` of this provider (seen for the first time) and return their id."""
        cursor = self._run("worker", (provider_type, name, now))
        return int(cursor.fetchone()[0] if self.statements().returning else cursor.lastrowid)

    def claim(self, worker_id: int, provider_agent_id: str | None, token: str, now: dt.datetime) -> ClaimedUnit | None:
        """Move the first launched unit of the run that `worker_id` may take to assigned, with a new in-task agent
        of theirs on it.

        None when there was none, or (several processes on one PostgreSQL) another process took it first.
        A worker never gets a unit of an assignment they already had a unit of.
        """
        statements = self.statements()
        when = now if statements.postgres else _sqlite_text(now)
        take = (_ASSIGNED, worker_id, when, self.run_id, _LAUNCHED, worker_id, _LAUNCHED)
        agent = (worker_id, self.run_id, _IN_TASK, provider_agent_id, token, when, when, when, self.held_by)
        if statements.postgres:  # one round trip for the claim and the agent
            row = self._run("claim", (*take, *agent)).fetchone()
            if row is None:
                return None
            unit_id, agent_id, unit_index, inputs = row
        else:
            if statements.returning:
                row = self._run("claim", take).fetchone()
            else:
                row = self._run("candidate", take[3:6]).fetchone()
                if row is not None:
                    params = (*take[:3], row[2], row[0], _LAUNCHED)
                    row = row if self._run("take", params).rowcount else None
            if row is None:
                return None
            unit_id, assignment_id, agent_id, unit_index, inputs = row
            self._run("agent", (agent_id, unit_id, assignment_id, *agent))
        return ClaimedUnit(int(unit_id), int(agent_id), int(unit_index), _JSON.python_value(inputs))

    def claimable_exists(self, worker_id: int) -> bool:
        """Whether the run offers a unit `worker_id` may take (the claim's own condition, without taking it)."""
        row = self._run("exists", (self.run_id, _LAUNCHED, worker_id)).fetchone()
        return row is not None

    def offer_state(self) -> tuple[bool, bool]:
        """Whether the run offers any unit at all (launched), and whether it has work left (incomplete units)."""
        row = self._run("offer_state", statuses_present_params(self.run_id, _OFFER_PROBES)).fetchone()
        return bool(row[0]), any(row)

    # ---- submission ---------------------------------------------------------------------------------------

    def agent_for_submit(self, agent_id: int) -> AgentForSubmit | None:
        """The agent with its unit's index and its assignment's inputs, or None when there is no such agent."""
        row = self._run("agent_for_submit", (agent_id,)).fetchone()
        if row is None:
            return None
        status, submit_key, unit_id, worker_id, unit_index, inputs = row
        return AgentForSubmit(
            AgentStatus(status), submit_key, int(unit_id), int(worker_id), int(unit_index), _JSON.python_value(inputs)
        )

    def complete(
        self, agent_id: int, unit_id: int, outputs: Any, submit_key: str, now: dt.datetime
    ) -> tuple[bool, bool]:
        """Store a submission: the agent in_task -> completed, then its unit assigned -> completed.

        Returns whether each moved. The agent does not move when it no longer holds its unit, is not the agent of
        `unit_id`, or `submit_key` was used for another agent, and its unit is then left alone.
        """
        outputs_text = _JSON.db_value(outputs)
        postgres = self.statements().postgres
        now_text = now if postgres else _sqlite_text(now)
        agent = (
            AgentStatus.COMPLETED.value,
            outputs_text,
            submit_key,
            now_text,
            now_text,
            agent_id,
            unit_id,
            _IN_TASK,
            submit_key,
        )
        unit = (UnitStatus.COMPLETED.value, now_text, unit_id, _ASSIGNED)
        if postgres:  # one round trip for both
            agent_moved, unit_moved = self._run("complete", (*agent, *unit)).fetchone()
            return bool(agent_moved), bool(unit_moved)
        if not self._run("complete_agent", agent).rowcount:
            return False, False
        return True, bool(self._run("complete_unit", unit).rowcount)

    def db_execute(self, sql: str, params: Sequence[Any]) -> Any:
        """Run `sql` (not one of the named statements) on the models' database; returns the cursor."""
        return self.statements().db.execute_sql(sql, params)

    def submit_key_taken(self, submit_key: str) -> bool:
        """Whether some agent already stored a submission under `submit_key`."""
        return self._run("key_taken", (submit_key,)).fetchone() is not None

    # ---- building ---------------------------------------------------------------------------------------

    def statements(self) -> _Statements:
        """The statements for the database the models are bound to now (built on first use)."""
        db = database_proxy.obj
        if db is None:
            raise pw.InterfaceError("the models are not bound to a database (open_database was not called)")
        if self._built is None or self._built.db is not db:
            self._built = _Statements(db, len(self.qualification_names))
        return self._built

    def _run(self, name: str, params: tuple[Any, ...]) -> Any:
        return self.statements().run(name, params)


def _sqlite_text(value: dt.datetime) -> str:
    """A datetime as SQLite stores it: the text sqlite3's default adapter makes (and the models read back), made
    once for the several columns of a statement rather than by the adapter for each."""
    return value.isoformat(" ")


def _standing_of(rows: Sequence[Sequence[Any]]) -> Standing:
    """The standing in the rows of the standing query (one per granted qualification, at least one)."""
    worker_id, held, first_held = rows[0][0], rows[0][1], rows[0][2]
    grants = {qualification: int(value) for _, _, _, qualification, value in rows if qualification is not None}
    return Standing(int(worker_id), grants, int(held), None if first_held is None else int(first_held))


#: Statements PostgreSQL keeps prepared on each connection: its planning cost more than running them.
_PREPARED = ("standing", "claim", "standing_claim", "agent_for_submit", "complete")
_statement_sets = itertools.count(1)


class _Statements:
    """The SQL text of every statement for one database, and running them (prepared, for PostgreSQL's hot ones)."""

    def __init__(self, db: pw.Database, qualification_count: int) -> None:
        self.db = db
        p = db.param
        sql: dict[str, str] = {}
        self.postgres = isinstance(db, pw.PostgresqlDatabase)
        self.returning = self.postgres or SQLITE_HAS_RETURNING
        names = ", ".join([p] * qualification_count)
        # The unary plus keeps SQLite off the (task_run_id, status) index: through it, MIN(id) walked every
        # in-task agent of the run (a thousand at 1,000 workers) instead of this worker's few via (worker, status).
        held = f'FROM "agent" a WHERE +a."task_run_id" = {p} AND a."worker_id" = w."id" AND a."status" = {p}'
        sql["standing"] = (
            f'SELECT w."id", (SELECT COUNT(*) {held}), (SELECT MIN(a."id") {held}), q."name", g."value" '
            'FROM "worker" w '
            'LEFT JOIN "granted_qualification" g ON g."worker_id" = w."id" AND g."qualification_id" IN '
            f'(SELECT "id" FROM "qualification" WHERE "name" IN ({names})) '
            'LEFT JOIN "qualification" q ON q."id" = g."qualification_id" '
            f'WHERE w."provider_type" = {p} AND w."name" = {p}'
        )

        returning_id = ' RETURNING "id"' if self.returning else ""
        sql["worker"] = (
            f'INSERT INTO "worker" ("provider_type", "name", "created_at") VALUES ({p}, {p}, {p}){returning_id}'
        )

        # Launched units of the run, none of an assignment the worker already had a unit of; oldest first. The
        # check reads the candidate's own assignment (a unit or a few, through its index; the unary plus keeps it
        # off the worker's), not every unit the worker had in the run: hundreds late in a long study, at every
        # claim. On PostgreSQL, OFFSET 0 keeps it a lookup per candidate rather than an anti-join over the table.
        fence = " OFFSET 0" if self.postgres else ""
        claimable = (
            f'FROM "unit" c WHERE c."task_run_id" = {p} AND c."status" = {p} AND c."unit_index" >= 0 '
            'AND NOT EXISTS (SELECT 1 FROM "unit" t WHERE t."assignment_id" = c."assignment_id" '
            f'AND +t."worker_id" = {p}{fence})'
        )
        inputs_of = 'SELECT s."inputs" FROM "assignment" s WHERE s."id" = '
        # The claimed unit points at its agent from the start: the agent's id is drawn before the agent is
        # inserted, from the sequence (PostgreSQL) or as the next rowid (SQLite: this transaction is the only
        # writer until it commits).
        if self.postgres:
            # The sequence looked up once, as a constant the prepared statements resolve when prepared, rather
            # than by pg_get_serial_sequence's catalog lookups on every claim.
            sequence = db.execute_sql("SELECT pg_get_serial_sequence('agent', 'id')").fetchone()[0]
            next_agent_id = "nextval('{}'::regclass)".format(sequence.replace("'", "''"))
            first = f'SELECT c."id" {claimable} ORDER BY c."id" LIMIT 1 FOR UPDATE SKIP LOCKED'  # others skip it
        else:
            next_agent_id = '(SELECT COALESCE(MAX("id"), 0) + 1 FROM "agent")'
            first = f'SELECT c."id" {claimable} ORDER BY c."id" LIMIT 1'
        take = f'UPDATE "unit" SET "status" = {p}, "worker_id" = {p}, "updated_at" = {p}, "agent_id" = '
        # The row is found by its id; its status is checked, through an expression no index serves: a prepared
        # statement's generic plan on PostgreSQL otherwise took the (status) index and walked every launched unit
        # of the database (the statistics of a table just filled by a launch say it is tiny).
        same_status = f"(\"status\" || '') = {p}"
        take_first = f'{take}{next_agent_id} WHERE "id" = ({first}) AND {same_status}'
        agent_columns = (
            '"id", "unit_id", "assignment_id", "worker_id", "task_run_id", "status", "provider_agent_id", "token", '
            '"started_at", "last_seen_at", "updated_at", "held_by"'
        )
        if self.postgres:
            # Typed: a prepared statement's parameter in a SELECT list would otherwise be text.
            agent_values = ", ".join(
                f"{p}::{kind}"
                for kind in ("integer", "integer", "varchar", "varchar", "varchar", *["timestamp"] * 3, "varchar")
            )
            sql["claim"] = (
                f'WITH c AS ({take_first} RETURNING "id", "assignment_id", "agent_id", "unit_index"), '
                f'a AS (INSERT INTO "agent" ({agent_columns}) '
                f'SELECT c."agent_id", c."id", c."assignment_id", {agent_values} FROM c) '
                f'SELECT c."id", c."agent_id", c."unit_index", ({inputs_of}c."assignment_id") FROM c'
            )
            # A known worker's hello in one round trip: their standing, and the claim when the standing leaves
            # nothing to decide (no agent held in the run, none of the run's qualifications granted; the caller
            # asks for it only when nothing else does, see WorkerPool._may_claim_with_standing).
            only_ok = "AND EXISTS (SELECT 1 FROM ok)"
            first_ok = f'SELECT c."id" {claimable} {only_ok} ORDER BY c."id" LIMIT 1 FOR UPDATE SKIP LOCKED'
            sql["standing_claim"] = (
                f'WITH s ("wid", "held", "first_held", "qname", "qvalue") AS ({sql["standing"]}), '
                f'ok AS (SELECT 1 FROM s WHERE s."wid" = {p}::integer AND s."held" = 0 AND s."qname" IS NULL), '
                f'c AS ({take}{next_agent_id} WHERE "id" = ({first_ok}) AND {same_status} '
                'RETURNING "id", "assignment_id", "agent_id", "unit_index"), '
                f'a AS (INSERT INTO "agent" ({agent_columns}) '
                f'SELECT c."agent_id", c."id", c."assignment_id", {agent_values} FROM c) '
                'SELECT s."wid", s."held", s."first_held", s."qname", s."qvalue", '
                f'c."id", c."agent_id", c."unit_index", ({inputs_of}c."assignment_id") FROM s LEFT JOIN c ON TRUE'
            )
        else:
            sql["claim"] = (
                f'{take_first} RETURNING "id", "assignment_id", "agent_id", "unit_index", '
                f'({inputs_of}"unit"."assignment_id")'
            )
        sql["candidate"] = (  # SQLite without RETURNING: find the unit, then take it
            f'SELECT c."id", c."assignment_id", {next_agent_id}, c."unit_index", ({inputs_of}c."assignment_id") '
            f'{claimable} ORDER BY c."id" LIMIT 1'
        )
        sql["take"] = f'{take}{p} WHERE "id" = {p} AND "status" = {p}'
        sql["agent"] = f'INSERT INTO "agent" ({agent_columns}) VALUES ({", ".join([p] * 12)})'
        sql["exists"] = f"SELECT 1 {claimable} LIMIT 1"

        # One probe per status (unit_probes.py). A single `status IN (...)` let PostgreSQL, planning with the
        # statistics of a run launched moments ago, scan every unit of the run through the index on the run
        # alone: half a millisecond per refused hello at 3,000 units once the units had moved on.
        sql["offer_state"] = statuses_present_sql(p, len(_OFFER_PROBES))

        sql["agent_for_submit"] = (
            'SELECT a."status", a."submit_key", a."unit_id", a."worker_id", u."unit_index", s."inputs" '
            'FROM "agent" a JOIN "unit" u ON u."id" = a."unit_id" JOIN "assignment" s ON s."id" = a."assignment_id" '
            f'WHERE a."id" = {p}'
        )
        # The NOT EXISTS turns a reused submit_key into "no row changed" instead of a unique-index error, which
        # on PostgreSQL would abort the whole group-commit transaction.
        sql["complete_agent"] = (
            f'UPDATE "agent" SET "status" = {p}, "outputs" = {p}, "submit_key" = {p}, "submitted_at" = {p}, '
            f'"updated_at" = {p} WHERE "id" = {p} AND "unit_id" = {p} AND "status" = {p} '
            f'AND NOT EXISTS (SELECT 1 FROM "agent" o WHERE o."submit_key" = {p})'
        )
        sql["complete_unit"] = (
            f'UPDATE "unit" SET "status" = {p}, "updated_at" = {p} WHERE "id" = {p} AND {same_status}'
        )
        sql["complete"] = (  # PostgreSQL: both in one statement; the unit moves only if the agent did
            f'WITH a AS ({sql["complete_agent"]} RETURNING "id"), '
            f'u AS ({sql["complete_unit"]} AND EXISTS (SELECT 1 FROM a) RETURNING "id") '
            "SELECT (SELECT COUNT(*) FROM a), (SELECT COUNT(*) FROM u)"
        )
        sql["key_taken"] = f'SELECT 1 FROM "agent" WHERE "submit_key" = {p}'
        self.sql = sql
        # what pool_sql_many builds its statements from
        self.next_agent_id, self.agent_columns, self.names = next_agent_id, agent_columns, names
        self.many: dict[str, str] = {}  # pool_sql_many's statements for this database, once built
        self.replanned: dict[str, Replanned] = {}  # and PostgreSQL's, run prepared, by name

        self._prepared_on: weakref.WeakSet[Any] = weakref.WeakSet()
        self._executes: dict[str, str] = {}
        if self.postgres:
            prefix = f"mephisto_pool_{next(_statement_sets)}_"
            prepares = []
            for name in _PREPARED:
                text, count = numbered(sql[name])
                prepares.append(f"PREPARE {prefix}{name} AS {text}")
                self._executes[name] = f"EXECUTE {prefix}{name} ({', '.join(['%s'] * count)})"
            self._prepare_all = "; ".join(prepares)

    def run(self, name: str, params: tuple[Any, ...]) -> Any:
        """Execute statement `name` with `params`; returns the cursor."""
        execute = self._executes.get(name)
        if execute is None:
            return self.db.execute_sql(self.sql[name], params)
        connection = self.db.connection()
        if connection not in self._prepared_on:  # a new connection: prepare them all in one round trip
            self.db.execute_sql(self._prepare_all)
            self._prepared_on.add(connection)
        with prepared_again_if_lost(lambda: self._prepared_on.discard(connection)):
            return self.db.execute_sql(execute, params)
