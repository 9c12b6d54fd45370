"""Versioned schema migrations. Each runs once, in order, inside a transaction; a failure stops start-up.

Add a migration by appending a `Migration` whose `apply` uses `playhouse.migrate` (never drop-and-recreate).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import peewee as pw

from mephisto_core.data_model.models import ALL_MODELS, SchemaVersion, Upload
from mephisto_core.errors import MigrationError

if TYPE_CHECKING:
    from mephisto_core.data_model.database import Database


@dataclass(frozen=True)
class Migration:
    """One schema change: `apply` runs inside the migration's transaction."""

    version: int
    name: str
    apply: Callable[[pw.Database], None]


def _initial_schema(db: pw.Database) -> None:
    db.create_tables(ALL_MODELS)


def _claim_order_index(db: pw.Database) -> None:
    # A claim takes the oldest launched unit of its run. Without `id` in the index PostgreSQL walked the primary
    # key past every finished unit of the run for each claim. A database made by migration 1 of this version
    # has the index already, hence IF NOT EXISTS (which playhouse.migrate cannot say).
    db.execute_sql('CREATE INDEX IF NOT EXISTS "unit_task_run_id_status_id" ON "unit" ("task_run_id", "status", "id")')
    db.execute_sql('DROP INDEX IF EXISTS "unit_task_run_id_status"')


def _upload_table(db: pw.Database) -> None:
    # A database made by migration 1 of this version has the table already (migration 1 creates ALL_MODELS).
    db.create_tables([Upload], safe=True)


def _payment_table(db: pw.Database) -> None:
    # The ledger is its own module (data_model/payments.py) and not in ALL_MODELS: this migration makes it.
    from mephisto_core.data_model.payments import Payment

    db.create_tables([Payment], safe=True)


def _publish_intent_table(db: pw.Database) -> None:
    # Its own module (data_model/publishing.py), not in ALL_MODELS: this migration makes it.
    from mephisto_core.data_model.publishing import PublishIntent

    db.create_tables([PublishIntent], safe=True)


def _live_message_table(db: pw.Database) -> None:
    # Its own module (data_model/live_messages.py), not in ALL_MODELS: this migration makes it.
    from mephisto_core.data_model.live_messages import LiveMessage

    db.create_tables([LiveMessage], safe=True)


def _procedure_call_table(db: pw.Database) -> None:
    # Its own module (data_model/procedure_calls.py), not in ALL_MODELS: this migration makes it.
    from mephisto_core.data_model.procedure_calls import ProcedureCall

    db.create_tables([ProcedureCall], safe=True)


def _rule_action_table(db: pw.Database) -> None:
    # Its own module (data_model/rule_actions.py), not in ALL_MODELS: this migration makes it.
    from mephisto_core.data_model.rule_actions import RuleAction

    db.create_tables([RuleAction], safe=True)


def _withdrawn_unit_table(db: pw.Database) -> None:
    # Its own module (data_model/withdrawn_units.py), not in ALL_MODELS: this migration makes it.
    from mephisto_core.data_model.withdrawn_units import WithdrawnUnit

    db.create_tables([WithdrawnUnit], safe=True)


def _operator_leases(db: pw.Database) -> None:
    # Its own module (data_model/operator_leases.py), not in ALL_MODELS: this migration makes the table, and the
    # agent column naming the process that holds an in-task agent (several processes on one run, `--join`).
    from mephisto_core.data_model.operator_leases import OperatorLease, add_held_by_column

    db.create_tables([OperatorLease], safe=True)
    add_held_by_column(db)


#: Foreign-key indexes that a composite index leading with the same column makes redundant (see models.py).
_COVERED_INDEXES = ("unit_assignment_id", "unit_task_run_id", "unit_task_id", "agent_worker_id", "agent_task_run_id")


def _drop_covered_indexes(db: pw.Database) -> None:
    # Each claim and submission updates indexed columns of unit and agent, so every index gets a new entry per
    # change on PostgreSQL (no heap-only update); these five only repeated a prefix of another index.
    for name in _COVERED_INDEXES:
        db.execute_sql(f'DROP INDEX IF EXISTS "{name}"')


