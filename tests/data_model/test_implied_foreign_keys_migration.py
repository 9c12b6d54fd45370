"""Migration 14: on PostgreSQL the unit's and agent's foreign keys to the run, task and assignment that their
assignment implies are gone (from a database made before it and from a fresh one), with the agent's assignment
index; the chain agent -> unit -> assignment -> run -> task keeps its constraints, so no row outlives what it
names. SQLite keeps them all."""

from __future__ import annotations

import peewee as pw
import pytest
from data_model_rows import RowFactory

from mephisto_core.data_model import Database
from mephisto_core.data_model.migrations import IMPLIED_FOREIGN_KEYS, MIGRATIONS, apply_migrations, current_version
from mephisto_core.data_model.models import SchemaVersion

#: the foreign keys every database keeps: (table, column, referenced table)
KEPT = {
    ("agent", "unit_id", "unit"),
    ("agent", "worker_id", "worker"),
    ("unit", "assignment_id", "assignment"),
    ("unit", "worker_id", "worker"),
    ("assignment", "task_run_id", "task_run"),
    ("task_run", "task_id", "task"),
}


def foreign_keys(database: Database) -> set[tuple[str, str, str]]:
    """(table, column, referenced table) of every foreign key of the four tables, as the database reports them."""
    found = set()
    for table in ("agent", "unit", "assignment", "task_run"):
        for key in database.db.get_foreign_keys(table):
            found.add((table, key.column, key.dest_table))
    return found


def agent_index_columns(database: Database) -> list[list[str]]:
    return [index.columns for index in database.db.get_indexes("agent")]


def test_a_fresh_database_keeps_only_the_chain_on_postgresql(database: Database) -> None:
    keys = foreign_keys(database)
    assert keys >= KEPT
    if database.is_sqlite:
        assert keys >= set(IMPLIED_FOREIGN_KEYS)  # a lookup each there; dropping one would copy the table
        assert ["assignment_id"] in agent_index_columns(database)  # what deleting an assignment checks through
    else:
        assert not keys & set(IMPLIED_FOREIGN_KEYS)
        assert ["assignment_id"] not in agent_index_columns(database)


@pytest.mark.parametrize("database_target", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_a_version_13_postgresql_database_loses_them(database: Database) -> None:
    with database.write():  # what migration 1 made before this migration
        for table, column, referenced in IMPLIED_FOREIGN_KEYS:
            database.db.execute_sql(
                f'ALTER TABLE "{table}" ADD CONSTRAINT "{table}_{column}_fkey" '
                f'FOREIGN KEY ("{column}") REFERENCES "{referenced}" ("id")'
            )
        database.db.execute_sql('CREATE INDEX "agent_assignment_id" ON "agent" ("assignment_id")')
        SchemaVersion.delete().where(SchemaVersion.version > 13).execute()
    assert current_version(database.db) == 13
    assert foreign_keys(database) >= set(IMPLIED_FOREIGN_KEYS)
    assert ["assignment_id"] in agent_index_columns(database)

    assert apply_migrations(database) == max(m.version for m in MIGRATIONS)
    keys = foreign_keys(database)
    assert keys >= KEPT
    assert not keys & set(IMPLIED_FOREIGN_KEYS)
    assert ["assignment_id"] not in agent_index_columns(database)


def test_nothing_an_agent_names_can_be_deleted_under_it(database: Database, rows: RowFactory) -> None:
    agent = rows.agent()
    unit, assignment, run = agent.unit, agent.assignment, agent.task_run
    for delete in (unit.delete_instance, assignment.delete_instance, run.delete_instance, run.task.delete_instance):
        with pytest.raises(pw.IntegrityError), database.write():
            delete()
    with database.write():
        agent.delete_instance()
        unit.delete_instance()
        assignment.delete_instance()
        run.delete_instance()
        run.task.delete_instance()
