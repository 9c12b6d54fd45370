"""Numbers `launch` cannot run are refused by `check` and by `launch` before anything starts (the real CLI).

`architect.max_upload_mb=inf` used to pass `check` and kill `launch` with an OverflowError;
`task.assignment_duration_seconds=99999999999999999` passed `check` and crashed the launch once a worker
arrived, leaving a run behind. Every numeric argument now has bounds, and the bounds themselves are runnable.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_helpers import run_mephisto
from click.testing import Result

from mephisto_core.settings import Settings


def _task(tmp_path: Path) -> Path:
    folder = tmp_path / "task"
    made = run_mephisto("init", "--template", "static", folder)
    assert made.returncode == 0, made.stderr
    return folder / "task.toml"


def _task_runs(settings: Settings) -> int:
    database = settings.data_dir / "mephisto.db"
    if not database.exists():
        return 0
    with sqlite3.connect(database) as connection:
        tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return connection.execute("SELECT count(*) FROM task_run").fetchone()[0] if "task_run" in tables else 0


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("architect.max_upload_mb=inf", "finite number"),
        ("architect.max_upload_mb=1e999", "finite number"),
        ("architect.max_upload_mb=1000000", "less than or equal to 2048"),
        ("task.assignment_duration_seconds=99999999999999999", "less than or equal to 31536000"),
        ("task.disconnect_grace_seconds=nan", "finite number"),
        ("task.disconnect_grace_seconds=1e300", "less than or equal to 86400"),
        ("task.reward=inf", "finite number"),
        ("task.units_per_assignment=99999999999999999", "less than or equal to 1000"),
        ("task.max_num_concurrent_units=9223372036854775808", "less than or equal to 1000000"),
    ],
)
def test_check_and_launch_refuse_a_number_launch_cannot_run(
    tmp_path: Path, mephisto_settings: Settings, override: str, words: str
) -> None:
    task = _task(tmp_path)
    key = override.split("=", 1)[0]
    for command in ("check", "launch"):
        result = run_mephisto(command, task, "architect.port=0", override)
        output = result.stdout + result.stderr
        assert result.returncode != 0, output
        assert "Traceback" not in output and "Launched" not in output, output
        errors = [line for line in output.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1, output
        assert f"key '{key}'" in errors[0] and words in errors[0], errors[0]
    assert _task_runs(mephisto_settings) == 0


def test_a_launch_at_every_upper_bound_runs_to_the_end(tmp_path: Path, mephisto_settings: Settings) -> None:
    task = _task(tmp_path)
    highest = [
        "architect.port=0",
        "architect.max_upload_mb=2048",
        "task.assignment_duration_seconds=31536000",
        "task.disconnect_grace_seconds=86400",
        "task.reward=10000",
        "task.allowed_concurrent=1000",
        "task.maximum_units_per_worker=1000000",
        "task.max_num_concurrent_units=1000000",
    ]
    checked = run_mephisto("check", task, *highest)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Simulated workers take units through the real router: the deadline a year away is computed and stored.
    launched = run_mephisto("launch", task, *highest, "--simulate", "2", "--no-panel")
    output = launched.stdout + launched.stderr
    assert launched.returncode == 0, output
    assert "Traceback" not in output and "All 4 units are done." in output
    assert _task_runs(mephisto_settings) == 1


def test_wut_shows_each_numbers_bounds(mephisto_cli: Callable[..., Result]) -> None:
    task = mephisto_cli("wut", "task")
    architect = mephisto_cli("wut", "architect=local")
    assert task.exit_code == 0 and architect.exit_code == 0, task.output + architect.output
    assert "int (> 0, <= 31536000)" in task.output  # assignment_duration_seconds
    assert "float (>= 0, <= 86400.0)" in task.output  # disconnect_grace_seconds
    assert "float (> 0, <= 2048)" in architect.output  # max_upload_mb
