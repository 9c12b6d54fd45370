"""Helpers for whole-flow tests: a task folder made by `mephisto init`, and `mephisto launch` as a real process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

LINK = re.compile(r"Worker link: (http://\S+)")


def mephisto(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mephisto_core.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class LaunchProcess:
    """`mephisto launch` running in the background, with its output collected."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log_path = log
        self._log: IO[str] = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mephisto_core.cli", "launch", *args],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def output(self) -> str:
        return self.log_path.read_text()

    def wait_for_link(self, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = LINK.search(self.output())
            if match:
                return match.group(1)
            if self.proc.poll() is not None:
                raise AssertionError(f"launch exited with {self.proc.returncode}:\n{self.output()}")
            time.sleep(0.1)
        raise AssertionError(f"no worker link after {timeout} s:\n{self.output()}")

    def interrupt(self) -> None:
        self.proc.send_signal(signal.SIGINT)

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


@pytest.fixture
def cli_env(mephisto_settings: object, tmp_path: Path) -> dict[str, str]:
    """The environment for `mephisto` subprocesses: data dir and config under tmp_path (set by mephisto_settings)."""
    env = dict(os.environ)
    env["COLUMNS"] = "200"
    return env


@pytest.fixture
def static_task(tmp_path: Path, cli_env: dict[str, str]) -> Path:
    """A task folder created by `mephisto init` from the static template; returns its task.toml."""
    folder = tmp_path / "study"
    result = mephisto("init", str(folder), "--template", "static", env=cli_env)
    assert result.returncode == 0, result.stdout + result.stderr
    return folder / "task.toml"


@pytest.fixture
def launches(tmp_path: Path) -> Iterator[list[LaunchProcess]]:
    started: list[LaunchProcess] = []
    yield started
    for launch in started:
        launch.kill()


@pytest.fixture
def start_launch(launches: list[LaunchProcess], cli_env: dict[str, str], tmp_path: Path):  # type: ignore[no-untyped-def]
    """`start_launch(*args)` runs `mephisto launch ARGS` in the background (killed at the end of the test)."""

    def start(*args: str) -> LaunchProcess:
        launch = LaunchProcess(list(args), cli_env, tmp_path / f"launch-{len(launches)}.log")
        launches.append(launch)
        return launch

    return start
