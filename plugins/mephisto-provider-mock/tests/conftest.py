"""Fixtures: a real SQLite database with one worker holding one unit, and a mock provider over a data dir."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from mephisto_provider_mock.provider import MockProvider

from mephisto_core.data_model import (
    Agent,
    Assignment,
    Database,
    Requester,
    Task,
    TaskRun,
    Unit,
    Worker,
)


@pytest.fixture
def worked_unit(sqlite_database: Database) -> tuple[Worker, Unit, Agent]:
    """Worker alice holding unit 0 of a one-assignment run, through one agent."""
    with sqlite_database.write():
        requester = Requester.create(name="MOCK_REQUESTER", provider_type="mock")
        task = Task.create(name="t", blueprint_type="static")
        run = TaskRun.create(
            task=task,
            requester=requester,
            blueprint_type="static",
            architect_type="local",
            provider_type="mock",
            config={},
            sandbox=True,
        )
        assignment = Assignment.create(task_run=run, inputs={"x": 1})
        worker = Worker.create(provider_type="mock", name="alice")
        unit = Unit.create(
            assignment=assignment,
            task_run=run,
            task=task,
            unit_index=0,
            pay_amount=Decimal("0.05"),
            worker=worker,
        )
        agent = Agent.create(unit=unit, worker=worker, task_run=run, assignment=assignment, token="alice-token")
        unit.agent_id = agent.id
        unit.save()
    return worker, unit, agent


@pytest.fixture
def provider(tmp_path: Path) -> MockProvider:
    data_dir = tmp_path / "data"
    return MockProvider(MockProvider.Args(), "MOCK_REQUESTER", {}, data_dir)
