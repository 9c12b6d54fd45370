"""The example third-party provider (tests/plugin_example/mephisto-provider-example), built into a wheel and
installed outside the repository, runs a whole simulated task with no change to the core."""

from __future__ import annotations

import json
from pathlib import Path

from plugin_helpers import env_with_path, mephisto

from mephisto_core.data_model import Unit, UnitStatus, Worker, open_database
from mephisto_core.settings import Settings


def _actions(settings: Settings) -> list[dict[str, object]]:
    path = settings.data_dir / "providers" / "example" / "actions.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_the_example_provider_is_listed_and_described(example_provider_path: Path, mephisto_settings: Settings):
    env = env_with_path(example_provider_path)

    listed = mephisto("plugins", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    record = {r["name"]: r for r in json.loads(listed.stdout)}["mephisto-provider-example"]
    assert record["version"] == "1.2.0"
    assert record["types"]["provider"] == ["example"]
    assert record["status"] == "loaded"
    described = mephisto("wut", "provider=example", env=env)
    assert described.returncode == 0, described.stderr
    assert "study_code" in described.stdout


def test_a_task_launched_with_the_example_provider_runs_to_the_end(
    example_provider_path: Path, static_task: Path, mephisto_settings: Settings
):
    env = env_with_path(example_provider_path)
    launched = mephisto(
        "launch",
        str(static_task),
        "provider.type=example",
        "provider.study_code=pilot-1",
        "architect.port=0",
        "--simulate",
        "2",
        "--no-panel",
        env=env,
    )

    assert launched.returncode == 0, launched.stdout + launched.stderr
    assert "All 4 units are done" in launched.stdout
    assert "?participant=CODE" in launched.stdout  # the provider's own link shape
    actions = _actions(mephisto_settings)
    kinds = [entry["action"] for entry in actions]
    assert kinds[0] == "setup" and kinds[-1] == "cleanup"
    assert {entry["study"] for entry in actions} == {"pilot-1"}
    launched_ids = sorted(uid for entry in actions if entry["action"] == "launch" for uid in entry["unit_ids"])  # type: ignore[attr-defined]
    db = open_database(None, mephisto_settings.sqlite_path)
    try:
        units = list(Unit.select())
        assert launched_ids == sorted(unit.id for unit in units)
        assert {unit.status for unit in units} == {UnitStatus.COMPLETED}
        assert {unit.provider_unit_id for unit in units} == {f"example-{unit.id}" for unit in units}
        assert {worker.provider_type for worker in Worker.select()} == {"example"}
        some_worker = Worker.select().first().name
    finally:
        db.close()

    blocked = mephisto("workers", "block", some_worker, "--reason", "testing the example", env=env)
    assert blocked.returncode == 0, blocked.stdout + blocked.stderr
    assert _actions(mephisto_settings)[-1] == {
        "action": "block",
        "study": "pilot-1",
        "worker": some_worker,
        "reason": "testing the example",
    }


def test_the_example_providers_review_actions_on_a_run_built_by_the_core_fixtures(
    example_provider_path: Path, mephisto_settings: Settings, make_submitted_run, monkeypatch
):
    # What docs/plugins.md shows a provider's own tests doing, with the installed example distribution.
    monkeypatch.syspath_prepend(str(example_provider_path))
    from decimal import Decimal

    from mephisto_provider_example.provider import ExampleProvider

    run = make_submitted_run(2, provider_type="example")
    data_dir = ExampleProvider.data_dir_under(mephisto_settings.data_dir)
    provider = ExampleProvider(ExampleProvider.Args(study_code="s1"), "example-lab", {}, data_dir)

    provider.approve_work(run.agents[0], "thanks")
    provider.bonus_worker(run.agents[1].worker, Decimal("0.50"), "extra care", run.units[1])

    assert _actions(mephisto_settings) == [
        {"action": "approve", "study": "s1", "agent_id": run.agents[0].id, "feedback": "thanks"},
        {
            "action": "bonus",
            "study": "s1",
            "worker": run.agents[1].worker.name,
            "amount": "0.50",
            "reason": "extra care",
        },
    ]
