"""Review acts as the requester a run ran under, with that requester's credentials as stored when it acts.

A run keeps its requester's name, never credentials: the `[provider]` section's secret fields are left out of
`task_run.config`, and review builds the provider from the requester store at the moment of the action. A real
launch (local architect, simulated workers over HTTP/WebSocket) makes the run; `mephisto register` stores and
rotates the credentials; the provider records which requester and key each action went through.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest
import tomli_w
from pydantic import Field, SecretStr

from mephisto_core.abstractions import CrowdProvider, ProviderArgs, RequesterArgs, WorkerIdentity
from mephisto_core.data_model import Agent, Database, TaskRun, Unit, Worker
from mephisto_core.data_model.models import database_proxy
from mephisto_core.hookspecs import hookimpl
from mephisto_core.operations.review.actions import ReviewActions
from mephisto_core.operations.run.operator import Operator
from mephisto_core.operations.run.simulate import run_crowd
from mephisto_core.settings import Settings
from mephisto_core.task_config import load_task_config

pytestmark = pytest.mark.usefixtures("test_types")


class KeyedArgs(ProviderArgs):
    region: str = "us"
    # A key a careless task file may carry: declared secret, so never stored with the run.
    api_key: str | None = Field(default=None, json_schema_extra={"secret": True})


class KeyedRequesterArgs(RequesterArgs):
    api_key: SecretStr


class KeyedProvider(CrowdProvider):
    """Workers named by `worker_id`; every review action is recorded with the requester and key it used."""

    type_name = "keyed_test"
    Args = KeyedArgs
    RequesterArgs = KeyedRequesterArgs
    publishes_units = False
    calls: ClassVar[list[dict[str, Any]]] = []

    def identify_worker(self, params: Any) -> WorkerIdentity:
        return WorkerIdentity(params.get("worker_id"))

    def _record(self, action: str, worker: str) -> None:
        assert isinstance(self.args, KeyedArgs)
        KeyedProvider.calls.append(
            {
                "action": action,
                "worker": worker,
                "requester": self.requester_name,
                "key": self.credentials.get("api_key"),
                "args_key": self.args.api_key,
                "region": self.args.region,
            }
        )

    def approve_work(self, agent: Agent, feedback: str) -> None:
        self._record("approve", agent.worker.name)

    def block_worker(self, worker: Worker, reason: str) -> None:
        self._record("block", worker.name)

    def unblock_worker(self, worker: Worker) -> None:
        self._record("unblock", worker.name)


class _Plugin:
    @hookimpl
    def mephisto_register_providers(self, register: Any) -> None:
        register(KeyedProvider)


@pytest.fixture(autouse=True)
def keyed_provider(mephisto_register_plugin: Callable[[object], None]) -> None:
    mephisto_register_plugin(_Plugin())
    KeyedProvider.calls = []


@pytest.fixture
def register(mephisto_cli: Callable[..., Any], database: Database) -> Callable[[str, str], None]:
    """`register(name, key)`: `mephisto register keyed_test NAME api_key=KEY` (again: rotate the key)."""

    def run(name: str, key: str) -> None:
        result = mephisto_cli("register", "keyed_test", name, f"api_key={key}")
        assert result.exit_code == 0, result.output
        # The command opened and closed its own connection, which unbinds the models: bind the test's again.
        database_proxy.initialize(database.db)

    return run


def _launch(
    settings: Settings, database: Database, folder: Path, name: str, requester: str, workers: int, bots: str = ""
) -> int:
    """Launch task `name` as `requester` with a key in its task file; simulated workers (named `bots`-N, by
    default after the task) submit every unit."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "task": {"name": name, "title": name},
        "blueprint": {"type": "echo_test", "rows": workers},
        "architect": {"type": "local", "port": 0},
        "provider": {"type": "keyed_test", "requester_name": requester, "region": "eu", "api_key": "KEY-IN-TASK-FILE"},
    }
    (folder / "task.toml").write_text(tomli_w.dumps(config))
    task = load_task_config(folder / "task.toml")

    async def scenario() -> int:
        operator = Operator(settings, database)
        run = asyncio.create_task(operator.run(task))
        await asyncio.wait_for(operator.ready.wait(), 20)
        assert operator.ctx is not None
        report = await asyncio.wait_for(
            run_crowd(operator.stats.worker_url, operator.ctx.blueprint, workers, name_prefix=bots or name), 60
        )
        assert report.submitted == workers
        stats = await asyncio.wait_for(run, 30)
        return stats.run_id

    return asyncio.run(scenario())


