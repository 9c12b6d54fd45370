"""`mephisto` as a real process in tests: one command run to the end, or `mephisto launch` / `mephisto review` in the
background.

A fresh interpreter reads the installed plugins' entry points anew and sees only the environment it is given,
so these test what a researcher's shell would run. The `mephisto_cli_env`, `mephisto_launch` and `mephisto_review`
fixtures of `mephisto_core.testing.pytest_plugin` build on them.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

#: What `mephisto launch` prints once workers can open the task; group 1 is the link.
WORKER_LINK = re.compile(r"Worker link: (http://\S+)")
#: What `mephisto review` prints once the review app answers; group 1 is the link, its token included.
REVIEW_LINK = re.compile(r"Review app: (http://127\.0\.0\.1:\d+/\?token=\S+)")


def mephisto_command(*args: str | Path) -> list[str]:
    """The argv that runs `mephisto ARGS` with this interpreter (no console script needed on PATH)."""
    return [sys.executable, "-m", "mephisto_core.cli", *map(str, args)]


def run_mephisto(
    *args: str | Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run `mephisto ARGS` to the end in a fresh interpreter; output decoded as UTF-8 (`env` default: this one's)."""
    return subprocess.run(
        mephisto_command(*args),
        env=dict(env if env is not None else os.environ),
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        check=False,
    )


class MephistoProcess:
    """`mephisto COMMAND ARGS` running in the background, everything it prints collected in the file `log`.

    `link_pattern` is what it prints once it serves (group 1: the link), for `wait_for_link`. `program` runs another
    install's `mephisto` (e.g. its console script) instead of this interpreter's.
    """

    link_pattern: re.Pattern[str]

    def __init__(
        self, command: str, args: list[str], env: Mapping[str, str], log: Path, program: Sequence[str] | None = None
    ) -> None:
        self.command = command
        self.log_path = log
        self._log: IO[str] = log.open("w", encoding="utf-8")
        self.proc = subprocess.Popen(
            [*program, command, *args] if program is not None else mephisto_command(command, *args),
            env=dict(env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def output(self) -> str:
        """Everything it printed so far."""
        return self.log_path.read_text(encoding="utf-8")

    def wait_for_output(self, text: str, timeout: float = 30) -> None:
        """Wait until it printed `text`; fail with its output if it exits first or the time runs out."""
        deadline = time.monotonic() + timeout
        while text not in self.output():
            self._fail_if_exited()
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.command} did not print {text!r} within {timeout} s:\n{self.output()}")
            time.sleep(0.05)

    def wait_for_link(self, timeout: float = 30) -> str:
        """The link it prints once it serves; fail with its output if it exits first or the time runs out."""
        deadline = time.monotonic() + timeout
        while True:
            match = self.link_pattern.search(self.output())
            if match:
                return match.group(1)
            self._fail_if_exited()
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.command} printed no link after {timeout} s:\n{self.output()}")
            time.sleep(0.05)

    def _fail_if_exited(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.command} exited with {self.proc.returncode}:\n{self.output()}")

    def interrupt(self) -> None:
        """Ctrl-C."""
        self.proc.send_signal(signal.SIGINT)

    def wait(self, timeout: float = 60) -> int:
        """Wait for it to exit; return its exit status."""
        return self.proc.wait(timeout)

    def stop_cleanly(self, timeout: float = 30) -> None:
        """Ctrl-C and wait for it to exit with status 0; fail with its output otherwise."""
        self.interrupt()
        status = self.wait(timeout)
        if status != 0:
            raise AssertionError(f"{self.command} exited with {status} after Ctrl-C:\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL (no clean-up of any kind) if it still runs, and reap it."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self) -> None:
        """Kill it if it still runs and close the log (the fixtures do this after the test)."""
        self.kill()
        self._log.close()


class LaunchProcess(MephistoProcess):
    """`mephisto launch ARGS` in the background; `wait_for_link` gives the worker link."""

    link_pattern = WORKER_LINK

    def __init__(self, args: list[str], env: Mapping[str, str], log: Path) -> None:
        super().__init__("launch", args, env, log)

    def stop_now(self, timeout: float = 10) -> None:
        """Ctrl-C twice; the second only after the first was seen (two quick signals can arrive as one)."""
        self.interrupt()
        deadline = time.monotonic() + timeout
        while "Stopping:" not in self.output() and time.monotonic() < deadline and self.proc.poll() is None:
            time.sleep(0.05)
        if self.proc.poll() is None:
            self.interrupt()


class ReviewProcess(MephistoProcess):
    """`mephisto review --no-browser ARGS` in the background; `wait_for_link` gives the review app's link (with
    its token)."""

    link_pattern = REVIEW_LINK

    def __init__(
        self, args: list[str], env: Mapping[str, str], log: Path, program: Sequence[str] | None = None
    ) -> None:
        super().__init__("review", ["--no-browser", *args], env, log, program)
