"""`mephisto launch --join`: more operator processes serving a run another process owns, on one PostgreSQL.

The first launch owns the run: it creates the units, offers and publishes them, reconciles with the provider and
ends the run. A joining process only serves workers: its own router and worker link, claims of the same units
(the claim's `FOR UPDATE SKIP LOCKED` hands each one out once), submissions. Each process beats a lease
(data_model/operator_leases.py); when one stops beating, a live process returns the agents it held and their
units are offered again, so nothing is lost but the work of the pages that process served.

What a joining process checks before it serves (errors a user sees):

- the database is PostgreSQL: SQLite allows one writing process, so processes would queue behind each other;
- the task has an unfinished run whose owner is alive: otherwise there is nothing to join, and a launch without
  `--join` takes the run (over);
- the provider publishes nothing per unit (mock, in-house): a platform such as MTurk or Prolific sends its
  workers to the link the owner published, so a joined process would serve nobody;
- the task is not live (a conversation's workers must reach one process, which keeps the conversation).
"""

from __future__ import annotations

import logging

import peewee as pw

from mephisto_core.data_model import Task, TaskRun
from mephisto_core.data_model import operator_leases as leases
from mephisto_core.data_model.models import utcnow
from mephisto_core.errors import ConfigError, MephistoError
from mephisto_core.operations.run.run_setup import OWNER_TIMEOUT_SECONDS, RunSelection
from mephisto_core.task_config import TaskConfig

log = logging.getLogger(__name__)

NEEDS_POSTGRES = (
    "--join needs PostgreSQL: several processes serve one run only through a database they all write to at once, "
    "and SQLite lets one process write at a time. Set MEPHISTO_DATABASE_URL (or database_url in the config file) "
    "to postgresql://USER:PASSWORD@HOST:PORT/DB for the first launch and every --join, or launch without --join."
)


class NothingToJoinError(MephistoError):
    """`--join` found no run of the task served by a live process."""


def check_can_join(db: pw.Database) -> None:
    """Raise ConfigError (NEEDS_POSTGRES) unless `db` is PostgreSQL."""
    if not isinstance(db, pw.PostgresqlDatabase):
        raise ConfigError(NEEDS_POSTGRES)


def check_provider_can_join(provider_type: str, publishes_units: bool) -> None:
    """Refuse a provider that publishes units on a platform: its workers only ever reach the owner's link."""
    if publishes_units:
        raise ConfigError(
            f"--join cannot serve a task of provider {provider_type!r}: the platform sends its workers to the "
            "link the first launch published, so a joined process would serve nobody. Run one process per task "
            "for this provider (a larger machine, or architect settings that serve more workers), or use a "
            "provider that publishes nothing per unit (mock, inhouse)."
        )


def join_run(config: TaskConfig, owner: str) -> RunSelection:
    """The unfinished run of the task, served by a live owner, with `owner`'s lease on it (writer thread).

    Raises NothingToJoinError when there is none, ConfigError when the run was launched as another kind of task.
    """
    name = config.task.name
    task = Task.get_or_none(Task.name == name)
    run = (
        None
        if task is None
        else TaskRun.select()
        .where((TaskRun.task == task) & (TaskRun.is_completed == False))  # noqa: E712 - peewee expression
        .order_by(TaskRun.id.desc())
        .first()
    )
    if task is None or run is None:
        raise NothingToJoinError(
            f"nothing to join: task {name!r} has no unfinished run. Launch it without --join first; that process "
            "owns the run (creates and offers its units), and --join processes help it serve workers."
        )
    age = None if run.heartbeat_at is None else (utcnow() - run.heartbeat_at).total_seconds()
    if run.owner is None or age is None or age >= OWNER_TIMEOUT_SECONDS:
        raise NothingToJoinError(
            f"nothing to join: run {run.id} of task {name!r} has no live owner (no process has served it for "
            f"{OWNER_TIMEOUT_SECONDS:.0f} s). Launch without --join: that launch takes the run over and resumes it."
        )
    for kind, stored, given in (
        ("provider", run.provider_type, config.provider_type),
        ("blueprint", run.blueprint_type, config.blueprint_type),
    ):
        if stored != given:
            raise ConfigError(
                f"run {run.id} of task {name!r} was launched with {kind} {stored!r}, not {given!r}: join it with "
                "the task file it was launched with",
                file=config.path,
            )
    leases.beat(run.id, owner)
    return RunSelection(task, run, resumed=True, previous_owner=run.owner)


def run_owner_state(run_id: int) -> tuple[str | None, float | None, bool]:
    """The run's owner, seconds since its last heartbeat (None without one), and whether the run is completed."""
    run = TaskRun.get_by_id(run_id)
    age = None if run.heartbeat_at is None else (utcnow() - run.heartbeat_at).total_seconds()
    return run.owner, age, bool(run.is_completed)


def leave(run_id: int, owner: str) -> int:
    """A process stops serving the run: its in-task agents go back to the pool, its lease goes; returns how many
    agents were returned (writer thread, one transaction)."""
    returned = leases.return_held(run_id, owner)
    leases.drop(run_id, owner)
    return returned


def beat_and_reclaim(run_id: int, owner: str) -> tuple[list[str], int]:
    """Beat `owner`'s lease, then return the agents of every process whose lease expired (writer thread)."""
    leases.beat(run_id, owner)
    dead, returned = leases.reclaim_expired(run_id)
    for gone in dead:
        log.warning("operator %s of run %d stopped beating: its in-task agents went back to the pool", gone, run_id)
    return dead, returned


def take_owner_lease(run_id: int, owner: str, previous_owner: str | None) -> None:
    """The owner's lease on a run it just selected (writer thread).

    A run taken over drops the previous owner's lease first, so the agents it left are handled by the crash
    resume (a grace period to come back) rather than returned at once.
    """
    if previous_owner is not None and previous_owner != owner:
        leases.drop(run_id, previous_owner)
    leases.beat(run_id, owner)
