"""`mephisto plugins`: distributions, versions, and the types and commands each provides."""

from __future__ import annotations

import json

import cli_test_plugin_bad_command
import cli_test_plugin_commands
import cli_test_plugin_dup
import cli_test_plugin_raises
from cli_helpers import assert_clean_failure

from mephisto_core.cli import cli


def test_plugins_json_lists_each_plugins_types_and_commands(run_cli, test_plugin):
    result = run_cli("plugins", "--json")

    assert result.exit_code == 0, result.output
    records = {record["name"]: record for record in json.loads(result.stdout)}
    mine = records["cli_test_plugin"]
    assert mine["types"] == {
        "blueprint": ["clitest_csv"],
        "architect": ["clitest_arch"],
        "provider": ["clitest_pay"],
    }
    assert mine["commands"] == ["clitest-hello"]
    assert mine["modules"] == []  # registered directly, not through an entry point
    for record in records.values():
        assert set(record) == {"name", "version", "modules", "types", "commands", "status", "problems"}
    assert mine["status"] == "loaded"
    assert mine["problems"] == []


def test_plugins_table_shows_distribution_types_and_commands(run_cli, test_plugin):
    result = run_cli("plugins")

    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if "cli_test_plugin" in line)
    assert "blueprint: clitest_csv" in line
    assert "clitest-hello" in line
    assert "architect: clitest_arch" in result.output
    assert "provider: clitest_pay" in result.output


def test_listing_plugins_does_not_add_their_commands_to_the_real_cli(run_cli, test_plugin):
    before = set(cli.commands)

    assert run_cli("plugins").exit_code == 0
    assert set(cli.commands) - before <= {"plugins"}


def test_a_plugin_command_runs_through_the_cli(run_cli, test_plugin, monkeypatch):
    # The group asks plugins for commands once per process; let it ask again now that the test plugin is in,
    # and forget what it adds afterwards.
    monkeypatch.setattr(cli, "_plugins_loaded", False)
    monkeypatch.setattr(cli, "commands", dict(cli.commands))

    result = run_cli("clitest-hello")

    assert result.exit_code == 0, result.output
    assert "hello from the test plugin" in result.output


def test_duplicate_plugin_type_is_listed_as_a_problem_naming_both_plugins(
    run_cli, test_plugin, mephisto_register_plugin
):
    mephisto_register_plugin(cli_test_plugin_dup)

    result = run_cli("plugins", "--json")

    # The command one uses to diagnose the conflict still works, and names both distributions.
    assert result.exit_code == 0, result.output
    records = {record["name"]: record for record in json.loads(result.stdout)}
    for name in ("cli_test_plugin", "cli_test_plugin_dup"):
        assert records[name]["status"] == "loaded"
        assert records[name]["types"]["blueprint"] == ["clitest_csv"]
        (problem,) = records[name]["problems"]
        assert "two plugins provide the blueprint type 'clitest_csv'" in problem
        assert "cli_test_plugin (cli_test_plugin)" in problem
        assert "cli_test_plugin_dup (cli_test_plugin_dup)" in problem
        assert "Uninstall one of them" in problem


def test_a_type_conflict_fails_only_the_commands_that_need_that_type(run_cli, test_plugin, mephisto_register_plugin):
    mephisto_register_plugin(cli_test_plugin_dup)

    described = run_cli("wut", "provider=clitest_pay")
    assert described.exit_code == 0, described.output
    assert "provider type 'clitest_pay' from cli_test_plugin" in described.output

    out = assert_clean_failure(run_cli("wut", "blueprint=clitest_csv"))
    assert "two plugins provide the blueprint type 'clitest_csv'" in out
    assert "cli_test_plugin_dup" in out


def test_a_plugin_command_named_like_a_core_command_is_refused_and_reported(
    run_cli, test_plugin, mephisto_register_plugin, monkeypatch
):
    mephisto_register_plugin(cli_test_plugin_commands)
    monkeypatch.setattr(cli, "_plugins_loaded", False)
    monkeypatch.setattr(cli, "commands", dict(cli.commands))

    listed = run_cli("plugins", "--json")
    assert listed.exit_code == 0, listed.output
    record = {r["name"]: r for r in json.loads(listed.stdout)}["cli_test_plugin_commands"]
    assert record["commands"] == [cli_test_plugin_commands.OWN_COMMAND]
    assert "its command 'export' is refused: the core has a command of that name" in record["problems"]
    assert "its command 'clitest-hello' is refused: cli_test_plugin already adds it" in record["problems"]
    assert "plugin cli_test_plugin_commands: its command 'export' is refused" in listed.stderr  # warned once

    own = run_cli(cli_test_plugin_commands.OWN_COMMAND)
    assert own.exit_code == 0, own.output
    assert "own command ran" in own.output
    hello = run_cli("clitest-hello")
    assert "hello from the test plugin" in hello.output  # the first plugin keeps its command
    assert "export" not in cli.commands or cli.commands["export"] is not cli_test_plugin_commands.fake_export
    assert run_cli("export", "--help").exit_code == 0
    assert "the plugin's export ran" not in run_cli("export", "--help").output


def test_a_register_hook_that_raises_costs_only_its_own_plugin(run_cli, test_plugin, mephisto_register_plugin):
    mephisto_register_plugin(cli_test_plugin_raises)

    result = run_cli("plugins", "--json")

    assert result.exit_code == 0, result.output
    records = {record["name"]: record for record in json.loads(result.stdout)}
    broken = records["cli_test_plugin_raises"]
    assert broken["status"] == "failed"
    assert broken["types"] == {"blueprint": [], "architect": [], "provider": []}  # not half its types
    (problem,) = broken["problems"]
    assert "its hook mephisto_register_providers raised" in problem
    assert "RuntimeError('the platform SDK is missing')" in problem
    assert records["cli_test_plugin"]["status"] == "loaded"
    assert result.stderr.count("plugin cli_test_plugin_raises is left out") == 1
    assert run_cli("wut", "provider=clitest_pay").exit_code == 0


def test_a_type_conflict_stops_a_launch_of_that_type_but_not_export(
    run_cli, test_plugin, mephisto_register_plugin, task_dir
):
    mephisto_register_plugin(cli_test_plugin_dup)

    out = assert_clean_failure(run_cli("launch", task_dir / "task.toml", "--no-panel"))
    assert "two plugins provide the blueprint type 'clitest_csv'" in out
    assert "cli_test_plugin (cli_test_plugin)" in out and "cli_test_plugin_dup (cli_test_plugin_dup)" in out

    exported = run_cli("export", "-o", task_dir / "out.jsonl")
    assert exported.exit_code == 0, exported.output


def test_a_commands_hook_that_raises_leaves_its_plugin_out_types_too(run_cli, test_plugin, mephisto_register_plugin):
    mephisto_register_plugin(cli_test_plugin_bad_command)

    result = run_cli("plugins", "--json")

    assert result.exit_code == 0, result.output
    records = {record["name"]: record for record in json.loads(result.stdout)}
    broken = records["cli_test_plugin_bad_command"]
    assert broken["status"] == "failed"
    assert broken["types"]["blueprint"] == []
    assert "its hook mephisto_register_commands raised: ImportError" in broken["problems"][0]
    assert records["cli_test_plugin"]["commands"] == ["clitest-hello"]
    out = assert_clean_failure(run_cli("wut", f"blueprint={cli_test_plugin_bad_command.BLUEPRINT}"))
    assert "These plugins failed to load and may provide it: cli_test_plugin_bad_command" in out
