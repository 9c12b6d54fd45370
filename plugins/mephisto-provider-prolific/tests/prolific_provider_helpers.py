"""Helpers for the provider's tests against the fake Prolific (imported by bare name)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from mephisto_provider_prolific.args import ProlificArgs
from mephisto_provider_prolific.provider import ProlificProvider
from mephisto_provider_prolific.testing import FakeProlific

from mephisto_core.data_model import Agent, Assignment, Database, Requester, Task, TaskRun, Unit, Worker

WORKER_URL = "https://tasks.example.org/"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProlific]:
    """A fake Prolific the provider talks to (through the test-only MEPHISTO_PROLIFIC_* settings)."""
    with FakeProlific() as running:
        monkeypatch.setenv("MEPHISTO_PROLIFIC_API_URL", running.base_url)
        monkeypatch.setenv("MEPHISTO_PROLIFIC_COMPLETION_URL", running.completion_url)
        yield running


def make_provider(fake: FakeProlific, data_dir: Path, **args: Any) -> ProlificProvider:
    """The provider as the core builds it, with the fake's token."""
    return ProlificProvider(
        ProlificArgs(**args), "prolific", {"api_key": fake.api_key}, ProlificProvider.data_dir_under(data_dir)
    )


def make_run(
    database: Database,
    units: int,
    *,
    reward: str = "0.50",
    qualifications: Sequence[dict[str, Any]] = (),
    task_name: str = "label-things",
) -> tuple[TaskRun, list[Unit]]:
    """A run of `units` one-unit assignments, launched, with a `[task]` section the provider reads."""
    with database.write():
        requester, _ = Requester.get_or_create(name="prolific", defaults={"provider_type": "prolific"})
        task, _ = Task.get_or_create(name=task_name, defaults={"blueprint_type": "static"})
        config = {
            "schema": 1,
            "task": {
                "name": task_name,
                "title": "Label some things",
                "description": "Say what each picture shows.",
                "reward": reward,
                "assignment_duration_seconds": 600,
                "qualifications": list(qualifications),
            },
            "provider": {"type": "prolific"},
        }
        run = TaskRun.create(
            task=task,
            requester=requester,
            blueprint_type="static",
            architect_type="local",
            provider_type="prolific",
            config=config,
        )
        made = []
        for index in range(units):
            assignment = Assignment.create(task_run=run, inputs={"index": index})
            made.append(
                Unit.create(
                    assignment=assignment,
                    task_run=run,
                    task=task,
                    unit_index=0,
                    pay_amount=Decimal(reward),
                    status="launched",
                )
            )
    return run, made


def hold(database: Database, unit: Unit, participant: str, session: str) -> Agent:
    """`participant` holds `unit` here through an in_task agent whose provider id is their session."""
    with database.write():
        worker, _ = Worker.get_or_create(provider_type="prolific", name=participant)
        agent = Agent.create(
            unit=unit,
            worker=worker,
            task_run=unit.task_run,
            assignment=unit.assignment,
            token=secrets.token_hex(8),
            provider_agent_id=session,
        )
        unit.agent_id, unit.worker, unit.status = agent.id, worker, "assigned"
        unit.save()
    return agent


def submit_here(database: Database, unit: Unit, agent: Agent) -> None:
    """The agent's submission was stored here (unit and agent `completed`)."""
    with database.write():
        agent.status, agent.outputs = "completed", {"answer": "cat"}
        agent.save()
        unit.status = "completed"
        unit.save()


def keys_for(units: Sequence[Unit]) -> dict[int, str]:
    return {unit.id: f"mephisto-key-{unit.id}-{secrets.token_hex(3)}" for unit in units}
