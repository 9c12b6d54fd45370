"""`mephisto init` + `mephisto launch --simulate` as real processes, including a kill -9 in the middle."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import pytest

from mephisto_core.data_model import Agent, AgentFile, AgentStatus, TaskRun, Unit, UnitStatus, open_database
from mephisto_core.settings import Settings


def _open(settings: Settings):  # type: ignore[no-untyped-def]
    return open_database(None, settings.sqlite_path)


@pytest.mark.parametrize("event_loop", [None, "asyncio"], ids=["default-loop", "asyncio-loop"])
def test_init_then_launch_with_simulated_workers_stores_every_unit(
    static_task, start_launch, mephisto_settings, mephisto_cli_env, event_loop
):
    if event_loop is not None:  # the operator and its router process on the standard library's loop
        mephisto_cli_env["MEPHISTO_EVENT_LOOP"] = event_loop
    launch = start_launch(str(static_task), "architect.port=0", "--simulate", "3", "--no-panel")
    link = launch.wait_for_link()
    assert link.startswith("http://127.0.0.1:") and "worker_id=" in link
    assert launch.wait(90) == 0, launch.output()
    assert "All 4 units are done" in launch.output()
    db = _open(mephisto_settings)
    try:
        units = list(Unit.select())
        assert [u.status for u in units] == [UnitStatus.COMPLETED] * 4
        for agent in Agent.select():
            assert agent.status == AgentStatus.COMPLETED
            assert agent.outputs["topic"] == agent.assignment.inputs["topic"]
            assert agent.outputs["frequency"] in {"daily", "weekly", "monthly", "rarely"}
            assert len(agent.outputs["answer"]) >= 20
        for stored in AgentFile.select():
            assert (mephisto_settings.data_dir / stored.path).stat().st_size == stored.size
        assert TaskRun.get().is_completed
    finally:
        db.close()


def test_launch_with_two_router_processes_serves_every_unit_through_one_link(
    static_task, start_launch, mephisto_settings
):
    launch = start_launch(
        str(static_task), "architect.port=0", "architect.router_processes=2", "--simulate", "4", "--no-panel"
    )
    link = launch.wait_for_link()
    assert link.startswith("http://127.0.0.1:") and "worker_id=" in link  # one link, whichever router answers
    assert launch.wait(90) == 0, launch.output()
    assert "All 4 units are done" in launch.output()
    db = _open(mephisto_settings)
    try:
        assert [u.status for u in Unit.select()] == [UnitStatus.COMPLETED] * 4
        assert TaskRun.get().is_completed
    finally:
        db.close()
    [run_folder] = [p for p in mephisto_settings.runs_dir.iterdir() if p.is_dir()]
    # each router kept its log in the run's folder; their records went with them
    assert (run_folder / "router.stderr.log").exists() and (run_folder / "router-1.stderr.log").exists()
    assert not list(run_folder.glob("router*.json"))


def test_kill_9_mid_run_loses_no_acknowledged_submission_and_relaunch_finishes(
    static_task: Path, start_launch, mephisto_settings, tmp_path
):
    rows = 200
    data = static_task.parent / "many.csv"
    with data.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["topic", "prompt"])
        writer.writerows([f"topic-{i}", f"Describe thing number {i}."] for i in range(rows))
    acks = tmp_path / "acks.jsonl"
    args = [
        str(static_task),
        "architect.port=0",
        f"blueprint.data_csv={data}",
        "task.disconnect_grace_seconds=1",
        "--simulate",
        "8",
        "--simulate-log",
        str(acks),
        "--no-panel",
    ]

    first = start_launch(*args)
    first.wait_for_link()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not acks.exists() or len(acks.read_text().splitlines()) < 40):
        time.sleep(0.05)
    first.kill()  # SIGKILL: no clean-up of any kind
    acknowledged_before = _read_acks(acks)
    assert 40 <= len(acknowledged_before) < rows

    second = start_launch(*args)
    assert second.wait(120) == 0, second.output()
    assert "Resumed task" in second.output()

    acknowledged = _read_acks(acks)
    db = _open(mephisto_settings)
    try:
        stored_keys = [a.submit_key for a in Agent.select().where(Agent.status == AgentStatus.COMPLETED)]
        assert len(stored_keys) == rows == len(set(stored_keys))
        assert acknowledged <= set(stored_keys)  # every acknowledged submission is stored (once: keys are unique)
        assert Unit.select().where(Unit.status == UnitStatus.COMPLETED).count() == rows
        assert TaskRun.select().count() == 1 and TaskRun.get().is_completed
    finally:
        db.close()


def _read_acks(path: Path) -> set[str]:
    keys = set()
    for line in path.read_text().splitlines():
        try:
            keys.add(json.loads(line)["submit_key"])
        except ValueError:
            continue  # the kill may cut the last line short
    return keys
