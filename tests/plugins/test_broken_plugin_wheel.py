"""A real wheel whose plugin module fails to import costs only its own types: every command still works, the
failure is reported once naming the distribution, its version and the exception, and the environment variables
MEPHISTO_LOAD_PLUGINS / MEPHISTO_DISABLE_PLUGINS choose what loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from plugin_helpers import build_wheel, env_with_path, install_into, mephisto

from mephisto_core.testing.imports import HELP_CODE, forbidden_startup_imports, modules_imported_by

DIST = "mephisto-provider-broken"
VERSION = "0.0.7"
WARNING = f"plugin {DIST} {VERSION} is left out: its module mephisto_provider_broken.plugin failed to import"
ERROR = "ModuleNotFoundError(\"No module named 'mephisto_provider_broken_sdk'\")"

PYPROJECT = f"""\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{DIST}"
version = "{VERSION}"
requires-python = ">=3.11"

[project.entry-points.mephisto]
broken = "mephisto_provider_broken.plugin"

[tool.setuptools.packages.find]
where = ["src"]
"""
# The platform SDK it needs was never installed: importing the entry point fails.
PLUGIN = "import mephisto_provider_broken_sdk  # noqa: F401\n"


@pytest.fixture(scope="module")
def broken_plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("broken-src")
    package = source / "src" / "mephisto_provider_broken"
    package.mkdir(parents=True)
    (source / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "plugin.py").write_text(PLUGIN, encoding="utf-8")
    wheel = build_wheel(source, tmp_path_factory.mktemp("broken-wheel"))
    return install_into(wheel, tmp_path_factory.mktemp("broken-site"))


def _records(stdout: str) -> dict[str, dict[str, object]]:
    return {record["name"]: record for record in json.loads(stdout)}


def test_plugins_lists_the_broken_distribution_as_failed_and_the_rest_as_loaded(broken_plugin_path, mephisto_settings):
    result = mephisto("plugins", "--json", env=env_with_path(broken_plugin_path))

    assert result.returncode == 0, result.stderr
    records = _records(result.stdout)
    broken = records[DIST]
    assert broken["status"] == "failed"
    assert broken["version"] == VERSION
    assert broken["problems"] == [f"{WARNING}: {ERROR}"]
    assert records["mephisto-provider-mock"]["status"] == "loaded"
    assert records["mephisto-provider-mock"]["types"]["provider"] == ["mock"]  # type: ignore[index]
    assert result.stderr.count(WARNING) == 1  # reported once, on stderr, with the exception
    assert ERROR in result.stderr


def test_the_plugins_table_shows_the_failure(broken_plugin_path, mephisto_settings):
    result = mephisto("plugins", env=env_with_path(broken_plugin_path))

    assert result.returncode == 0, result.stderr
    assert "FAILED" in result.stdout
    assert "failed to import" in result.stdout


def test_help_stays_fast_imports_no_plugin_and_says_nothing_of_the_broken_one(
    broken_plugin_path, mephisto_settings, monkeypatch
):
    monkeypatch.setenv("PYTHONPATH", str(broken_plugin_path))
    assert forbidden_startup_imports(modules_imported_by(HELP_CODE)) == []

    result = mephisto("--help", env=env_with_path(broken_plugin_path))
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr


def test_a_task_of_other_types_launches_and_finishes(broken_plugin_path, static_task, mephisto_settings):
    result = mephisto(
        "launch",
        str(static_task),
        "architect.port=0",
        "--simulate",
        "2",
        "--no-panel",
        env=env_with_path(broken_plugin_path),
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "All 4 units are done" in result.stdout
    assert result.stderr.count(WARNING) == 1


def test_a_task_of_the_broken_type_names_the_failed_distribution(broken_plugin_path, static_task, mephisto_settings):
    result = mephisto("check", str(static_task), "provider.type=broken", env=env_with_path(broken_plugin_path))

    assert result.returncode == 1
    assert "unknown provider type 'broken'" in result.stderr
    assert f"These plugins failed to load and may provide it: {DIST}" in result.stderr
    assert "Traceback" not in result.stderr


def test_disable_plugins_leaves_the_broken_distribution_out_quietly(broken_plugin_path, mephisto_settings):
    env = env_with_path(broken_plugin_path, MEPHISTO_DISABLE_PLUGINS=f"{DIST}, mephisto_blueprint_form")

    result = mephisto("plugins", "--json", env=env)

    assert result.returncode == 0, result.stderr
    records = _records(result.stdout)
    assert DIST not in records
    assert "mephisto-blueprint-form" not in records  # names compare as pip compares them
    assert "mephisto-provider-mock" in records
    assert DIST not in result.stderr  # a disabled distribution is not even imported, so nothing to report


def test_load_plugins_loads_only_the_named_distributions(broken_plugin_path, mephisto_settings):
    env = env_with_path(broken_plugin_path, MEPHISTO_LOAD_PLUGINS="mephisto-provider-mock,mephisto-no-such-plugin")

    result = mephisto("plugins", "--json", env=env)

    assert result.returncode == 0, result.stderr
    assert list(_records(result.stdout)) == ["mephisto-provider-mock"]
    assert "MEPHISTO_LOAD_PLUGINS or MEPHISTO_DISABLE_PLUGINS names 'mephisto-no-such-plugin'" in result.stderr


def test_trace_plugins_writes_each_hook_call(mephisto_settings):
    env = env_with_path(
        Path("/nonexistent"), MEPHISTO_LOAD_PLUGINS="mephisto-provider-mock", MEPHISTO_TRACE_PLUGINS="1"
    )

    result = mephisto("wut", "provider=mock", env=env)

    assert result.returncode == 0, result.stderr
    assert "mephisto_register_providers of mephisto-provider-mock [hook]" in result.stderr
