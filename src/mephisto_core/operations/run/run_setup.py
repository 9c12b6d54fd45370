"""Finding or creating the task, requester and task run for a launch, and taking ownership of the run.

Runs on the database writer thread. A run is owned by one operator process at a time: the owner writes a
heartbeat every few seconds, and a launch of the same task takes over a run whose owner stopped beating (a crash),
but refuses one that another live process is serving.

Two launches of the same task may run this at the same instant, from two processes, on SQLite or PostgreSQL.
On SQLite the write transaction (BEGIN IMMEDIATE) already lets one of them through at a time; PostgreSQL runs them
side by side, so every step is written to end with one winner on its own:

- the requester, project and task rows are inserted with "insert unless it exists" and then read back, so the
  second process finds the first one's row instead of failing on the unique name;
- choosing between "resume the unfinished run" and "create a new one" happens under a row lock on the task
  (a no-op UPDATE, held until the transaction commits), so two launches never both create a run;
- taking a run over is one compare-and-swap UPDATE on its owner (and the heartbeat that made it look free),
  and only the process whose UPDATE changed the row owns it. The other gets the message a launch of a task
  served by a live process always gets.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from dataclasses import dataclass
from typing import Any

import peewee as pw

from mephisto_core.abstractions.secrets import is_secret_field
from mephisto_core.data_model import (
    Agent,
    Assignment,
    OnboardingAgent,
    Project,
    Requester,
    Review,
    Task,
    TaskRun,
    Unit,
    Upload,
)
from mephisto_core.data_model.models import utcnow
from mephisto_core.errors import ConfigError, MephistoError
from mephisto_core.plugins import Kind
from mephisto_core.task_config import TaskConfig

HEARTBEAT_SECONDS = 2.0
OWNER_TIMEOUT_SECONDS = 10.0
#: Sections of the stored run config whose secret fields are left out (credentials live in the requester store).
_SECTIONS_WITHOUT_SECRETS: tuple[Kind, ...] = ("provider", "architect")


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class RunSelection:
    """The run a launch serves, whether it resumes an earlier one, and what this launch created."""

    task: Task
    run: TaskRun
    resumed: bool
    previous_owner: str | None
    created_task: bool = False  # the task row did not exist before this launch


class RunBusyError(MephistoError):
    """Another live process serves the task's run."""


def select_run(config: TaskConfig, requester_name: str, owner: str, sandbox: bool) -> RunSelection:
    """Resume the task's unfinished run or create a new one, and claim it for `owner`.

    Raises RunBusyError when another live process owns the run (also when it won a race for it just now).
    """
    requester = _insert_or_get(Requester, name=requester_name, provider_type=config.provider_type)
    if requester.provider_type != config.provider_type:
        raise ConfigError(
            f"requester {requester_name!r} is registered for provider {requester.provider_type!r}, "
            f"not {config.provider_type!r}",
            file=config.path,
            key="provider.requester_name",
        )
    project = _insert_or_get(Project, name=config.task.project) if config.task.project else None
    created_task = Task.get_or_none(Task.name == config.task.name) is None
    task = _insert_or_get(Task, name=config.task.name, blueprint_type=config.blueprint_type, project=project)
    if task.blueprint_type != config.blueprint_type:
        raise ConfigError(
            f"task {task.name!r} already exists with blueprint type {task.blueprint_type!r}; "
            f"use another task.name for a {config.blueprint_type!r} task",
            file=config.path,
            key="task.name",
        )
    # Held until this transaction commits: a second launch waits here, then sees the run this one made.
    Task.update(name=Task.name).where(Task.id == task.id).execute()
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
            config=stored_config(config),
            sandbox=sandbox,
            owner=owner,
            heartbeat_at=utcnow(),
        )
        return RunSelection(task, run, resumed=False, previous_owner=None, created_task=created_task)
    previous = _claim(task, run, owner)
    return RunSelection(task, run, resumed=True, previous_owner=previous)


def stored_config(config: TaskConfig) -> dict[str, Any]:
    """The configuration kept with a run: the task file resolved, without any secret field.

    Credentials belong to the requester store (`mephisto register`), read afresh whenever the provider is built,
    so a rotated key is the one used and no key sits in the database.
    """
    data: dict[str, Any] = {"schema": 1, **config.to_dict()}
    for kind in _SECTIONS_WITHOUT_SECRETS:
        model = type(config.args_of(kind))
        for name, field in model.model_fields.items():
            if is_secret_field(name, field):
                data[kind].pop(name, None)
                if field.alias:
                    data[kind].pop(field.alias, None)
    return data


