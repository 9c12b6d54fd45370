"""A task's units as the data browser and the review app count and page them: found through the (task_run, status,
id) index, which answers by status without reading a row, not through (task, worker), which reads every unit's row
for its status (120-230 ms against 7-24 ms at 100,000 units on SQLite; docs/performance.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from data_model_rows import RowFactory, query_plan

from mephisto_core.data_model import Database, Task, Unit, UnitStatus
from mephisto_core.operations.data_browser import DataBrowser
from mephisto_core.review_app import reads

RUN_STATUS_INDEX = "unit_task_run_id_status_id"
TASK_WORKER_INDEX = "unit_task_id_worker_id"


def _statements(database: Database, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """Every statement the database runs from now on, with its parameters."""
    seen: list[tuple[str, Any]] = []
    real = database.db.execute_sql

    def recording(sql: str, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        seen.append((sql, params))
        return real(sql, params, *args, **kwargs)

    monkeypatch.setattr(database.db, "execute_sql", recording)
    return seen


def _submitted_task(rows: RowFactory) -> Task:
    """A task of two runs with units in several statuses (submitted ones by a worker), and another task."""
    task = rows.task()
    for run in (rows.task_run(task), rows.task_run(task)):
        for status in (UnitStatus.COMPLETED, UnitStatus.ACCEPTED, UnitStatus.LAUNCHED):
            unit = rows.unit(rows.assignment(run), status=status)
            agent = rows.agent(unit=unit, status="completed")
            Unit.update(worker=agent.worker_id, agent_id=agent.id).where(Unit.id == unit.id).execute()
    rows.unit(rows.assignment(rows.task_run()), status=UnitStatus.COMPLETED)
    return task


@pytest.mark.parametrize(
    "read",
    [
        pytest.param(lambda browser, name: browser.count(task=name), id="count"),
        pytest.param(lambda browser, name: browser.page(2, 2, task=name), id="page"),
        pytest.param(lambda browser, name: browser.count(task=name, statuses=["accepted"]), id="count-by-status"),
        pytest.param(lambda browser, name: browser.tasks(), id="task-list"),
    ],
)
def test_a_tasks_counts_bounds_and_pages_read_the_run_status_index(
    database: Database, rows: RowFactory, monkeypatch: pytest.MonkeyPatch, read: Callable[[DataBrowser, str], Any]
) -> None:
    name = str(_submitted_task(rows).name)
    browser = DataBrowser(database)
    statements = _statements(database, monkeypatch)
    read(browser, name)
    monkeypatch.undo()
    # The statements that find units by task (counts, id bounds, the skip to a page, counts by status): not the
    # batch that reads the page's rows, which walks the primary key on purpose (DataBrowser._filtered).
    finding = [(sql, params) for sql, params in statements if 'FROM "unit"' in sql and '"inputs"' not in sql]
    assert finding, statements
    for sql, params in finding:
        plan = query_plan(database, sql, params)
        assert RUN_STATUS_INDEX in plan and TASK_WORKER_INDEX not in plan, (sql, plan)


def test_the_review_apps_task_screen_reads_the_run_status_index(
    database: Database, rows: RowFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    task_id = int(_submitted_task(rows).id)
    statements = _statements(database, monkeypatch)
    workers = reads._task_workers(task_id)
    shared = reads._has_shared_assignments(task_id)
    monkeypatch.undo()
    assert sum(worker["units"] for worker in workers) == 4 and not shared
    finding = [(sql, params) for sql, params in statements if 'FROM "unit"' in sql]
    assert len(finding) == 2, statements
    for sql, params in finding:
        plan = query_plan(database, sql, params)
        assert RUN_STATUS_INDEX in plan and TASK_WORKER_INDEX not in plan, (sql, plan)


def test_agreement_is_offered_once_two_units_of_one_assignment_are_submitted(
    database: Database, rows: RowFactory
) -> None:
    task = rows.task()
    run = rows.task_run(task)
    rows.unit(rows.assignment(run), status=UnitStatus.COMPLETED)  # an assignment of one unit
    pair = rows.assignment(run)
    rows.unit(pair, index=0, status=UnitStatus.ACCEPTED)
    second = rows.unit(pair, index=1, status=UnitStatus.ASSIGNED)  # its second unit not submitted yet
    other = rows.assignment(rows.task_run())  # another task's assignment with two submitted units
    rows.unit(other, index=0, status=UnitStatus.COMPLETED)
    rows.unit(other, index=1, status=UnitStatus.COMPLETED)
    assert reads._has_shared_assignments(int(task.id)) is False
    Unit.update(status=UnitStatus.COMPLETED.value).where(Unit.id == second.id).execute()
    assert reads._has_shared_assignments(int(task.id)) is True
