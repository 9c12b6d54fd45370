"""The launcher under `task.max_budget` mid-run: a top-up that would pass the cap waits while units are offered or
held (their workers finish and are acknowledged), and is refused with BudgetExceeded once nothing is in
progress, so the run stops with the sentence instead of hanging. SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from mephisto_core.data_model import Database, Unit
from mephisto_core.operations.budget import BudgetExceeded
from mephisto_core.operations.run.launcher import TaskLauncher
from mephisto_core.operations.run.run_context import RunContext
from mephisto_core.operations.run.run_setup import select_run
from mephisto_core.plugins import get_registry
from mephisto_core.settings import Settings
from mephisto_core.task_config import load_task_config


def _launcher(settings: Settings, database: Database, task_file: Path, *overrides: str) -> TaskLauncher:
    config = load_task_config(task_file, list(overrides))
    registry = get_registry()
    blueprint = registry.get("blueprint", "static")(config.blueprint_args, config.task, config.task_dir)
    provider = registry.get("provider", "mock")(config.provider_args, "MOCK_REQUESTER", {}, settings.data_dir)
    with database.write():
        selection = select_run(config, "MOCK_REQUESTER", "test:1", sandbox=True)
    return TaskLauncher(RunContext(settings, config, selection.task, selection.run, blueprint, provider, "http://x/"))


def _statuses() -> list[str]:
    return [u.status for u in Unit.select().order_by(Unit.id)]


def _complete(database: Database, unit_id: int) -> None:
    with database.write():  # as a worker's submission leaves it (the claim and the agent do not matter here)
        Unit.update(status="completed").where(Unit.id == unit_id).execute()


def _offer(database: Database, launcher: TaskLauncher) -> int:
    with database.write():
        return launcher.launch_available()


def test_a_top_up_past_the_cap_waits_for_units_in_progress_then_stops_the_run(
    database: Database,
    mephisto_settings: Settings,
    mephisto_init: Callable[..., Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    task_file = mephisto_init("static")
    launcher = _launcher(
        mephisto_settings, database, task_file, "task.reward=1", "task.max_budget=3", "task.max_num_concurrent_units=2"
    )
    with database.write():
        launcher.create_assignments([{"text": str(i)} for i in range(4)])
    assert _offer(database, launcher) == 2  # 2.00 committed
    ids = [u.id for u in Unit.select().order_by(Unit.id)]
    _complete(database, ids[0])
    assert _offer(database, launcher) == 1  # 3.00 committed: exactly the cap
    _complete(database, ids[1])
    with caplog.at_level(logging.WARNING, logger="mephisto_core.operations.budget"):
        assert _offer(database, launcher) == 0  # a 4th would pass it; unit 3 is still offered: wait
        assert _offer(database, launcher) == 0
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1 and "refused offering 1 more units" in warned[0] and "the run stops" in warned[0]
    assert _statuses() == ["completed", "completed", "launched", "created"]
    _complete(database, ids[2])
    with pytest.raises(BudgetExceeded, match=r"refused offering 1 more units: it would commit 1\.00 USD on top of"):
        _offer(database, launcher)
    assert _statuses() == ["completed", "completed", "completed", "created"]


def test_units_created_past_the_cap_wait_unoffered_while_others_are_in_progress(
    database: Database, mephisto_settings: Settings, mephisto_init: Callable[..., Path]
) -> None:
    task_file = mephisto_init("static")
    launcher = _launcher(mephisto_settings, database, task_file, "task.reward=1", "task.max_budget=2")
    with database.write():
        launcher.create_assignments([{"text": "a"}, {"text": "b"}])  # offered as created: 2.00
        launcher.create_assignments([{"text": "c"}])  # a later data chunk: past the cap, kept for later
    assert _statuses() == ["launched", "launched", "created"]
    with database.write(), pytest.raises(BudgetExceeded, match="refused offering 1 more units"):
        Unit.update(status="completed").where(Unit.status == "launched").execute()
        launcher.launch_available()
