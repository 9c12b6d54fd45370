"""kill -9 of `mephisto launch` between a platform call and its commit publishes nothing twice and loses nothing.

A real `mephisto launch --simulate` process with the `file_platform` test provider (file_platform.py), killed
with SIGKILL by the provider itself at one step of publishing: after the intents were committed and before the
platform was asked, after the platform published and before the result was committed, and after the result was
committed (at the first worker's hello). The relaunch finishes the run; the platform file shows every unit
published exactly once, and the database knows every unit by the id the platform gave it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from file_platform import platform_file, read_platform
from reliability_helpers import write_static_task

from mephisto_core.data_model import TaskRun, Unit, UnitStatus
from mephisto_core.data_model.publishing import IntentState, PublishIntent
from mephisto_core.settings import Settings
from mephisto_core.testing.pytest_plugin import DatabaseTarget

ROWS = 5
LAUNCHER = Path(__file__).with_name("file_platform_launch.py")


def _launch(task: Path, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(LAUNCHER), "launch", str(task), "--simulate", "2", "--no-panel"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def platform_task(tmp_path: Path) -> Path:
    path = write_static_task(tmp_path / "task", ROWS, {"type": "local", "port": 0})
    path.write_text(path.read_text().replace('type = "mock"', 'type = "file_platform"'))
    return path


@pytest.mark.parametrize("step", ["before-publish", "after-publish", "on-identify"])
def test_kill_9_at_each_step_of_publishing_publishes_every_unit_exactly_once(
    platform_task: Path, mephisto_settings: Settings, database_target: DatabaseTarget, step: str
) -> None:
    # After database_target: on PostgreSQL it set MEPHISTO_DATABASE_URL, which the processes must see.
    mephisto_cli_env = {**os.environ, "COLUMNS": "200"}
    platform = platform_file(mephisto_settings.data_dir)
    platform.parent.mkdir(parents=True, exist_ok=True)
    (platform.parent / f"kill-{step}").touch()

    first = _launch(platform_task, mephisto_cli_env)
    assert first.returncode == -9, first.stdout + first.stderr
    published_before = [r for r in read_platform(platform) if r["op"] == "publish"]
    database = database_target.open()
    try:
        states = Counter(i.state for i in PublishIntent.select())
        if step == "before-publish":
            assert published_before == [] and states == {IntentState.PENDING.value: ROWS}
        elif step == "after-publish":
            # Published at the platform, the process died before the commit: the intents are still open.
            assert len(published_before) == ROWS and states == {IntentState.PENDING.value: ROWS}
            assert Unit.select().where(Unit.status == UnitStatus.LAUNCHED.value).count() == 0
        else:
            assert len(published_before) == ROWS and states == {IntentState.PUBLISHED.value: ROWS}
    finally:
        database.close()

    second = _launch(platform_task, mephisto_cli_env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"All {ROWS} units are done" in second.stdout

    published = [r for r in read_platform(platform) if r["op"] == "publish"]
    per_unit = Counter(r["unit_id"] for r in published)
    assert len(per_unit) == ROWS and set(per_unit.values()) == {1}, published  # each unit exactly once
    database = database_target.open()
    try:
        assert TaskRun.get().is_completed
        units = list(Unit.select())
        assert {u.status for u in units} == {UnitStatus.COMPLETED.value}
        assert sorted(u.provider_unit_id for u in units) == sorted(r["hit"] for r in published)
        assert {i.state for i in PublishIntent.select()} == {IntentState.PUBLISHED.value}
    finally:
        database.close()