def _drop_unit_status_index(db: pw.Database) -> None:
    # Every claim and submission changed an entry of it, and no hot query reads it: the claim, the standing and
    # the counts all filter by run, task, assignment or worker first, which other indexes lead with. The few
    # status-only reads (review listings, the leftover-units check) scan the units table instead.
    db.execute_sql('DROP INDEX IF EXISTS "unit_status"')


def _special_units_index(db: pw.Database) -> None:
    # The run's counts by status take the gold and screening units (unit_index < 0) off a count read from the
    # (task_run, status, id) index alone. Partial: only those few units have an entry, so no claim or submission
    # of a regular unit writes to it.
    db.execute_sql(
        'CREATE INDEX IF NOT EXISTS "unit_special" ON "unit" ("task_run_id", "status") WHERE "unit_index" < 0'
    )


#: (table, column, referenced table) of the foreign keys that the row's assignment implies: the assignment's own
#: foreign key names its run, the run's names its task, and an agent's unit names its assignment.
IMPLIED_FOREIGN_KEYS = (
    ("agent", "task_run_id", "task_run"),
    ("agent", "assignment_id", "assignment"),
    ("unit", "task_run_id", "task_run"),
    ("unit", "task_id", "task"),
)


def _drop_implied_foreign_keys(db: pw.Database) -> None:
    # PostgreSQL checks a foreign key with a query and a row lock per inserted row: the agent row of every claim
    # checked its run and assignment again after its unit had (a tenth of the server's CPU per unit, with the
    # unit's and worker's checks), and each launched unit its run and task. The columns stay, written from the
    # unit or its assignment; agent -> unit -> assignment -> run -> task keep their constraints, so none of these
    # rows can outlive what it names. SQLite's checks are a lookup each, and dropping a constraint there means
    # copying the whole table: its databases keep them.
    if not isinstance(db, pw.PostgresqlDatabase):
        return
    for table, column, referenced in IMPLIED_FOREIGN_KEYS:
        names = db.execute_sql(
            "SELECT c.conname FROM pg_constraint c JOIN pg_attribute a "
            "ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey) "
            "WHERE c.contype = 'f' AND c.conrelid = to_regclass(%s) AND c.confrelid = to_regclass(%s) "
            "AND a.attname = %s AND cardinality(c.conkey) = 1",
            (table, referenced, column),
        ).fetchall()
        for (name,) in names:
            db.execute_sql(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name.replace(chr(34), chr(34) * 2)}"')
    # Read by no query: it served the constraint's checks when an assignment was deleted. Every claim and
    # submission wrote an entry to it (PostgreSQL updates no agent row in place: its status is indexed).
    db.execute_sql('DROP INDEX IF EXISTS "agent_assignment_id"')


def _drop_unit_run_worker_index(db: pw.Database) -> None:
    # Keyed by worker, so each claim and each submission wrote to a page of its own: with thousands of workers,
    # a page of the log per unit and step (SQLite) or an index entry (PostgreSQL, at both). The few queries by
    # run and worker name the task too, which the (task, worker) index serves.
    db.execute_sql('DROP INDEX IF EXISTS "unit_task_run_id_worker_id_status"')


#: The unique index of the agents' submission keys, over the agents that have one.
SUBMIT_KEY_INDEX = "agent_submit_key_given"


def _partial_submit_key_index(db: pw.Database) -> None:
    # A claim inserts an agent with no submit key yet, and the unique index over every agent took an entry for
    # that NULL too, only for the submission to write the key's own entry. Partial, the index holds the keys
    # alone, as unique as before; `submit_key = ?` implies IS NOT NULL, so both databases still look keys up in it.
    db.execute_sql('DROP INDEX IF EXISTS "agent_submit_key"')
    db.execute_sql(
        f'CREATE UNIQUE INDEX IF NOT EXISTS "{SUBMIT_KEY_INDEX}" ON "agent" ("submit_key") '
        'WHERE "submit_key" IS NOT NULL'
    )


#: The unit's index by worker alone, which peewee made for the foreign key until migration 17.
UNIT_WORKER_INDEX = "unit_worker_id"


def _drop_unit_worker_index(db: pw.Database) -> None:
    # Keyed by worker, so with thousands of workers every claim wrote to a page of its own: a tenth of SQLite's log
    # at 5,000 workers, and on PostgreSQL an entry at both the claim and the submission (no update of an indexed
    # row is heap-only), 6 % of its log per unit. The reads of a worker's units across tasks go through the
    # agents' (worker, status) index instead; those that name the task use the (task, worker) index.
    db.execute_sql(f'DROP INDEX IF EXISTS "{UNIT_WORKER_INDEX}"')


