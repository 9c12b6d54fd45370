"""`mephisto plugins`: distributions, versions, and the types and commands each provides."""

from __future__ import annotations

import json

import cli_test_plugin_dup
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
        assert set(record) == {"name", "version", "modules", "types", "commands"}


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


def test_duplicate_plugin_type_is_an_error_naming_both_plugins(run_cli, test_plugin, register_test_plugin):
    register_test_plugin(cli_test_plugin_dup)

    out = assert_clean_failure(run_cli("plugins"))
    assert "two plugins provide the blueprint type 'clitest_csv'" in out
    assert "cli_test_plugin (cli_test_plugin)" in out
    assert "cli_test_plugin_dup (cli_test_plugin_dup)" in out
    assert "Uninstall one of them" in out
