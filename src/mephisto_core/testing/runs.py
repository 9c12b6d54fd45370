"""Rows a plugin's tests start from: a unit held by a worker, a run whose units were all submitted.

The rows are written to a real, migrated database (SQLite or PostgreSQL) through the models, exactly as the
operator writes them, so the code under test reads them as it reads a real run. The fixtures in
`mephisto_core.testing.pytest_plugin` (`make_held_unit`, `make_submitted_run`) call these on the test's database.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from mephisto_core.data_model import Agent, Database, Task, TaskRun, Unit, Worker

#: When the first unit of a `create_submitted_run` was submitted (naive UTC, as the database stores times).
SUBMITTED_AT = dt.datetime(2024, 5, 1, 12, 0, 0)


class HeldUnit(NamedTuple):
    """A worker holding a unit through its agent; unpacks as `worker, unit, agent = held`."""

    worker: Worker
    unit: Unit
    agent: Agent


@dataclass(frozen=True)
class SubmittedRun:
    """A task run whose every unit was submitted (unit and agent `completed`), in unit order."""

    task: Task
    run: TaskRun
    units: list[Unit]

    @property
    def agents(self) -> list[Agent]:
        """The agent that submitted each unit, in unit order."""
        from mephisto_core.data_model import Agent

        return [Agent.get_by_id(unit.agent_id) for unit in self.units]


def _new_run(
    task_name: str, provider_type: str, requester_name: str | None, blueprint_type: str, sandbox: bool
) -> tuple[Task, TaskRun]:
    from mephisto_core.data_model import Requester, Task, TaskRun

    requester, _ = Requester.get_or_create(
        name=requester_name or f"{provider_type}-requester", defaults={"provider_type": provider_type}
    )
    task, _ = Task.get_or_create(name=task_name, defaults={"blueprint_type": blueprint_type})
    run = TaskRun.create(
        task=task,
        requester=requester,
        blueprint_type=blueprint_type,
        architect_type="local",
        provider_type=provider_type,
        config={"schema": 1, "task": {"name": task_name}},
        sandbox=sandbox,
    )
    return task, run


def create_held_unit(
    database: Database,
    *,
    provider_type: str = "mock",
    worker_name: str = "alice",
    requester_name: str | None = None,
    blueprint_type: str = "static",
    inputs: Mapping[str, Any] | None = None,
    pay_amount: Decimal = Decimal("0.05"),
    sandbox: bool = True,
    task_name: str = "t",
) -> HeldUnit:
    """Worker `worker_name` of `provider_type` holding unit 0 of a new one-assignment run, through one agent.

    The unit has the worker and its agent as a claimed unit has; the agent is `in_task`. Review actions,
    provider calls and pages can then act on it.
    """
    from mephisto_core.data_model import Agent, Assignment, Unit, Worker

    with database.write():
        task, run = _new_run(task_name, provider_type, requester_name, blueprint_type, sandbox)
        assignment = Assignment.create(task_run=run, inputs=dict(inputs if inputs is not None else {"x": 1}))
        worker, _ = Worker.get_or_create(provider_type=provider_type, name=worker_name)
        unit = Unit.create(
            assignment=assignment, task_run=run, task=task, unit_index=0, pay_amount=pay_amount, worker=worker
        )
        agent = Agent.create(unit=unit, worker=worker, task_run=run, assignment=assignment, token=secrets.token_hex(8))
        unit.agent_id = agent.id
        unit.save()
    return HeldUnit(worker, unit, agent)


def create_submitted_run(
    database: Database,
    units: int,
    *,
    provider_type: str = "mock",
    workers: Sequence[str] = ("alice", "bob", "carol"),
    outputs: Callable[[int], Any] = lambda index: {"answer": f"answer {index}"},
    inputs: Callable[[int], Mapping[str, Any]] = lambda index: {"index": index},
    requester_name: str | None = None,
    blueprint_type: str = "static",
    pay_amount: Decimal = Decimal("0.50"),
    sandbox: bool = True,
    task_name: str = "t",
) -> SubmittedRun:
    """A new run of `units` one-unit assignments, every one submitted and awaiting review.

    Unit i has the inputs `inputs(i)` and was submitted by `workers[i % len(workers)]` with the outputs
    `outputs(i)`, 30 seconds after starting, at SUBMITTED_AT + i minutes.
    """
    from mephisto_core.data_model import Agent, AgentStatus, Assignment, Unit, UnitStatus, Worker

    if units < 0 or not workers:
        raise ValueError(f"a submitted run needs units >= 0 and at least one worker, got {units} and {workers!r}")
    made: list[Unit] = []
    with database.write():
        task, run = _new_run(task_name, provider_type, requester_name, blueprint_type, sandbox)
        for index in range(units):
            worker, _ = Worker.get_or_create(provider_type=provider_type, name=workers[index % len(workers)])
            assignment = Assignment.create(task_run=run, inputs=dict(inputs(index)))
            unit = Unit.create(
                assignment=assignment,
                task_run=run,
                task=task,
                unit_index=0,
                pay_amount=pay_amount,
                status=str(UnitStatus.COMPLETED),
                worker=worker,
            )
            submitted_at = SUBMITTED_AT + dt.timedelta(minutes=index)
            agent = Agent.create(
                unit=unit,
                worker=worker,
                task_run=run,
                assignment=assignment,
                status=str(AgentStatus.COMPLETED),
                outputs=outputs(index),
                token=secrets.token_hex(8),
                started_at=submitted_at - dt.timedelta(seconds=30),
                submitted_at=submitted_at,
            )
            unit.agent_id = agent.id
            unit.save()
            made.append(unit)
    return SubmittedRun(task, run, made)


@contextmanager
def plugins_registered(*plugins: object) -> Iterator[None]:
    """Register plugin modules or objects with the core's plugin manager for the `with` block, as if installed."""
    from mephisto_core.plugins import register_plugin, unregister_plugin

    done: list[object] = []
    try:
        for plugin in plugins:
            register_plugin(plugin)
            done.append(plugin)
        yield
    finally:
        for plugin in reversed(done):
            unregister_plugin(plugin)
