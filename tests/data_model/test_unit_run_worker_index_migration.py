"""Migration 15: the unit index by (run, worker, status), written at both the claim and the submission of every
unit, is gone from a database made before it and from a fresh one; a worker's units of a run, asked with the
task named, are found through the (task, worker) index."""

from __future__ import annotations

from data_model_rows import RowFactory, index_columns, query_plan

from mephisto_core.data_model import Database, Unit
from mephisto_core.data_model.migrations import MIGRATIONS, apply_migrations, current_version
from mephisto_core.data_model.models import SchemaVersion

DROPPED = "unit_task_run_id_worker_id_status"


def test_a_version_14_database_loses_the_index(database: Database) -> None:
    with database.write():  # what migration 1 made before models.py stopped declaring it
        database.db.execute_sql(f'CREATE INDEX "{DROPPED}" ON "unit" ("task_run_id", "worker_id", "status")')
        SchemaVersion.delete().where(SchemaVersion.version > 14).execute()
    assert current_version(database.db) == 14
    assert DROPPED in index_columns(database, "unit")

    assert apply_migrations(database) == max(m.version for m in MIGRATIONS)
    assert DROPPED not in index_columns(database, "unit")


def test_a_fresh_database_indexes_units_by_task_and_worker_only(database: Database) -> None:
    by_worker = [columns for columns in index_columns(database, "unit").values() if "worker_id" in columns]
    assert sorted(by_worker) == [["task_id", "worker_id"]]  # and no index by worker alone (migration 17)


def test_a_workers_units_of_a_run_are_read_through_the_task_index(sqlite_database: Database) -> None:
    unit = RowFactory(sqlite_database).unit()
    query = Unit.select(Unit.id).where(
        (Unit.task == unit.task_id) & (Unit.task_run == unit.task_run_id) & (Unit.worker == 1)
    )
    plan = query_plan(sqlite_database, *query.sql())
    assert "unit_task_id_worker_id" in plan, plan
