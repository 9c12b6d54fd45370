"""Running `mephisto` as a real process in whole-flow tests."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

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

    def stop_now(self, timeout: float = 10) -> None:
        """Ctrl-C twice; the second only after the first was seen (two quick signals can arrive as one)."""
        self.interrupt()
        deadline = time.monotonic() + timeout
        while "Stopping:" not in self.output() and time.monotonic() < deadline and self.proc.poll() is None:
            time.sleep(0.05)
        if self.proc.poll() is None:
            self.interrupt()

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
