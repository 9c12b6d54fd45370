"""Migration 3: a database made before it gets the `upload` table that counts and finds uploads."""

from __future__ import annotations

from mephisto_core.data_model import Database, Upload
from mephisto_core.data_model.migrations import MIGRATIONS, apply_migrations, current_version
from mephisto_core.data_model.models import SchemaVersion


def test_a_version_2_database_gets_the_upload_table(database: Database) -> None:
    with database.write():
        database.db.drop_tables([Upload])
        SchemaVersion.delete().where(SchemaVersion.version > 2).execute()
    assert current_version(database.db) == 2 and not database.db.table_exists("upload")

    assert apply_migrations(database) == max(m.version for m in MIGRATIONS)
    assert database.db.table_exists("upload")
    index_columns = {tuple(index.columns) for index in database.db.get_indexes("upload")}
    assert {("upload_id",), ("unit_id", "worker_id"), ("task_run_id", "removed")} <= index_columns
