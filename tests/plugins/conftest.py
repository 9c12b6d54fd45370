"""Fixtures for the plugin tests: real wheels built once per session and installed into folders put on
PYTHONPATH of `mephisto` subprocesses (the environment itself is never changed, so parallel tests cannot see
each other's plugins)."""

from __future__ import annotations

from collections.abc import Callable
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
def static_task(mephisto_init: Callable[..., Path]) -> Path:
    """A task folder made by `mephisto init` from the static template (4 units; the core's `mephisto_init`);
    returns its task.toml."""
    return mephisto_init("static")