def test_the_run_keeps_no_key_and_review_uses_the_rotated_one(
    database: Database, mephisto_settings: Settings, tmp_path: Path, register: Callable[[str, str], None]
) -> None:
    register("lab", "KEY-OLD")
    run_id = _launch(mephisto_settings, database, tmp_path / "t", "keyed", "lab", workers=1)
    run = TaskRun.get_by_id(run_id)
    stored = json.dumps(run.config)
    assert "KEY-IN-TASK-FILE" not in stored and "KEY-OLD" not in stored and "api_key" not in stored
    assert run.requester.name == "lab" and run.config["provider"]["region"] == "eu"

    register("lab", "KEY-NEW")  # the key is rotated after the launch
    (unit,) = Unit.select()
    ReviewActions(database, mephisto_settings, reviewer="test").approve(unit.id)
    assert KeyedProvider.calls == [
        {
            "action": "approve",
            "worker": Agent.get_by_id(unit.agent_id).worker.name,
            "requester": "lab",
            "key": "KEY-NEW",
            "args_key": "KEY-NEW",  # the secret field comes from the requester store, never the task file
            "region": "eu",
        }
    ]


def test_one_review_session_sees_a_key_rotated_while_it_runs(
    database: Database, mephisto_settings: Settings, tmp_path: Path, register: Callable[[str, str], None]
) -> None:
    register("lab", "KEY-1")
    _launch(mephisto_settings, database, tmp_path / "t", "keyed", "lab", workers=2)
    actions = ReviewActions(database, mephisto_settings, reviewer="test")  # as the review app holds it
    first, second = Unit.select().order_by(Unit.id)
    actions.approve(first.id)
    register("lab", "KEY-2")
    actions.approve(second.id)
    assert [call["key"] for call in KeyedProvider.calls] == ["KEY-1", "KEY-2"]


def test_actions_for_a_worker_go_through_the_requester_their_work_ran_under(
    database: Database, mephisto_settings: Settings, tmp_path: Path, register: Callable[[str, str], None]
) -> None:
    register("lab-a", "KEY-A")
    register("lab-b", "KEY-B")
    run_a = _launch(mephisto_settings, database, tmp_path / "a", "task-a", "lab-a", workers=1)
    run_b = _launch(mephisto_settings, database, tmp_path / "b", "task-b", "lab-b", workers=1)
    assert run_b > run_a  # lab-b's run is the newest of the provider type
    worker_a = Agent.get(Agent.task_run == run_a).worker
    worker_b = Agent.get(Agent.task_run == run_b).worker
    actions = ReviewActions(database, mephisto_settings, reviewer="test")

    actions.block_worker(worker_a.id, "copied answers")
    actions.approve(Unit.get(Unit.task_run == run_b).id)
    actions.unblock_worker(worker_a.id)
    assert [(c["action"], c["requester"], c["key"]) for c in KeyedProvider.calls] == [
        ("block", "lab-a", "KEY-A"),
        ("approve", "lab-b", "KEY-B"),
        ("unblock", "lab-a", "KEY-A"),
    ]
    assert worker_a.id != worker_b.id

    # Worker b now also works for lab-a: a block reaches both accounts, the newest run's first.
    _launch(mephisto_settings, database, tmp_path / "c", "task-c", "lab-a", workers=1, bots="task-b")
    assert Agent.select().where(Agent.worker == worker_b.id).count() == 2
    KeyedProvider.calls = []
    actions.block_worker(worker_b.id, "copied answers")
    assert [(c["requester"], c["worker"]) for c in KeyedProvider.calls] == [
        ("lab-a", worker_b.name),
        ("lab-b", worker_b.name),
    ]


def test_a_worker_who_never_worked_is_acted_on_through_the_newest_run_of_their_provider(
    database: Database, mephisto_settings: Settings, tmp_path: Path, register: Callable[[str, str], None]
) -> None:
    register("lab-a", "KEY-A")
    register("lab-b", "KEY-B")
    _launch(mephisto_settings, database, tmp_path / "a", "task-a", "lab-a", workers=1)
    _launch(mephisto_settings, database, tmp_path / "b", "task-b", "lab-b", workers=1)
    with database.write():
        added = Worker.create(provider_type=KeyedProvider.type_name, name="added-in-advance")
    KeyedProvider.calls = []

    ReviewActions(database, mephisto_settings, reviewer="test").block_worker(added.id, "known spammer")

    assert [(c["action"], c["requester"], c["worker"]) for c in KeyedProvider.calls] == [
        ("block", "lab-b", "added-in-advance")
    ]
