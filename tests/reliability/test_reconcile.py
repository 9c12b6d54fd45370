"""Reconciliation at every start: what the platform (a file, see file_platform.py) says is applied to the run.

End to end with real `mephisto launch` processes: a first launch publishes and is killed; the platform then
reports a submission the operator never received, a unit withdrawn here that is still live there, and a HIT
the database has no unit for. The relaunch stores the submission for review, withdraws the other two at the
platform, prints the table, appends it to the run's reconciliation.jsonl, and finishes the run. The abandoned
case (a worker returned the unit there while it is held here) is applied in-process on a real database.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from file_platform import platform_file, read_platform
from reliability_helpers import write_static_task

from mephisto_core.abstractions import DriftKind, UnitDrift
from mephisto_core.data_model import Agent, AgentStatus, Database, Unit, UnitStatus, open_database
from mephisto_core.operations.run.reconcile import RECONCILIATION_LOG, apply_drifts
from mephisto_core.settings import Settings
from mephisto_core.testing.runs import create_held_unit

ROWS = 4
LAUNCHER = Path(__file__).with_name("file_platform_launch.py")


def _launch(task: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(LAUNCHER), "launch", str(task), "--simulate", "2", "--no-panel"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _append(path: Path, record: dict[str, Any]) -> None:
    with path.open("a") as fh:
        fh.write(json.dumps(record) + "\n")


def test_a_relaunch_applies_what_the_platform_reports_and_stores_the_outcome(
    tmp_path: Path, mephisto_settings: Settings, mephisto_cli_env: dict[str, str]
) -> None:
    task = write_static_task(tmp_path / "task", ROWS, {"type": "local", "port": 0})
    task.write_text(task.read_text().replace('type = "mock"', 'type = "file_platform"'))
    platform = platform_file(mephisto_settings.data_dir)
    platform.parent.mkdir(parents=True, exist_ok=True)
    (platform.parent / "kill-on-identify").touch()  # dies at the first hello, every unit published
    assert _launch(task, mephisto_cli_env).returncode == -9

    database = open_database(None, mephisto_settings.sqlite_path)
    try:
        first, second = list(Unit.select().order_by(Unit.id))[:2]
        with database.write():  # a stop whose withdrawal never reached the platform
            Unit.update(status=UnitStatus.EXPIRED.value).where(Unit.id == second.id).execute()
    finally:
        database.close()
    _append(
        platform,
        {"op": "submitted", "hit": first.provider_unit_id, "worker": "wanda", "outputs": {"answer": "from there"}},
    )
    _append(platform, {"op": "publish", "key": "someone-else", "unit_id": None, "hit": "hit-ghost"})

    relaunch = _launch(task, mephisto_cli_env)
    assert relaunch.returncode == 0, relaunch.stdout + relaunch.stderr
    assert "Reconciled with file_platform: 3 units disagreed" in relaunch.stdout
    withdrawn = {r["hit"] for r in read_platform(platform) if r["op"] == "withdraw"}
    assert {"hit-ghost", second.provider_unit_id} <= withdrawn

    database = open_database(None, mephisto_settings.sqlite_path)
    try:
        stored = Unit.get_by_id(first.id)
        agent = Agent.get_by_id(stored.agent_id)
        assert stored.status == UnitStatus.COMPLETED.value and agent.worker.name == "wanda"
        assert agent.outputs == {"answer": "from there"} and agent.status == AgentStatus.COMPLETED.value
        assert {u.status for u in Unit.select()} == {UnitStatus.COMPLETED.value}  # the run finished
        run_id = stored.task_run_id
    finally:
        database.close()
    starts = [json.loads(line) for line in (mephisto_settings.runs_dir / str(run_id) / RECONCILIATION_LOG).open()]
    assert len(starts) == 2 and starts[0]["drifts"] == []  # the first launch had nothing to reconcile
    kinds = sorted(d["kind"] for d in starts[1]["drifts"])
    assert kinds == ["submitted_there", "unknown_here", "unknown_here"]


@pytest.mark.parametrize("held", [True, False], ids=["held-here", "nobody-holds-it"])
def test_a_unit_returned_at_the_platform_is_freed_only_when_held_here(database: Database, held: bool) -> None:
    _, unit, agent = create_held_unit(database, provider_type="file_platform")
    with database.write():
        status = UnitStatus.ASSIGNED if held else UnitStatus.LAUNCHED
        Unit.update(status=status.value).where(Unit.id == unit.id).execute()
        ctx = SimpleNamespace(run=unit.task_run)
        applied, withdraw = apply_drifts(ctx, [UnitDrift(DriftKind.ABANDONED_THERE, unit.id, "hit-1")])  # type: ignore[arg-type]
    assert withdraw == []
    freed = Unit.get_by_id(unit.id)
    if held:
        assert applied[0].action == "freed: offered again"
        assert freed.status == UnitStatus.LAUNCHED.value and freed.agent_id is None
        assert Agent.get_by_id(agent.id).status == AgentStatus.RETURNED.value
    else:
        assert applied[0].action.startswith("nothing to free") and freed.status == UnitStatus.LAUNCHED.value


def test_a_submission_of_a_unit_of_another_run_is_ignored(database: Database) -> None:
    _, unit, _ = create_held_unit(database, provider_type="file_platform")
    other_run = SimpleNamespace(id=unit.task_run_id + 1, provider_type="file_platform")
    with database.write():
        applied, _ = apply_drifts(
            SimpleNamespace(run=other_run),  # type: ignore[arg-type]
            [UnitDrift(DriftKind.SUBMITTED_THERE, unit.id, "hit-1", "wanda", {"a": 1})],
        )
    assert applied[0].action.startswith("ignored") and Unit.get_by_id(unit.id).status == UnitStatus.CREATED.value


def test_a_submission_the_platform_reports_for_a_unit_done_here_is_not_stored_again(database: Database) -> None:
    _, unit, agent = create_held_unit(database, provider_type="file_platform")
    with database.write():
        Unit.update(status=UnitStatus.COMPLETED.value).where(Unit.id == unit.id).execute()
        applied, _ = apply_drifts(
            SimpleNamespace(run=unit.task_run),  # type: ignore[arg-type]
            [UnitDrift(DriftKind.SUBMITTED_THERE, unit.id, "hit-1", "wanda", {"a": 1})],
        )
    assert applied[0].action == "not stored: the unit is completed here"
    assert Agent.select().count() == 1 and Agent.get_by_id(agent.id).outputs is None
