"""Driving a TaskLauncher directly: a launched run of the test blueprint and provider, units created and moved."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mephisto_core.abstractions import CrowdProvider
from mephisto_core.data_model import Database, Unit, UnitStatus
from mephisto_core.operations.run.launcher import TaskLauncher
from mephisto_core.operations.run.run_context import RunContext
from mephisto_core.operations.run.run_setup import select_run
from mephisto_core.plugins import get_registry
from mephisto_core.settings import Settings
from mephisto_core.task_config import load_task_config


class Recording:
    """What a provider was asked to publish and withdraw."""

    def __init__(self) -> None:
        self.launched: list[int] = []
        self.expired: list[int] = []


def make_launcher(
    database: Database, settings: Settings, task_path: Path, *, publishes: bool
) -> tuple[TaskLauncher, Recording]:
    """A launcher of a new run of `task_path` (test blueprint and provider); `publishes`: whether the provider
    publishes each unit (then units are born created and offered by a publisher) or not (born launched)."""
    config = load_task_config(task_path)
    registry = get_registry()
    blueprint = registry.get("blueprint", "echo_test")(config.blueprint_args, config.task, config.task_dir)
    base = registry.get("provider", "crowd_test")
    seen = Recording()

    class Provider(base):  # type: ignore[misc,valid-type]
        publishes_units = publishes

        def launch_units(self, units: Sequence[Unit], worker_url: str) -> dict[int, str | None]:
            seen.launched.extend(u.id for u in units)
            return {u.id: f"hit-{u.id}" for u in units}

        def expire_units(self, units: Sequence[Unit]) -> None:
            seen.expired.extend(u.id for u in units)

    provider: CrowdProvider = Provider(config.provider_args, "TEST_REQUESTER", {}, settings.data_dir)
    with database.write():
        selection = select_run(config, "TEST_REQUESTER", "test:1", sandbox=True)
    ctx = RunContext(settings, config, selection.task, selection.run, blueprint, provider, "http://x/")
    return TaskLauncher(ctx), seen


def create_units(database: Database, launcher: TaskLauncher, rows: int) -> int:
    """`rows` data rows' assignments and units, in one transaction; returns how many units were made."""
    with database.write():
        return launcher.create_assignments([{"n": i} for i in range(rows)])


def set_status(database: Database, unit_id: int, status: UnitStatus) -> None:
    """Set one unit's status directly, as another process's claim or submission would."""
    with database.write():
        Unit.update(status=status.value).where(Unit.id == unit_id).execute()
