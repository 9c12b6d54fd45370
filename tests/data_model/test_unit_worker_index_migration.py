"""Migration 17: units lose their index by worker alone, which every claim wrote to a page of its own. A worker's
units across tasks (their review statistics, the data browser's worker filter) are found through the agents'
(worker, status) index instead, and count the same units as before."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from data_model_rows import RowFactory, index_columns, query_plan

from mephisto_core.data_model import Database, Unit, UnitStatus, Worker
from mephisto_core.data_model.migrations import MIGRATIONS, UNIT_WORKER_INDEX, apply_migrations, current_version
from mephisto_core.data_model.models import SchemaVersion
from mephisto_core.operations.data_browser import DataBrowser
from mephisto_core.operations.review.worker_stats import submitted_unit_counts

AGENT_WORKER_INDEX = "agent_worker_id_status"


def test_a_version_16_database_loses_the_index(database: Database) -> None:
    with database.write():  # what migration 1 made while models.py let peewee index the foreign key
        database.db.execute_sql(f'CREATE INDEX "{UNIT_WORKER_INDEX}" ON "unit" ("worker_id")')
        SchemaVersion.delete().where(SchemaVersion.version > 16).execute()
    assert current_version(database.db) == 16

    assert apply_migrations(database) == max(m.version for m in MIGRATIONS)
    assert UNIT_WORKER_INDEX not in index_columns(database, "unit")


def _submitted(rows: RowFactory, worker: Worker, status: UnitStatus = UnitStatus.COMPLETED) -> Unit:
    """A unit `worker` submitted: their agent is the unit's current one."""
    unit = rows.unit(status=status)
    agent = rows.agent(unit=unit, worker=worker, status="completed")
    Unit.update(worker=agent.worker_id, agent_id=agent.id).where(Unit.id == unit.id).execute()
    return unit


def test_a_workers_counts_take_the_units_they_submitted_and_no_other(database: Database, rows: RowFactory) -> None:
    alice, bob = rows.worker("alice"), rows.worker("bob")
    _submitted(rows, alice)
    _submitted(rows, alice, UnitStatus.ACCEPTED)
    _submitted(rows, alice, UnitStatus.REJECTED)
    # a unit alice held and returned, which bob then took and submitted: his, not hers
    retaken = rows.unit()
    rows.agent(unit=retaken, worker=alice, status="returned")
    bobs = rows.agent(unit=retaken, worker=bob, status="completed")
    Unit.update(worker=bob.id, agent_id=bobs.id, status=UnitStatus.COMPLETED.value).where(
        Unit.id == retaken.id
    ).execute()
    # one alice holds now: assigned, not submitted
    held = rows.unit(status=UnitStatus.ASSIGNED)
    holding = rows.agent(unit=held, worker=alice)
    Unit.update(worker=alice.id, agent_id=holding.id).where(Unit.id == held.id).execute()

    assert submitted_unit_counts(alice.id) == {"completed": 1, "accepted": 1, "rejected": 1}
    assert submitted_unit_counts(bob.id) == {"completed": 1}
    browser = DataBrowser(database)
    assert [r.unit_id for r in browser.units(worker="bob")] == [retaken.id]
    assert browser.count(worker="alice") == 3


def _statements(
    database: Database, monkeypatch: pytest.MonkeyPatch, read: Callable[[], object]
) -> list[tuple[str, Any]]:
    """The SELECT statements `read` ran on `database`, with their parameters."""
    ran: list[tuple[str, Any]] = []
    execute_sql = database.db.execute_sql

    def recording(sql: str, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        ran.append((sql, params))
        return execute_sql(sql, params, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(database.db, "execute_sql", recording)
        read()
    return [(sql, params) for sql, params in ran if sql.lstrip().upper().startswith("SELECT")]


def test_a_workers_units_are_found_through_the_agents_index(
    database: Database, rows: RowFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = rows.worker("alice")
    _submitted(rows, worker)
    # the worker's statistics: one statement, through the agents' index
    (counts,) = _statements(database, monkeypatch, lambda: submitted_unit_counts(worker.id))
    assert AGENT_WORKER_INDEX in query_plan(database, *counts)
    # the data browser's bounds for a worker filter (the batches then walk units by id between them)
    browser = DataBrowser(database)
    ran = _statements(database, monkeypatch, lambda: list(browser.units(worker="alice")))
    bounds = [statement for statement in ran if "MIN(" in statement[0].upper()]
    assert bounds and all(AGENT_WORKER_INDEX in query_plan(database, *statement) for statement in bounds)
