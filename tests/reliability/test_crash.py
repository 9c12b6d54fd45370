"""kill -9 of the operator or of the router during a `mephisto launch --simulate` run, router in its own process.

The promise (DESIGN.md, "Failure behaviour"): a killed process loses no acknowledged submission, and launching
the same task again resumes the run. The simulated workers append every acknowledged submit_key to a log file
as it arrives, so the test knows exactly what was promised to workers before the kill.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from reliability_helpers import (
    LaunchProcess,
    assert_acknowledged_stored_once,
    assert_files_inside,
    is_running,
    read_ack_log,
    wait_until,
    write_static_task,
)

from mephisto_core.data_model import TaskRun, Unit, UnitStatus, open_database
from mephisto_core.settings import Settings

ROWS = 60
SUBPROCESS_ROUTER = {"type": "local", "port": 0, "mode": "subprocess"}


@pytest.fixture
def crash_task(tmp_path: Path) -> Path:
    """A 60-unit task served by the local architect's router in its own process."""
    return write_static_task(tmp_path / "task", ROWS, SUBPROCESS_ROUTER)


def _simulated_launch_args(task: Path, acks: Path) -> list[str]:
    return [str(task), "--simulate", "4", "--simulate-log", str(acks), "--no-panel"]


def _assert_every_unit_stored_once(settings: Settings, acknowledged: set[str]) -> None:
    database = open_database(None, settings.sqlite_path)
    try:
        stored = assert_acknowledged_stored_once(acknowledged)
        assert len(stored) == ROWS
        assert Unit.select().where(Unit.status == UnitStatus.COMPLETED).count() == ROWS
        assert TaskRun.select().count() == 1 and TaskRun.get().is_completed
        assert_files_inside(settings.data_dir)
    finally:
        database.close()


def test_operator_kill_9_loses_no_acknowledged_submission_and_relaunch_finishes(
    crash_task: Path,
    start_launch: Callable[..., LaunchProcess],
    mephisto_settings: Settings,
    tmp_path: Path,
    orphans: list[int],
) -> None:
    acks = tmp_path / "acks.jsonl"
    first = start_launch(*_simulated_launch_args(crash_task, acks))
    orphans.append(first.router_pid())
    wait_until(lambda: len(read_ack_log(acks)) >= 15, 30, "15 acknowledged submissions")
    first.kill()  # SIGKILL: the operator gets no chance to clean up
    before = read_ack_log(acks)
    assert 15 <= len(before) < ROWS

    second = start_launch(*_simulated_launch_args(crash_task, acks))
    assert second.wait(60) == 0, second.output()
    assert "Resumed task" in second.output() and f"All {ROWS} units are done" in second.output()
    acknowledged = read_ack_log(acks)
    assert before <= acknowledged
    _assert_every_unit_stored_once(mephisto_settings, acknowledged)


def test_router_process_exits_when_its_operator_is_killed(
    crash_task: Path, start_launch: Callable[..., LaunchProcess], orphans: list[int]
) -> None:
    launch = start_launch(str(crash_task), "--no-panel")
    launch.wait_for_output("Worker link:")
    router = launch.router_pid()
    orphans.append(router)
    launch.kill()
    wait_until(lambda: not is_running(router), 3, "the orphaned router exiting")


def test_router_kill_9_loses_no_acknowledged_submission_and_relaunch_finishes(
    crash_task: Path,
    start_launch: Callable[..., LaunchProcess],
    mephisto_settings: Settings,
    tmp_path: Path,
) -> None:
    acks = tmp_path / "acks.jsonl"
    first = start_launch(*_simulated_launch_args(crash_task, acks))
    router = first.router_pid()
    wait_until(lambda: len(read_ack_log(acks)) >= 15, 30, "15 acknowledged submissions")
    os.kill(router, signal.SIGKILL)
    # The launch notices by itself and stops; units the bots held stay for the next launch to offer again.
    assert first.wait(30) != 0, first.output()
    assert f"router process (pid {router}) was killed by signal 9" in first.output()
    assert "launch the same task again to resume" in first.output()
    before = read_ack_log(acks)
    assert 15 <= len(before) < ROWS

    second = start_launch(*_simulated_launch_args(crash_task, acks))
    assert second.wait(60) == 0, second.output()
    assert "Resumed task" in second.output()
    acknowledged = read_ack_log(acks)
    assert before <= acknowledged
    _assert_every_unit_stored_once(mephisto_settings, acknowledged)


def test_one_of_several_routers_killed_loses_no_acknowledged_submission_and_relaunch_finishes(
    tmp_path: Path, start_launch: Callable[..., LaunchProcess], mephisto_settings: Settings
) -> None:
    task = write_static_task(tmp_path / "task", ROWS, {**SUBPROCESS_ROUTER, "router_processes": 3})
    acks = tmp_path / "acks.jsonl"
    first = start_launch(*_simulated_launch_args(task, acks))
    routers = first.router_pids(3)
    wait_until(lambda: len(read_ack_log(acks)) >= 15, 30, "15 acknowledged submissions")
    os.kill(routers[1], signal.SIGKILL)
    # The pages that router held lost their sockets: the launch stops, says which router died, and the others go.
    assert first.wait(30) != 0, first.output()
    assert f"router process (pid {routers[1]}) was killed by signal 9" in first.output()
    assert "one of 3 router processes" in first.output()
    assert "launch the same task again to resume" in first.output()
    wait_until(lambda: not any(is_running(pid) for pid in routers), 10, "the other routers stopping")
    before = read_ack_log(acks)
    assert 15 <= len(before) < ROWS

    second = start_launch(*_simulated_launch_args(task, acks))
    assert len(second.router_pids(3)) == 3
    assert second.wait(60) == 0, second.output()
    assert "Resumed task" in second.output()
    acknowledged = read_ack_log(acks)
    assert before <= acknowledged
    _assert_every_unit_stored_once(mephisto_settings, acknowledged)
    assert not list(task.parent.glob("**/router*.json")) and not list(mephisto_settings.runs_dir.glob("*/router*.json"))


def test_launch_stops_with_a_clear_message_when_its_router_dies(
    crash_task: Path, start_launch: Callable[..., LaunchProcess]
) -> None:
    launch = start_launch(str(crash_task), "--no-panel")
    launch.wait_for_output("Worker link:")
    os.kill(launch.router_pid(), signal.SIGKILL)
    wait_until(lambda: launch.proc.poll() is not None, 6, "`mephisto launch` stopping after its router died")
    assert launch.proc.returncode != 0
    output = launch.output()
    assert "router" in output.lower() and "launch the same task again to resume" in output
    assert "Traceback" not in output
