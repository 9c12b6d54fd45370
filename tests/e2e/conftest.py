"""Helpers for whole-flow tests: a task folder made by `mephisto init`, and `mephisto launch` as a real process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from e2e_helpers import LaunchProcess


@pytest.fixture
def cli_env(mephisto_cli_env: dict[str, str]) -> dict[str, str]:
    """The environment for `mephisto` subprocesses: the core's `mephisto_cli_env` (data dir and config under
    tmp_path)."""
    return mephisto_cli_env


@pytest.fixture
def static_task(mephisto_init: Callable[..., Path]) -> Path:
    """A task folder created by `mephisto init` from the static template (the core's `mephisto_init`); returns its
    task.toml."""
    return mephisto_init("static")


@pytest.fixture
def start_launch(mephisto_launch: Callable[..., LaunchProcess]) -> Callable[..., LaunchProcess]:
    """`start_launch(*args)` runs `mephisto launch ARGS` in the background (the core's `mephisto_launch`: killed at
    the end of the test)."""
    return mephisto_launch
