"""The real `mephisto` console script in a fresh process: help is light, failures are one clean line."""

from __future__ import annotations

from cli_helpers import run_mephisto

from mephisto_core.testing import forbidden_startup_imports, modules_imported_by
from mephisto_core.testing.imports import HELP_CODE

COMMAND_MODULES = ("init_cmd", "check_cmd", "wut_cmd", "plugins_cmd", "requester_cmds")


def test_help_lists_every_core_command():
    result = run_mephisto("--help")

    assert result.returncode == 0, result.stderr
    for command in ("init", "check", "wut", "plugins", "register", "requesters", "launch"):
        assert f"  {command} " in result.stdout


def test_help_imports_no_plugin_websockets_or_boto3():
    assert forbidden_startup_imports(modules_imported_by(HELP_CODE)) == []


def test_command_modules_import_nothing_heavy():
    code = "; ".join(f"import mephisto_core.cli.{name}" for name in COMMAND_MODULES)
    modules = modules_imported_by(code)

    assert forbidden_startup_imports(modules) == []
    # rich, pydantic and peewee load when a command runs, not when it is looked up.
    assert forbidden_startup_imports(modules, ("rich", "pydantic", "peewee", "mephisto_core.plugins")) == []


def test_check_failure_is_one_line_on_stderr_without_traceback(tmp_path):
    result = run_mephisto("check", tmp_path / "missing.toml")

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip() == f"Error: {tmp_path / 'missing.toml'}: task file not found"


def test_wut_task_prints_the_task_arguments(tmp_path):
    result = run_mephisto("wut", "task")

    assert result.returncode == 0, result.stderr
    assert "units_per_assignment" in result.stdout
    assert "assignment_duration_seconds" in result.stdout


def test_init_list_and_unknown_template_in_a_real_process(tmp_path):
    listing = run_mephisto("init", "--list")
    unknown = run_mephisto("init", tmp_path / "t", "--template", "no-such-template")

    # Either the templates are listed, or the installation is told to be broken: never a traceback.
    assert "Traceback" not in listing.stderr + unknown.stderr
    assert unknown.returncode == 1
    assert "Error:" in unknown.stderr
    assert not (tmp_path / "t").exists()