MIGRATIONS: list[Migration] = [
    Migration(1, "initial schema", _initial_schema),
    Migration(2, "claim order index on unit", _claim_order_index),
    Migration(3, "upload table: uploads counted per unit and worker, found after a crash", _upload_table),
    Migration(4, "payment table: the payments ledger (rewards, bonuses, fees) with idempotency keys", _payment_table),
    Migration(
        5, "publish_intent table: units recorded before and after the platform publishes them", _publish_intent_table
    ),
    Migration(6, "procedure_call table: remote procedure calls of task pages and their answers", _procedure_call_table),
    Migration(7, "live_message table: live transcripts per assignment", _live_message_table),
    Migration(8, "rule_action table: what the task file's quality rules did to workers", _rule_action_table),
    Migration(9, "withdrawn_unit table: units a task withdrew for good (never offered again)", _withdrawn_unit_table),
    Migration(
        10, "operator_lease table and agent.held_by: several operator processes serving one run", _operator_leases
    ),
    Migration(11, "drop the unit and agent indexes that composite indexes cover", _drop_covered_indexes),
    Migration(
        12,
        "drop the unit status index (written per claim and submission, read by no hot query)",
        _drop_unit_status_index,
    ),
    Migration(13, "partial index of the gold and screening units of each run, by status", _special_units_index),
    Migration(
        14,
        "PostgreSQL: drop the foreign keys of unit and agent to the run, task and assignment their assignment "
        "implies, and the agent's assignment index they used",
        _drop_implied_foreign_keys,
    ),
    Migration(
        15,
        "drop the unit index by run, worker and status (the task and worker index serves)",
        _drop_unit_run_worker_index,
    ),
    Migration(
        16,
        "the agent's submit_key index holds only the agents that have a key (a claim's new agent writes no entry)",
        _partial_submit_key_index,
    ),
    Migration(
        17,
        "drop the unit index by worker alone (written per claim; a worker's units are found through their agents)",
        _drop_unit_worker_index,
    ),
]


# Any fixed number: PostgreSQL advisory locks are keyed by integers shared by the whole server.
_MIGRATION_LOCK_KEY = 0x6D657068


def _serialise_with_other_processes(db: pw.Database) -> None:
    # SQLite's BEGIN IMMEDIATE (Database.write) already excludes other writers; PostgreSQL needs a lock
    # held until the transaction ends, or processes starting together apply the same migration twice.
    if isinstance(db, pw.PostgresqlDatabase):
        db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK_KEY,))


def current_version(db: pw.Database) -> int:
    if not db.table_exists(SchemaVersion._meta.table_name):
        return 0
    row = SchemaVersion.select(pw.fn.MAX(SchemaVersion.version)).scalar()
    return int(row or 0)


def apply_migrations(database: Database, migrations: list[Migration] | None = None) -> int:
    """Bring the schema up to the newest migration and return its version.

    Raises MigrationError, naming the migration and the cause, when one fails (its transaction is rolled back)
    or when the database was written by a newer mephisto than this one.
    """
    migrations = MIGRATIONS if migrations is None else migrations
    db = database.db
    with database.write():
        _serialise_with_other_processes(db)
        db.create_tables([SchemaVersion], safe=True)
    version = current_version(db)
    newest = max(m.version for m in migrations)
    if version > newest:
        raise MigrationError(
            f"the database has schema version {version} but this mephisto-core knows only up to {newest}; "
            "upgrade mephisto-core (pip install -U mephisto-core) before using this database"
        )
    for migration in sorted(migrations, key=lambda m: m.version):
        if migration.version <= version:
            continue
        try:
            with database.write():
                _serialise_with_other_processes(db)
                version = current_version(db)  # another process may have applied it while this one waited
                if migration.version <= version:
                    continue
                migration.apply(db)
                SchemaVersion.create(version=migration.version, name=migration.name)
        except Exception as exc:
            raise MigrationError(
                f"schema migration {migration.version} ({migration.name}) failed: {exc}. "
                "Nothing of it was applied; the database is still at version "
                f"{version}. Fix the cause (disk full? permissions? another process?) and start again."
            ) from exc
        version = migration.version
    return version
