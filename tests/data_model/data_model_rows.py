"""Builders for data-model rows, so each test states only what it is about; the indexes a table has, and the plan
the database makes for a statement (what the index migrations are checked by)."""

from __future__ import annotations

import itertools
import secrets
from decimal import Decimal
from typing import Any

import peewee as pw

from mephisto_core.data_model import (
    Agent,
    Assignment,
    Database,
    Requester,
    Task,
    TaskRun,
    Unit,
    UnitStatus,
    Worker,
)


class RowFactory:
    """Creates valid rows with unique names; every method takes the fields a test cares about."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._counter = itertools.count(1)

    def _n(self) -> int:
        return next(self._counter)

    def task(self, name: str | None = None) -> Task:
        return Task.create(name=name or f"task-{self._n()}", blueprint_type="static")

    def requester(self) -> Requester:
        return Requester.create(name=f"requester-{self._n()}", provider_type="mock")

    def task_run(self, task: Task | None = None) -> TaskRun:
        task = task or self.task()
        return TaskRun.create(
            task=task,
            requester=self.requester(),
            blueprint_type="static",
            architect_type="local",
            provider_type="mock",
            config={"schema": 1, "task": {"name": task.name}},
        )

    def assignment(self, run: TaskRun | None = None) -> Assignment:
        return Assignment.create(task_run=run or self.task_run(), inputs={"text": "hello"})

    def unit(
        self,
        assignment: Assignment | None = None,
        *,
        index: int = 0,
        status: UnitStatus | str = UnitStatus.CREATED,
    ) -> Unit:
        assignment = assignment or self.assignment()
        run = assignment.task_run
        return Unit.create(
            assignment=assignment,
            task_run=run,
            task=run.task,
            unit_index=index,
            pay_amount=Decimal("0.50"),
            status=str(status),
        )

    def worker(self, name: str | None = None, provider_type: str = "mock") -> Worker:
        return Worker.create(name=name or f"worker-{self._n()}", provider_type=provider_type)

    def agent(self, unit: Unit | None = None, worker: Worker | None = None, **fields: object) -> Agent:
        unit = unit or self.unit()
        return Agent.create(
            unit=unit,
            worker=worker or self.worker(),
            task_run=unit.task_run,
            assignment=unit.assignment,
            token=secrets.token_hex(8),
            **fields,
        )


def index_columns(database: Database, table: str) -> dict[str, list[str]]:
    """The table's indexes by name, each with its columns (what the schema migrations add and drop)."""
    return {index.name: index.columns for index in database.db.get_indexes(table)}


def query_plan(database: Database, sql: str, params: Any) -> str:
    """The database's plan for a statement, as one line of text that names the indexes it reads. PostgreSQL is
    kept off sequential scans while it plans, as it reads the few rows of a test's tables whole otherwise."""
    db = database.db
    if isinstance(db, pw.PostgresqlDatabase):
        db.execute_sql("SET enable_seqscan = off")
        try:
            return " ".join(row[0] for row in db.execute_sql("EXPLAIN " + sql, params))
        finally:
            db.execute_sql("RESET enable_seqscan")
    return " ".join(str(row[-1]) for row in db.execute_sql("EXPLAIN QUERY PLAN " + sql, params))
