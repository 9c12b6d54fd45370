"""`mephisto launch` as its own program tunes its garbage collector once it serves (mephisto_core.collector); run
inside another program (a test's CliRunner), it leaves that program's collector alone."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from mephisto_core import collector
from mephisto_core.testing.processes import run_mephisto


def test_the_launch_program_freezes_what_it_made_while_starting_and_collects_young_objects_less_often(
    mephisto_init: Callable[..., Path], mephisto_cli_env: dict[str, str]
) -> None:
    task = mephisto_init("static")
    env = {**mephisto_cli_env, "MEPHISTO_LOG_LEVEL": "DEBUG"}
    launched = run_mephisto("launch", task, "architect.port=0", "--simulate", "2", "--no-panel", env=env)

    assert launched.returncode == 0, launched.stderr
    settled = [line for line in launched.stderr.splitlines() if "collector settled:" in line]
    assert len(settled) == 1, launched.stderr[-2000:]
    frozen = int(settled[0].split("collector settled: ", 1)[1].split(" ", 1)[0])
    assert frozen > 10_000  # the modules, the task's pages, the run's state
    assert f"young-generation threshold {collector.YOUNG_GENERATION_THRESHOLD}" in settled[0]


def test_settling_freezes_the_live_objects_and_raises_only_the_young_threshold() -> None:
    code = (
        "import gc; from mephisto_core import collector; before = gc.get_threshold(); "
        "collector.settle_after_start(); print(before, gc.get_threshold(), gc.get_freeze_count())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split(") ")
    before, after = (tuple(int(n) for n in part.strip("()").split(", ")) for part in out[:2])
    frozen = int(out[2])

    assert after == (collector.YOUNG_GENERATION_THRESHOLD, before[1], before[2])
    assert frozen > 1_000


def test_a_launch_inside_another_program_leaves_its_collector_alone(
    mephisto_cli: Callable[..., Result], mephisto_init: Callable[..., Path]
) -> None:
    task = mephisto_init("static")
    threshold, frozen = gc.get_threshold(), gc.get_freeze_count()

    result = mephisto_cli("launch", task, "architect.port=0", "--simulate", "2", "--no-panel")

    assert result.exit_code == 0, result.output
    assert "units are done" in result.output
    assert not collector.process_is_ours
    assert (gc.get_threshold(), gc.get_freeze_count()) == (threshold, frozen)
    assert os.environ.get("MEPHISTO_LOG_LEVEL") != "DEBUG"  # nothing in this process asked for the debug line
