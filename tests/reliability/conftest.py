"""Fixtures for the reliability suite: operators in this process or as `mephisto launch` processes, and clean-up.

Every process and thread a test starts is stopped at its end, also when the test fails half-way, so one
failure cannot leave a router or an operator behind for the next test.
"""

from __future__ import annotations

import functools
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from reliability_architect import ReliabilityArchitect, ReliabilityArchitectPlugin
from reliability_helpers import LaunchProcess, OperatorThread, is_running

from mephisto_core.data_model import Database
from mephisto_core.settings import Settings
from mephisto_core.task_config import load_task_config


@pytest.fixture(autouse=True)
def reliability_architect(mephisto_register_plugin: Callable[[object], None]) -> Iterator[None]:
    """Make `architect.type = "reliability_local"` available, as an installed plugin would."""
    mephisto_register_plugin(ReliabilityArchitectPlugin())
    ReliabilityArchitect.deployed.clear()
    yield
    ReliabilityArchitect.deployed.clear()


@pytest.fixture
def cli_env(mephisto_cli_env: dict[str, str]) -> dict[str, str]:
    """The environment for `mephisto` subprocesses (the core's `mephisto_cli_env`: data dir and config under
    tmp_path)."""
    return mephisto_cli_env


@pytest.fixture
def start_launch(mephisto_launch: Callable[..., Any]) -> Callable[..., LaunchProcess]:
    """`start_launch(*args)` runs `mephisto launch ARGS` in the background (the core's `mephisto_launch`, with the
    router-aware LaunchProcess of these tests); killed at the end of the test."""
    return functools.partial(mephisto_launch, process_class=LaunchProcess)


@pytest.fixture
def orphans() -> Iterator[list[int]]:
    """Pids of processes a test caused to exist outside its own children (a router left behind); killed after."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if is_running(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def start_operator(mephisto_settings: Settings) -> Iterator[Callable[..., OperatorThread]]:
    """`start_operator(task_file, database)` runs an Operator in a background thread; stopped after the test."""
    started: list[OperatorThread] = []

    def start(task_file: Path, database: Database, overrides: tuple[str, ...] = ()) -> OperatorThread:
        config = load_task_config(task_file, list(overrides))
        thread = OperatorThread(mephisto_settings, database, config)
        started.append(thread)
        return thread.start()

    yield start
    problems: list[Any] = []
    for thread in started:
        if thread.running:
            try:
                thread.stop_now()
            except AssertionError as exc:
                problems.append(exc)
    assert not problems, problems
