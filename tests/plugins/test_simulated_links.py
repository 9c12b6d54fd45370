"""`mephisto launch --simulate` asks the provider how a simulated worker's link is made: the in-house provider's
personal links (`?worker=NAME&token=TOKEN`) get a real simulated run to the end."""

from __future__ import annotations

from pathlib import Path

from mephisto_provider_inhouse.roster import read_roster, roster_path
from plugin_helpers import mephisto

from mephisto_core.data_model import Agent, AgentStatus, TaskRun, Unit, UnitStatus, Worker, open_database
from mephisto_core.settings import Settings


def test_simulated_run_with_the_inhouse_provider_completes(mephisto_settings: Settings, tmp_path: Path) -> None:
    made = mephisto("init", str(tmp_path / "study"), "--template", "static")
    assert made.returncode == 0, made.stdout + made.stderr
    # Before the fix the bots sent `?worker_id=`, were shown the preview forever, and this never ended.
    result = mephisto(
        "launch",
        str(tmp_path / "study" / "task.toml"),
        "provider.type=inhouse",
        "architect.port=0",
        "--simulate",
        "2",
        "--no-panel",
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "All 4 units are done" in result.stdout
    db = open_database(None, mephisto_settings.sqlite_path)
    try:
        assert [unit.status for unit in Unit.select()] == [UnitStatus.COMPLETED] * 4
        assert {agent.status for agent in Agent.select()} == {AgentStatus.COMPLETED}
        assert {worker.name for worker in Worker.select()} <= {"sim-0", "sim-1"}
        assert {worker.provider_type for worker in Worker.select()} == {"inhouse"}
        assert TaskRun.get().is_completed
    finally:
        db.close()
    # The bots' links were never written to the researcher's roster.
    assert read_roster(roster_path(mephisto_settings.data_dir / "providers" / "inhouse")) == {}
