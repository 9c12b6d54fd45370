"""Migration 2: a database made before it gets the claim-order index on units in place of the older one."""

from __future__ import annotations

from mephisto_core.data_model import Database
from mephisto_core.data_model.migrations import MIGRATIONS, apply_migrations, current_version
from mephisto_core.data_model.models import SchemaVersion


def unit_indexes(database: Database) -> set[str]:
    return {index.name for index in database.db.get_indexes("unit")}


def test_a_version_1_database_gets_the_claim_order_index(database: Database) -> None:
    # What migration 1 made before the index changed: the run-and-status index without `id`.
    with database.write():
        database.db.execute_sql('DROP INDEX "unit_task_run_id_status_id"')
        database.db.execute_sql('CREATE INDEX "unit_task_run_id_status" ON "unit" ("task_run_id", "status")')
        SchemaVersion.delete().where(SchemaVersion.version > 1).execute()
    assert current_version(database.db) == 1

    assert apply_migrations(database) == max(m.version for m in MIGRATIONS)
    indexes = unit_indexes(database)
    assert "unit_task_run_id_status_id" in indexes and "unit_task_run_id_status" not in indexes
    (claim_order,) = [i for i in database.db.get_indexes("unit") if i.name == "unit_task_run_id_status_id"]
    assert claim_order.columns == ["task_run_id", "status", "id"]


def test_a_fresh_database_has_only_the_claim_order_index(database: Database) -> None:
    indexes = unit_indexes(database)
    assert "unit_task_run_id_status_id" in indexes and "unit_task_run_id_status" not in indexes
