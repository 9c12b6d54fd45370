"""Helpers for whole-flow tests: a task folder made by `mephisto init`, and `mephisto launch` as a real process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from e2e_helpers import LaunchProcess

from mephisto_core.testing.postgres import reset_database


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


@pytest.fixture
def pg_env(postgres_url: str, mephisto_cli_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """The environment of `mephisto` processes on the test session's PostgreSQL database (emptied afterwards)."""
    try:
        yield {**mephisto_cli_env, "MEPHISTO_DATABASE_URL": postgres_url}
    finally:
        reset_database(postgres_url)
