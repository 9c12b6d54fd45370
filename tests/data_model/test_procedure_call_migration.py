"""Migration 6: a database made before it gets the `procedure_call` table (remote procedure calls and answers)."""

from __future__ import annotations

from mephisto_core.data_model import Database
from mephisto_core.data_model.migrations import MIGRATIONS, apply_migrations, current_version
from mephisto_core.data_model.models import SchemaVersion
from mephisto_core.data_model.procedure_calls import ProcedureCall


def test_a_version_5_database_gets_the_procedure_call_table(database: Database) -> None:
    with database.write():
        database.db.drop_tables([ProcedureCall])
        SchemaVersion.delete().where(SchemaVersion.version > 5).execute()
    assert current_version(database.db) == 5 and not database.db.table_exists("procedure_call")

    assert apply_migrations(database) == max(m.version for m in MIGRATIONS)
    assert database.db.table_exists("procedure_call")
    indexes = {tuple(index.columns): index.unique for index in database.db.get_indexes("procedure_call")}
    assert indexes[("agent_id", "call_key")] is True  # a resent call is the same row
    assert ("task_run_id", "unit_id") in indexes
