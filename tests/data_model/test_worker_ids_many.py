"""`worker_ids_many`: the ids of a batch of hellos' workers, those seen for the first time created, as the usual
way's `add_worker` creates each. On PostgreSQL in one statement (one round trip to a database on another
machine, where finding and adding took two)."""

from __future__ import annotations

from typing import Any

import pytest

from mephisto_core.data_model import Database, Worker
from mephisto_core.data_model.models import utcnow
from mephisto_core.data_model.pool_sql import PoolQueries
from mephisto_core.data_model.pool_sql_many import worker_ids_many


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    statements: list[str] = []
    real = PoolQueries.db_execute

    def counted(queries: PoolQueries, sql: str, params: Any) -> Any:
        statements.append(sql)
        return real(queries, sql, params)

    monkeypatch.setattr(PoolQueries, "db_execute", counted)
    return statements


def test_known_workers_are_found_and_new_ones_created(database: Database, sent: list[str]) -> None:
    with database.write():
        known = Worker.create(provider_type="mock", name="known").id
        Worker.create(provider_type="other", name="new")  # the same name at another provider is another worker
    queries = PoolQueries(run_id=1, qualification_names=[])
    with database.write():
        ids = worker_ids_many(queries, "mock", ["new", "known", "newer"], utcnow())
    assert ids["known"] == known
    assert set(ids) == {"new", "known", "newer"}
    created = {w.name: w.id for w in Worker.select().where(Worker.provider_type == "mock")}
    assert created == ids
    assert len(sent) == (2 if database.is_sqlite else 1)


def test_only_the_new_names_take_ids(database: Database, sent: list[str]) -> None:
    with database.write():
        first = Worker.create(provider_type="mock", name="a").id
    queries = PoolQueries(run_id=1, qualification_names=[])
    with database.write():
        ids = worker_ids_many(queries, "mock", ["a", "b"], utcnow())
        again = worker_ids_many(queries, "mock", ["a", "b", "c"], utcnow())
    assert ids == {"a": first, "b": first + 1}  # "a", already there, took no number from the sequence
    assert again == {"a": first, "b": first + 1, "c": first + 2}
