"""Migration 12: the unit status index, written by every claim and submission and read by no hot query, is gone
from a database made before it and from a fresh one; the queries that filtered by status alone still answer."""

from __future__ import annotations

from mephisto_core.data_model import Database
from mephisto_core.data_model.migrations import MIGRATIONS, apply_migrations, current_version
from mephisto_core.data_model.models import SchemaVersion


def unit_indexes(database: Database) -> dict[str, list[str]]:
    return {index.name: index.columns for index in database.db.get_indexes("unit")}


def test_a_version_11_database_loses_the_unit_status_index(database: Database) -> None:
    with database.write():  # what migration 1 made before models.py stopped declaring it
        database.db.execute_sql('CREATE INDEX "unit_status" ON "unit" ("status")')
        SchemaVersion.delete().where(SchemaVersion.version > 11).execute()
    assert current_version(database.db) == 11
    assert "unit_status" in unit_indexes(database)

    assert apply_migrations(database) == max(m.version for m in MIGRATIONS)
    assert "unit_status" not in unit_indexes(database)


def test_a_fresh_database_has_no_index_on_status_alone(database: Database) -> None:
    present = unit_indexes(database)
    assert ["status"] not in present.values()
    assert ["task_run_id", "status", "id"] in present.values()  # the claim's index stays
