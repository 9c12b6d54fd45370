"""`mephisto check` and the worker rules: onboarding rules need an onboarding page; gold units are paid and counted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cli_helpers import assert_clean_failure

GOLD = "".join(json.dumps({"inputs": {"text": f"gold {i}"}, "answers": {"label": "yes"}}) + "\n" for i in range(2))


def with_task_lines(task_dir: Path, *lines: str) -> Path:
    """The test task file with `lines` added to its [task] section."""
    path = task_dir / "task.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("units_per_assignment = 2\n", "units_per_assignment = 2\n" + "\n".join(lines) + "\n"))
    return path


def report_of(run_cli: Any, path: Path) -> dict[str, Any]:
    result = run_cli("check", path, "--json")
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.output))


def test_onboarding_rules_on_a_task_without_an_onboarding_page_are_refused_with_their_line(
    run_cli, test_plugin, task_dir
):
    path = task_dir / "task.toml"
    path.write_text(path.read_text(encoding="utf-8") + '\n[task.onboarding]\nanswers = { consent = "yes" }\n')
    line = path.read_text(encoding="utf-8").splitlines().index("[task.onboarding]") + 1
    output = assert_clean_failure(run_cli("check", path))
    assert f"{path}:{line}" in output and "key 'task.onboarding'" in output
    assert "'clitest_csv' blueprint shows none" in output and "remove [task.onboarding]" in output


def test_the_cost_includes_the_gold_units_and_says_how_many(run_cli, test_plugin, task_dir):
    (task_dir / "gold.jsonl").write_text(GOLD)
    path = with_task_lines(task_dir, "[task.gold]", 'data_jsonl = "gold.jsonl"', "every = 3")
    report = report_of(run_cli, path)
    # 6 units; one worker doing them all meets gold at their 1st and 4th unit: 2 gold units (both gold rows).
    assert (report["units"], report["gold_units"]) == (6, 2)
    assert report["total_reward"] == "4.00"  # 0.50 x (6 + 2)
    assert report["provider_fee"] == "0.80" and report["estimated_cost"] == "4.80"
    text = run_cli("check", path).output
    assert "Gold units:     2 or more" in text and "0.50 x 6 units + 2 gold units" in text


def test_gold_units_count_towards_the_per_worker_limit_in_the_estimate(run_cli, test_plugin, task_dir):
    (task_dir / "gold.jsonl").write_text(GOLD)
    path = with_task_lines(
        task_dir, "maximum_units_per_worker = 4", "[task.gold]", 'data_jsonl = "gold.jsonl"', "every = 3"
    )
    # Of a worker's 4 units, the 1st and 4th are gold: 2 real units each, so 3 workers and 6 gold units.
    report = report_of(run_cli, path)
    assert (report["units"], report["gold_units"], report["total_reward"]) == (6, 6, "6.00")


def test_a_per_worker_limit_that_leaves_only_gold_units_is_refused(run_cli, test_plugin, task_dir):
    (task_dir / "gold.jsonl").write_text(GOLD)
    path = with_task_lines(
        task_dir, "maximum_units_per_worker = 1", "[task.gold]", 'data_jsonl = "gold.jsonl"', "every = 3"
    )
    output = assert_clean_failure(run_cli("check", path))
    assert "key 'task.maximum_units_per_worker'" in output and "only gold units" in output
    line = path.read_text(encoding="utf-8").splitlines().index("maximum_units_per_worker = 1") + 1
    assert f"{path}:{line}" in output and "every one of a worker's units would be gold" in output
