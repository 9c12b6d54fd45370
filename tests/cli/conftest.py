"""Fixtures for the CLI tests: isolated settings, the test-only plugin, task folders and a CLI runner."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import cli_test_plugin
import pytest
from cli_helpers import DATA_CSV, TASK_TOML
from click.testing import CliRunner, Result

from mephisto_core import plugins
from mephisto_core.cli import cli
from mephisto_core.settings import Settings

RunCli = Callable[..., Result]


@pytest.fixture(autouse=True)
def isolated_settings(mephisto_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Every CLI test gets its own data dir and user config (via MEPHISTO_* env vars) and wide output."""
    # Rich wraps table cells at the terminal width; a wide one keeps the values tests look for on one line.
    monkeypatch.setenv("COLUMNS", "250")
    return mephisto_settings


@pytest.fixture
def register_test_plugin() -> Iterator[Callable[[ModuleType], None]]:
    """Register plugin modules for one test, unregistering them afterwards."""
    registered: list[ModuleType] = []

    def register(module: ModuleType) -> None:
        plugins.register_plugin(module)
        registered.append(module)

    yield register
    for module in registered:
        plugins.unregister_plugin(module)


@pytest.fixture
def test_plugin(register_test_plugin: Callable[[ModuleType], None]) -> ModuleType:
    """The test-only blueprint, architect and provider types, registered for this test."""
    register_test_plugin(cli_test_plugin)
    return cli_test_plugin


@pytest.fixture
def run_cli() -> RunCli:
    """Invoke `mephisto ARGS...` in this process; the result holds stdout, stderr and the exit code."""

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, [str(a) for a in args])

    return run


@pytest.fixture
def task_dir(tmp_path: Path) -> Path:
    """A task folder with a valid task.toml (3 data rows x 2 units, reward 0.5) using the test types."""
    folder = tmp_path / "task"
    folder.mkdir()
    (folder / "task.toml").write_text(TASK_TOML, encoding="utf-8")
    (folder / "data.csv").write_text(DATA_CSV, encoding="utf-8")
    return folder
