"""`mephisto_launch` and `run_mephisto` run the real `mephisto` in fresh processes against the test's data dir."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from mephisto_core.data_model import TaskRun, open_database
from mephisto_core.settings import Settings
from mephisto_core.testing.processes import LaunchProcess


def test_a_launch_serves_its_link_stops_on_ctrl_c_and_leaves_its_run_in_the_test_data_dir(
    mephisto_launch: Callable[..., LaunchProcess],
    mephisto_init: Callable[..., Path],
    mephisto_settings: Settings,
    tmp_path: Path,
) -> None:
    task_file = mephisto_init("static")
    assert task_file == tmp_path / "study" / "task.toml" and task_file.is_file()
    launch = mephisto_launch(task_file, "architect.port=0", "--no-panel")
    link = launch.wait_for_link()
    with urllib.request.urlopen(link.replace("YOUR_NAME", "alice"), timeout=10) as answer:
        assert answer.status == 200
    launch.interrupt()
    assert launch.wait(30) == 0, launch.output()
    assert launch.log_path.parent == tmp_path

    database = open_database(None, mephisto_settings.sqlite_path)
    try:
        assert TaskRun.select().count() == 1
    finally:
        database.close()


def test_a_launch_that_fails_is_reported_with_its_output(
    mephisto_launch: Callable[..., LaunchProcess], tmp_path: Path
) -> None:
    launch = mephisto_launch(tmp_path / "missing.toml")
    with pytest.raises(AssertionError, match=r"(?s)launch exited with 1:.*missing\.toml"):
        launch.wait_for_link(timeout=30)
