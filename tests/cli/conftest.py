"""Fixtures for the CLI tests: isolated settings, the test-only plugin, task folders and a CLI runner."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import cli_test_plugin
import pytest
from cli_helpers import DATA_CSV, TASK_TOML
from click.testing import Result

from mephisto_core.settings import Settings

RunCli = Callable[..., Result]


@pytest.fixture(autouse=True)
def isolated_settings(mephisto_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Every CLI test gets its own data dir and user config (via MEPHISTO_* env vars) and wide output."""
    # Rich wraps table cells at the terminal width; a wide one keeps the values tests look for on one line.
    monkeypatch.setenv("COLUMNS", "250")
    return mephisto_settings


@pytest.fixture
def register_test_plugin(mephisto_register_plugin: Callable[[object], None]) -> Callable[[object], None]:
    """The core's `mephisto_register_plugin` under the name these tests used before it existed."""
    return mephisto_register_plugin


@pytest.fixture
def test_plugin(mephisto_register_plugin: Callable[[object], None]) -> ModuleType:
    """The test-only blueprint, architect and provider types, registered for this test (the core's fixture)."""
    mephisto_register_plugin(cli_test_plugin)
    return cli_test_plugin


@pytest.fixture
def run_cli(mephisto_cli: RunCli) -> RunCli:
    """Invoke `mephisto ARGS...` in this process (the core's `mephisto_cli`); the result holds stdout, stderr and
    the exit code."""
    return mephisto_cli


@pytest.fixture
def task_dir(tmp_path: Path) -> Path:
    """A task folder with a valid task.toml (3 data rows x 2 units, reward 0.5) using the test types."""
    folder = tmp_path / "task"
    folder.mkdir()
    (folder / "task.toml").write_text(TASK_TOML, encoding="utf-8")
    (folder / "data.csv").write_text(DATA_CSV, encoding="utf-8")
    return folder
