"""What a new user trips on at the command line: overrides blamed on the command line, did-you-mean for keys,
`wut` on nested tables, where first-party plugins come from, the launch's last words, `workers list` in 80 columns.

Task files come from `mephisto init` and commands run as real processes, as a user runs them."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
from pathlib import Path

import pytest
from cli_helpers import mephisto_script, run_mephisto
from rich.console import Console
from websockets.asyncio.client import connect

from mephisto_core.cli._launch_panel import LaunchDisplay
from mephisto_core.data_model import UnitStatus, Worker, open_database
from mephisto_core.operations.run.operator import RunStats
from mephisto_core.plugins import first_party_hint
from mephisto_core.settings import Settings


@pytest.fixture
def static_task(tmp_path: Path) -> Path:
    """A task folder made by `mephisto init --template static` (task name 'my-task')."""
    folder = tmp_path / "my-task"
    made = run_mephisto("init", folder, "--template", "static")
    assert made.returncode == 0, made.stderr
    return folder / "task.toml"


def test_a_bad_override_is_blamed_on_the_command_line_not_a_task_file_line(static_task: Path) -> None:
    text = static_task.read_text(encoding="utf-8")
    assert "reward = " in text  # the task file sets the key too: the old message pointed at its line
    result = run_mephisto("check", static_task, "task.reward=abc")
    assert result.returncode != 0
    assert "Error: command-line override task.reward=abc, key 'task.reward': Input should be" in result.stderr
    assert f"{static_task}:" not in result.stderr  # no file:line to look at, the file is fine


def test_the_same_mistake_in_the_task_file_still_points_at_its_line(static_task: Path) -> None:
    lines = static_task.read_text(encoding="utf-8").splitlines()
    number = next(i for i, line in enumerate(lines, start=1) if line.startswith("reward = "))
    lines[number - 1] = 'reward = "abc"'
    static_task.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_mephisto("check", static_task)
    assert f"{static_task}:{number}, key 'task.reward'" in result.stderr and "command-line" not in result.stderr


@pytest.mark.parametrize(
    ("override", "suggestion"),
    [("task.rewrd=1", "did you mean 'reward'?"), ("tsk.reward=1", "did you mean 'task'?")],
)
def test_unknown_override_keys_and_sections_suggest_the_closest(
    static_task: Path, override: str, suggestion: str
) -> None:
    result = run_mephisto("check", static_task, override)
    assert result.returncode != 0 and suggestion in result.stderr, result.stderr


def test_an_unknown_key_in_the_task_file_suggests_the_closest(static_task: Path) -> None:
    static_task.write_text(
        static_task.read_text(encoding="utf-8").replace("[task]\n", "[task]\ntitel = 'x'\n", 1), encoding="utf-8"
    )
    result = run_mephisto("check", static_task)
    assert "key 'task.titel'" in result.stderr and "did you mean 'title'?" in result.stderr


def test_wut_shows_the_keys_of_a_nested_table_and_suggests_names() -> None:
    shown = run_mephisto("wut", "task.onboarding")
    assert shown.returncode == 0, shown.stderr
    assert "[task.onboarding] arguments" in shown.stdout
    assert "validator" in shown.stdout and "answers" in shown.stdout
    assert "reward" not in shown.stdout  # the nested table's keys, not [task]'s
    assert "[task.gold] arguments" in run_mephisto("wut", "task.gold").stdout
    typo = run_mephisto("wut", "task.onbording")
    assert typo.returncode == 2 and "did you mean 'onboarding'?" in typo.stderr
    value = run_mephisto("wut", "task.reward")
    assert value.returncode == 2 and "task.reward is a single value, not a table" in value.stderr


def test_first_party_plugins_are_said_to_come_from_the_repository(static_task: Path) -> None:
    # This checkout's plugins/ holds mephisto-provider-mturk: the hint names that folder for pip.
    hint = first_party_hint("provider", "mturk")
    folder = Path(__file__).resolve().parents[2] / "plugins" / "mephisto-provider-mturk"
    assert f"pip install {folder}" in hint
    # A type no folder provides: no guessed pip command, but where first-party plugins come from.
    static_task.write_text(
        static_task.read_text(encoding="utf-8").replace('type = "mock"', 'type = "nosuchprovider"'), encoding="utf-8"
    )
    result = run_mephisto("check", static_task)
    assert "not on the package index yet" in result.stderr and "plugins/ folder" in result.stderr
    assert "pip install" not in result.stderr


def test_a_launch_ends_with_the_next_steps(static_task: Path) -> None:
    launched = run_mephisto("launch", static_task, "architect.port=0", "--simulate", "2", "--no-panel")
    assert launched.returncode == 0, launched.stderr
    tail = launched.stdout[launched.stdout.index("units are done") :]
    assert "mephisto review --task my-task" in tail
    assert "mephisto export --task my-task --format csv -o my-task.csv" in tail


def test_stop_summary_says_which_units_were_never_offered_and_none_is_expired() -> None:
    stats = RunStats(task_name="t", run_id=1)
    stats.counts = {
        UnitStatus.CREATED.value: 3,
        UnitStatus.EXPIRED.value: 2,
        UnitStatus.ASSIGNED.value: 1,
        UnitStatus.COMPLETED.value: 4,
    }
    display = LaunchDisplay(stats, live=False)
    display.console = Console(file=io.StringIO(), width=200)
    display.summary(stats)
    printed = display.console.file.getvalue()  # type: ignore[attr-defined]
    assert "Stopped with 6 units not done (3 never offered yet, 2 offered but not taken (withdrawn), 1 held" in printed
    assert "expired" not in printed
    assert "Next steps:" in printed


def test_workers_list_fits_80_columns(mephisto_settings: Settings, tmp_path: Path) -> None:
    db = open_database(None, mephisto_settings.sqlite_path)
    try:
        with db.write():
            Worker.create(provider_type="prolific", name="5f3c2a9e8b7d6c5e4f3a2b1c")  # a Prolific id: 24 characters
            Worker.create(provider_type="mturk_sandbox", name="A1B2C3D4E5F6G7")
    finally:
        db.close()
    env = {**os.environ, "COLUMNS": "80"}
    result = subprocess.run(
        [mephisto_script(), "workers", "list"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, result.stdout
    header = next(line for line in lines if "worker" in line and "provider" in line)
    for column in ("done", "waiting", "a/s/r", "rate", "blocked"):
        assert column in header, header
    assert "5f3c2a9e8b7d6c5e4f3a2b1c" in result.stdout  # a 24-character Prolific id fits whole
    assert "accepted/soft-rejected/rejected" in result.stdout  # the caption says what a/s/r means


def test_a_second_ctrl_c_says_what_stopping_now_does(static_task: Path, mephisto_launch) -> None:  # type: ignore[no-untyped-def]
    launch = mephisto_launch(static_task, "architect.port=0", "--no-panel")
    link = launch.wait_for_link()
    base = link.split("?", 1)[0]

    async def hold_a_unit_then_stop_twice() -> None:
        async with connect("ws" + base[4:].rstrip("/") + "/ws") as ws:
            await ws.send(json.dumps({"type": "hello", "id": 1, "params": {"worker_id": "ada"}, "token": None}))
            while True:
                reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if reply.get("id") == 1:
                    break
            assert reply["type"] == "assigned", reply  # ada holds a unit: the first Ctrl-C waits for her
            await asyncio.to_thread(launch.stop_now)
            assert await asyncio.to_thread(launch.wait, 30) == 0

    asyncio.run(hold_a_unit_then_stop_twice())
    output = launch.output()
    assert "Press Ctrl-C again to stop now" in output
    assert "Second Ctrl-C: stopping now, without waiting. Units nobody has taken are withdrawn" in output
    assert "held by a worker when the run stopped" in output and "Next steps:" in output
    assert "expired" not in output.split("Second Ctrl-C", 1)[1]
