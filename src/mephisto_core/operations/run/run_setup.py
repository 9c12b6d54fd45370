"""Finding or creating the task, requester and task run for a launch, and taking ownership of the run.

Runs on the database writer thread. A run is owned by one operator process at a time: the owner writes a
heartbeat every few seconds, and a launch of the same task takes over a run whose owner stopped beating (a crash),
but refuses one that another live process is serving.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from mephisto_core.data_model import Project, Requester, Task, TaskRun
from mephisto_core.data_model.models import utcnow
from mephisto_core.errors import ConfigError, MephistoError
from mephisto_core.task_config import TaskConfig

HEARTBEAT_SECONDS = 2.0
OWNER_TIMEOUT_SECONDS = 10.0


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class RunSelection:
    """The run a launch serves, and whether it resumes an earlier one."""

    task: Task
    run: TaskRun
    resumed: bool
    previous_owner: str | None


def select_run(config: TaskConfig, requester_name: str, owner: str, sandbox: bool) -> RunSelection:
    """Resume the task's unfinished run or create a new one, and claim it for `owner`."""
    requester = Requester.get_or_none(Requester.name == requester_name)
    if requester is None:
        requester = Requester.create(name=requester_name, provider_type=config.provider_type)
    elif requester.provider_type != config.provider_type:
        raise ConfigError(
            f"requester {requester_name!r} is registered for provider {requester.provider_type!r}, "
            f"not {config.provider_type!r}",
            file=config.path,
            key="provider.requester_name",
        )
    project = None
    if config.task.project:
        project, _ = Project.get_or_create(name=config.task.project)
    task = Task.get_or_none(Task.name == config.task.name)
    if task is None:
        task = Task.create(name=config.task.name, blueprint_type=config.blueprint_type, project=project)
    elif task.blueprint_type != config.blueprint_type:
        raise ConfigError(
            f"task {task.name!r} already exists with blueprint type {task.blueprint_type!r}; "
            f"use another task.name for a {config.blueprint_type!r} task",
            file=config.path,
            key="task.name",
        )
    run = (
        TaskRun.select()
        .where((TaskRun.task == task) & (TaskRun.is_completed == False))  # noqa: E712 - peewee expression
        .order_by(TaskRun.id.desc())
        .first()
    )
    if run is None:
        run = TaskRun.create(
            task=task,
            requester=requester,
            blueprint_type=config.blueprint_type,
            architect_type=config.architect_type,
            provider_type=config.provider_type,
            config={"schema": 1, **config.to_dict()},
            sandbox=sandbox,
            owner=owner,
            heartbeat_at=utcnow(),
        )
        return RunSelection(task, run, resumed=False, previous_owner=None)
    previous = run.owner
    if previous and previous != owner and run.heartbeat_at is not None and _may_be_alive(previous):
        age = (utcnow() - run.heartbeat_at).total_seconds()
        if age < OWNER_TIMEOUT_SECONDS:
            raise MephistoError(
                f"task {task.name!r} (run {run.id}) is being served by another process ({previous}, alive "
                f"{age:.0f} s ago). Stop that one first, or launch under another task.name."
            )
    TaskRun.update(owner=owner, heartbeat_at=utcnow()).where(TaskRun.id == run.id).execute()
    return RunSelection(task, run, resumed=True, previous_owner=previous)


def _may_be_alive(owner: str) -> bool:
    """False when `owner` is a process on this host that no longer exists (it crashed or was killed)."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine: only its heartbeat can tell
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def beat(run_id: int, owner: str) -> None:
    """Say the run's owner is alive."""
    TaskRun.update(heartbeat_at=utcnow()).where((TaskRun.id == run_id) & (TaskRun.owner == owner)).execute()


def release(run_id: int, owner: str, completed: bool) -> None:
    """Give the run up (and mark it completed when every unit is done)."""
    TaskRun.update(owner=None, heartbeat_at=None, is_completed=completed).where(
        (TaskRun.id == run_id) & (TaskRun.owner == owner)
    ).execute()
