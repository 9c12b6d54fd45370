"""`mephisto check`: the resolved configuration, the work and its cost, and each way a task file is wrong."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import cli_test_plugin_dup
import pytest
from cli_helpers import TASK_TOML, assert_clean_failure


def check_json(run_cli: Any, task_file: Path, *overrides: str) -> dict[str, Any]:
    result = run_cli("check", task_file, *overrides, "--json")
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def write_task(task_dir: Path, text: str) -> Path:
    path = task_dir / "task.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_check_counts_units_and_adds_the_provider_fee(run_cli, test_plugin, task_dir):
    report = check_json(run_cli, task_dir / "task.toml")

    assert report["assignments"] == 3
    assert report["units_per_assignment"] == 2
    assert report["units"] == 6
    assert report["reward_per_unit"] == "0.50"
    assert report["total_reward"] == "3.00"
    assert report["provider_fee"] == "0.60"  # the test provider's 20%
    assert report["estimated_cost"] == "3.60"
    assert report["requester_name"] == "lab-account"


def test_check_prints_the_resolved_configuration_with_absolute_paths(run_cli, test_plugin, task_dir):
    result = run_cli("check", task_dir / "task.toml")

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "is valid" in out
    assert '[blueprint] type = "clitest_csv"' in out
    assert f'data_csv = "{(task_dir / "data.csv").resolve()}"' in out
    assert 'name = "cli-demo"' in out
    assert "Assignments:    3" in out
    assert "Units:          6 (3 assignments x 2 each)" in out
    assert "Rewards:        3.00 (0.50 x 6 units)" in out
    assert "Provider fee:   0.60" in out
    assert "Estimated cost: 3.60" in out


def test_check_applies_command_line_overrides(run_cli, test_plugin, task_dir):
    report = check_json(run_cli, task_dir / "task.toml", "task.reward=1.25", "task.units_per_assignment=1")

    assert report["config"]["task"]["reward"] == "1.25"
    assert report["units"] == 3
    assert report["estimated_cost"] == "4.50"  # 3.75 + 20%


def test_check_keeps_fractions_of_a_cent_in_the_cost(run_cli, test_plugin, task_dir):
    report = check_json(run_cli, task_dir / "task.toml", "task.reward=0.005")

    assert report["total_reward"] == "0.03"
    assert report["provider_fee"] == "0.006"
    assert report["estimated_cost"] == "0.036"


def test_check_never_prints_a_secret_from_the_task_file(run_cli, test_plugin, task_dir):
    write_task(task_dir, TASK_TOML + 'webhook_token = "tok-VERY-SECRET-42"\n')

    table = run_cli("check", task_dir / "task.toml")
    as_json = run_cli("check", task_dir / "task.toml", "--json")

    for result in (table, as_json):
        assert result.exit_code == 0, result.output
        assert "tok-VERY-SECRET-42" not in result.output
        assert "********" in result.output


def test_check_falls_back_to_the_providers_default_requester(run_cli, test_plugin, task_dir, monkeypatch):
    write_task(task_dir, TASK_TOML.replace('requester_name = "lab-account"\n', ""))
    monkeypatch.setattr(test_plugin.ClitestProvider, "default_requester_name", "DEFAULT_ACCOUNT")

    assert check_json(run_cli, task_dir / "task.toml")["requester_name"] == "DEFAULT_ACCOUNT"


def test_bad_toml_syntax_names_the_file_and_line(run_cli, test_plugin, task_dir):
    path = write_task(task_dir, TASK_TOML.replace('title = "Label some sentences"', "title = Label some"))

    out = assert_clean_failure(run_cli("check", path))
    assert f"{path}:3" in out
    assert "not valid TOML" in out


def test_unknown_section_is_named_with_its_line(run_cli, test_plugin, task_dir):
    path = write_task(task_dir, TASK_TOML + "\n[bogus]\nx = 1\n")

    out = assert_clean_failure(run_cli("check", path))
    assert "unknown section [bogus]" in out
    assert f"{path}:{len(TASK_TOML.splitlines()) + 2}" in out
    assert "[task], [blueprint], [architect], [provider]" in out


def test_unknown_key_lists_the_known_keys(run_cli, test_plugin, task_dir):
    path = write_task(task_dir, TASK_TOML.replace("reward = 0.5", "rewrad = 0.5"))

    out = assert_clean_failure(run_cli("check", path))
    assert f"{path}:4" in out
    assert "key 'task.rewrad'" in out
    assert "is not a known key of [task]" in out
    assert "known keys: name, title, description, reward" in out


def test_unknown_key_of_a_plugin_section_lists_that_types_keys(run_cli, test_plugin, task_dir):
    path = write_task(task_dir, TASK_TOML.replace("port = 0", "prot = 0"))

    out = assert_clean_failure(run_cli("check", path))
    assert "key 'architect.prot'" in out
    assert "known keys: port" in out


def test_wrong_type_says_what_was_expected_and_found(run_cli, test_plugin, task_dir):
    path = write_task(task_dir, TASK_TOML.replace("units_per_assignment = 2", 'units_per_assignment = "two"'))

    out = assert_clean_failure(run_cli("check", path))
    assert "key 'task.units_per_assignment'" in out
    assert f"{path}:5" in out
    assert "valid integer" in out
    assert "found 'two'" in out


def test_missing_required_key_is_named(run_cli, test_plugin, task_dir):
    path = write_task(task_dir, TASK_TOML.replace('title = "Label some sentences"\n', ""))

    out = assert_clean_failure(run_cli("check", path))
    assert "key 'task.title'" in out
    assert "is required but missing" in out


def test_missing_task_file_is_named(run_cli, test_plugin, tmp_path):
    missing = tmp_path / "nowhere" / "task.toml"

    out = assert_clean_failure(run_cli("check", missing))
    assert str(missing) in out
    assert "task file not found" in out


def test_missing_data_file_is_reported_by_the_blueprint(run_cli, test_plugin, task_dir):
    (task_dir / "data.csv").unlink()

    out = assert_clean_failure(run_cli("check", task_dir / "task.toml"))
    assert f"{(task_dir / 'task.toml').resolve()}, key 'blueprint.data_csv'" in out
    assert f"data file {(task_dir / 'data.csv').resolve()} not found" in out


def test_override_of_an_unknown_section_lists_the_sections(run_cli, test_plugin, task_dir):
    out = assert_clean_failure(run_cli("check", task_dir / "task.toml", "bogus.key=1"))
    assert "override 'bogus.key=1' names an unknown section 'bogus'" in out
    assert "sections: task, blueprint, architect, provider" in out


@pytest.mark.parametrize("override", ["task.reward", "reward=1", "=1"])
def test_malformed_override_shows_the_expected_form(run_cli, test_plugin, task_dir, override):
    out = assert_clean_failure(run_cli("check", task_dir / "task.toml", override))
    assert f"override {override!r} is not of the form section.key=value" in out


def test_override_with_a_wrong_type_is_named(run_cli, test_plugin, task_dir):
    out = assert_clean_failure(run_cli("check", task_dir / "task.toml", "architect.port=high"))
    assert "command-line override architect.port=high, key 'architect.port'" in out


def test_unknown_blueprint_type_lists_installed_types_and_no_guessed_pip_command(run_cli, test_plugin, task_dir):
    path = write_task(task_dir, TASK_TOML.replace('type = "clitest_csv"', 'type = "clitest_firstparty"'))

    out = assert_clean_failure(run_cli("check", path))
    assert "key 'blueprint.type'" in out
    assert f"{path}:8" in out
    assert "unknown blueprint type 'clitest_firstparty'" in out
    assert "installed blueprint types:" in out
    assert "clitest_csv" in out
    assert "Install the plugin distribution that provides it" in out
    assert "pip install" not in out  # the core does not guess distribution names


def test_unknown_third_party_type_gets_no_pip_hint(run_cli, test_plugin, task_dir):
    path = write_task(task_dir, TASK_TOML.replace('type = "clitest_pay"', 'type = "nosuchprovider"'))

    out = assert_clean_failure(run_cli("check", path))
    assert "unknown provider type 'nosuchprovider'" in out
    assert "clitest_pay" in out
    assert "pip install" not in out


def test_duplicate_plugin_type_names_both_plugins(run_cli, test_plugin, mephisto_register_plugin, task_dir):
    mephisto_register_plugin(cli_test_plugin_dup)

    out = assert_clean_failure(run_cli("check", task_dir / "task.toml"))
    assert "two plugins provide the blueprint type 'clitest_csv'" in out
    assert "cli_test_plugin " in out or "cli_test_plugin (" in out
    assert "cli_test_plugin_dup" in out


def test_a_plugin_crash_is_one_line_naming_the_plugin(run_cli, test_plugin: ModuleType, task_dir):
    out = assert_clean_failure(run_cli("check", task_dir / "task.toml", "blueprint.explode=true"))
    assert "the blueprint 'clitest_csv' failed to count the assignments: RuntimeError: the plugin fell over" in out
