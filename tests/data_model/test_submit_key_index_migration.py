"""Migration 16: the agents' submit keys are unique through a partial index over the agents that have one, so the
new agent of every claim (no key yet) writes no entry; a database made before it loses the index over every agent.
Keys stay unique, any number of agents may have none, and a lookup by key reads the index on both databases."""

from __future__ import annotations

import peewee as pw
import pytest
from data_model_rows import RowFactory, index_columns, query_plan

from mephisto_core.data_model import Agent, Database
from mephisto_core.data_model.migrations import MIGRATIONS, SUBMIT_KEY_INDEX, apply_migrations, current_version
from mephisto_core.data_model.models import SchemaVersion

FULL_INDEX = "agent_submit_key"


def test_a_version_15_database_gets_the_partial_index_instead_of_the_full_one(database: Database) -> None:
    with database.write():  # what migration 1 made while models.py declared submit_key unique
        database.db.execute_sql(f'DROP INDEX IF EXISTS "{SUBMIT_KEY_INDEX}"')
        database.db.execute_sql(f'CREATE UNIQUE INDEX "{FULL_INDEX}" ON "agent" ("submit_key")')
        SchemaVersion.delete().where(SchemaVersion.version > 15).execute()
    assert current_version(database.db) == 15

    assert apply_migrations(database) == max(m.version for m in MIGRATIONS)
    indexes = index_columns(database, "agent")
    assert FULL_INDEX not in indexes
    assert indexes[SUBMIT_KEY_INDEX] == ["submit_key"]


def test_keys_stay_unique_and_agents_without_one_are_not_indexed(database: Database, rows: RowFactory) -> None:
    index = next(i for i in database.db.get_indexes("agent") if i.name == SUBMIT_KEY_INDEX)
    assert index.unique and "IS NOT NULL" in index.sql.upper()
    first = rows.agent(submit_key="key-1")
    rows.agent(unit=first.unit)  # no key: as many as there are claims
    rows.agent(unit=first.unit)
    with pytest.raises(pw.IntegrityError), database.write():
        rows.agent(unit=first.unit, submit_key="key-1")
    assert Agent.select().where(Agent.submit_key.is_null()).count() == 2


def test_a_lookup_by_key_reads_the_partial_index(database: Database, rows: RowFactory) -> None:
    rows.agent(submit_key="key-1")
    query = Agent.select(Agent.id).where(Agent.submit_key == "key-1")
    plan = query_plan(database, *query.sql())
    assert SUBMIT_KEY_INDEX in plan, plan