def _insert_or_get(model: type[Any], **fields: Any) -> Any:
    """The row of `model` with `fields["name"]`, inserted with `fields` unless it exists.

    "Insert unless it exists" (ON CONFLICT DO NOTHING / INSERT OR IGNORE) waits for a concurrent insert of the
    same name to commit and then does nothing, so the read that follows finds that row: no IntegrityError.
    """
    row = model.get_or_none(model.name == fields["name"])
    if row is not None:
        return row
    model.insert(**fields, created_at=utcnow()).on_conflict_ignore().execute()
    return model.get(model.name == fields["name"])


def _claim(task: Task, run: TaskRun, owner: str) -> str | None:
    """Take `run` for `owner` with one compare-and-swap UPDATE; returns the previous owner.

    The UPDATE only matches while the run still looks as it did when it was judged free (the same owner, and for
    a silent owner a heartbeat still too old), so of two launches taking it at once exactly one changes the row.
    """
    previous: str | None = run.owner
    now = utcnow()
    still_free: pw.Expression = TaskRun.owner.is_null() if previous is None else (TaskRun.owner == previous)
    if previous is not None and previous != owner and run.heartbeat_at is not None and _may_be_alive(previous):
        age = (now - run.heartbeat_at).total_seconds()
        if age < OWNER_TIMEOUT_SECONDS:
            raise _busy(task, run.id, previous, age)
        stale_before = now - dt.timedelta(seconds=OWNER_TIMEOUT_SECONDS)
        still_free &= TaskRun.heartbeat_at.is_null() | (TaskRun.heartbeat_at < stale_before)
    claimed = (
        TaskRun.update(owner=owner, heartbeat_at=now)
        .where((TaskRun.id == run.id) & (TaskRun.is_completed == False) & still_free)  # noqa: E712
        .execute()
    )
    if claimed != 1:
        # Another launch took it between the read and the UPDATE (or finished it): it is alive right now.
        winner = TaskRun.get_by_id(run.id)
        age = (utcnow() - winner.heartbeat_at).total_seconds() if winner.heartbeat_at else 0.0
        raise _busy(task, run.id, winner.owner or "another launch", age)
    return previous


def _busy(task: Task, run_id: int, owner: str, age: float) -> RunBusyError:
    return RunBusyError(
        f"task {task.name!r} (run {run_id}) is being served by another process ({owner}, alive "
        f"{age:.0f} s ago). Stop that one first, or launch under another task.name."
    )


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


def discard_untouched(selection: RunSelection, owner: str) -> bool:
    """Delete a run this launch created when no worker ever touched it; True when it was deleted.

    For a launch that failed at start (a failing deploy, provider set-up, or a crash right after the link was
    printed): what it leaves is a run with units nobody saw, which the next launch would take for a crashed run
    and "resume". Deleted, the next launch starts afresh. A run some worker reached (an attempt, an onboarding
    attempt, an upload) is kept, and resumed by the next launch. The task goes too when this launch created it
    and nothing else refers to it.
    """
    run_id = selection.run.id
    owned = TaskRun.select().where((TaskRun.id == run_id) & (TaskRun.owner == owner) & (TaskRun.is_completed == False))  # noqa: E712
    touched = (
        Agent.select().where(Agent.task_run == run_id).exists()
        or OnboardingAgent.select().where(OnboardingAgent.task_run == run_id).exists()
        or Upload.select().where(Upload.task_run == run_id).exists()
    )
    if not owned.exists() or touched:
        return False
    Upload.delete().where(Upload.task_run == run_id).execute()
    Unit.delete().where(Unit.task_run == run_id).execute()
    Assignment.delete().where(Assignment.task_run == run_id).execute()
    TaskRun.delete().where(TaskRun.id == run_id).execute()
    task_id = selection.task.id
    if selection.created_task and not (
        TaskRun.select().where(TaskRun.task == task_id).exists()
        or Unit.select().where(Unit.task == task_id).exists()
        or OnboardingAgent.select().where(OnboardingAgent.task == task_id).exists()
        or Review.select().where(Review.task == task_id).exists()
    ):
        Task.delete().where(Task.id == task_id).execute()
    return True
