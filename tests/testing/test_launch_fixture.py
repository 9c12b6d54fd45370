"""`mephisto_launch`, `mephisto_review` and `run_mephisto` run the real `mephisto` in fresh processes against the
test's data dir."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from mephisto_core.data_model import TaskRun, open_database
from mephisto_core.settings import Settings
from mephisto_core.testing.processes import LaunchProcess, ReviewProcess


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
    launch.stop_cleanly()
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
    with pytest.raises(AssertionError, match=r"(?s)launch exited with 1 after Ctrl-C:.*missing\.toml"):
        launch.stop_cleanly()


def test_a_review_app_that_cannot_start_is_reported_with_its_output(
    mephisto_review: Callable[..., ReviewProcess], tmp_path: Path
) -> None:
    review = mephisto_review("--port", "70000")
    with pytest.raises(AssertionError, match=r"(?s)review exited with 2:.*--port.*70000"):
        review.wait_for_link(timeout=30)
    assert review.log_path == tmp_path / "review-0.log"
