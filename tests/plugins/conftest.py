"""Fixtures for the plugin tests: real wheels built once per session and installed into folders put on
PYTHONPATH of `mephisto` subprocesses (the environment itself is never changed, so parallel tests cannot see
each other's plugins)."""

from __future__ import annotations

from pathlib import Path

import pytest
from plugin_helpers import build_wheel, install_into

EXAMPLE_SOURCE = Path(__file__).resolve().parents[1] / "plugin_example" / "mephisto-provider-example"


@pytest.fixture(scope="session")
def example_provider_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding mephisto-provider-example installed from its wheel."""
    wheel = build_wheel(EXAMPLE_SOURCE, tmp_path_factory.mktemp("example-wheel"))
    return install_into(wheel, tmp_path_factory.mktemp("example-site"))


@pytest.fixture
def static_task(tmp_path: Path, mephisto_settings: object) -> Path:
    """A task folder made by `mephisto init` from the static template (4 units); returns its task.toml."""
    from plugin_helpers import mephisto

    made = mephisto("init", str(tmp_path / "study"), "--template", "static")
    assert made.returncode == 0, made.stdout + made.stderr
    return tmp_path / "study" / "task.toml"
