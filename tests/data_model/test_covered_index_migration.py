"""Migration 11: the unit and agent indexes that a composite index leading with the same column covers are gone,
from a database made before it and from a fresh one; the covering indexes stay."""

from __future__ import annotations

from mephisto_core.data_model import Database
from mephisto_core.data_model.migrations import MIGRATIONS, apply_migrations, current_version
from mephisto_core.data_model.models import SchemaVersion

COVERED = {
    "unit": {"unit_assignment_id": "assignment_id", "unit_task_run_id": "task_run_id", "unit_task_id": "task_id"},
    "agent": {"agent_worker_id": "worker_id", "agent_task_run_id": "task_run_id"},
}


def indexes(database: Database, table: str) -> dict[str, list[str]]:
    return {index.name: index.columns for index in database.db.get_indexes(table)}


def assert_only_covering_indexes(database: Database) -> None:
    for table, covered in COVERED.items():
        present = indexes(database, table)
        assert not set(covered) & set(present), table
        for column in covered.values():  # each column still leads some index
            assert any(columns[0] == column for columns in present.values()), (table, column)


def test_a_version_10_database_loses_the_covered_indexes(database: Database) -> None:
    with database.write():  # what migration 1 made before models.py stopped declaring them
        for table, covered in COVERED.items():
            for name, column in covered.items():
                database.db.execute_sql(f'CREATE INDEX "{name}" ON "{table}" ("{column}")')
        SchemaVersion.delete().where(SchemaVersion.version > 10).execute()
    assert current_version(database.db) == 10

    assert apply_migrations(database) == max(m.version for m in MIGRATIONS)
    assert_only_covering_indexes(database)


def test_a_fresh_database_has_only_the_covering_indexes(database: Database) -> None:
    assert_only_covering_indexes(database)
