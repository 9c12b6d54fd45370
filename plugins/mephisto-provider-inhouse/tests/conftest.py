"""Fixtures: the in-house provider built the way the core builds it, its roster, the CLI, and a worked unit."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from mephisto_provider_inhouse.provider import InhouseProvider
from mephisto_provider_inhouse.roster import RosterWorker, edit_roster, new_worker, roster_path

from mephisto_core.cli import cli
from mephisto_core.data_model import Agent, Assignment, Database, Requester, Task, TaskRun, Unit, Worker
from mephisto_core.operations.providers import build_provider
from mephisto_core.settings import Settings


@pytest.fixture
def provider(mephisto_settings: Settings) -> InhouseProvider:
    """The provider as `mephisto launch` builds it: data dir `<MEPHISTO_DATA_DIR>/providers/inhouse`."""
    built = build_provider(mephisto_settings, "inhouse", {})
    assert isinstance(built, InhouseProvider)
    return built


@pytest.fixture
def add_workers(provider: InhouseProvider) -> Callable[..., dict[str, RosterWorker]]:
    """`add_workers("alice", "bob")` puts workers with fresh tokens in the provider's roster; returns them."""

    def add(*names: str) -> dict[str, RosterWorker]:
        with edit_roster(roster_path(provider.data_dir)) as workers:
            for name in names:
                workers[name] = new_worker(name)
            return {name: workers[name] for name in names}

    return add


@pytest.fixture
def run_cli(mephisto_settings: Settings) -> Callable[..., Result]:
    """`run_cli("inhouse", "list")` runs the real `mephisto` command group in-process against tmp settings."""
    runner = CliRunner()

    def run(*args: str | Path) -> Result:
        return runner.invoke(cli, [str(arg) for arg in args], catch_exceptions=False)

    return run


@pytest.fixture
def worked_unit(sqlite_database: Database) -> tuple[Worker, Unit, Agent]:
    """In-house worker alice holding unit 0 of a one-assignment run, through one agent."""
    with sqlite_database.write():
        requester = Requester.create(name="INHOUSE", provider_type="inhouse")
        task = Task.create(name="t", blueprint_type="static")
        run = TaskRun.create(
            task=task,
            requester=requester,
            blueprint_type="static",
            architect_type="local",
            provider_type="inhouse",
            config={},
            sandbox=False,
        )
        assignment = Assignment.create(task_run=run, inputs={"x": 1})
        worker = Worker.create(provider_type="inhouse", name="alice")
        unit = Unit.create(
            assignment=assignment,
            task_run=run,
            task=task,
            unit_index=0,
            pay_amount=Decimal("0.05"),
            worker=worker,
        )
        agent = Agent.create(unit=unit, worker=worker, task_run=run, assignment=assignment, token="alice-agent")
        unit.agent_id = agent.id
        unit.save()
    return worker, unit, agent
