"""`mephisto launch` as a child process: start it, read its worker link, wait for it, or stop it."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

_LINK = re.compile(r"Worker link:\s*(https?://\S+)")
STOP_GRACE_S = 10.0


class LaunchError(RuntimeError):
    """`mephisto launch` did not start, or failed; the message carries its output."""


class LaunchProcess:
    """A running `mephisto launch TASK --no-panel ...`; stdout is read by a thread, stderr goes to a file."""

    def __init__(self, command: list[str], env: Mapping[str, str], stderr_path: Path) -> None:
        self.command = command
        self.stderr_path = stderr_path
        self._stderr = stderr_path.open("wb")
        self.proc = subprocess.Popen(
            command, env=dict(env), stdout=subprocess.PIPE, stderr=self._stderr, stdin=subprocess.DEVNULL
        )
        self.started = time.monotonic()
        self.stdout_tail: deque[str] = deque(maxlen=40)
        self._lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._reader = threading.Thread(target=self._read_stdout, name="launch-stdout", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read_stdout(self) -> None:
        # Drained to the end so the child never blocks on a full pipe.
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self.stdout_tail.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def worker_base_url(self, timeout_s: float) -> str:
        """The base of the printed worker link (`http://HOST:PORT/`), waiting up to `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise LaunchError(f"no 'Worker link:' line within {timeout_s:.0f} s.\n{self.output()}")
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self.proc.wait()
                raise LaunchError(
                    f"`mephisto launch` exited ({self.proc.returncode}) before printing its worker link.\n"
                    f"{self.output()}"
                )
            match = _LINK.search(line)
            if match:
                parts = urlsplit(match.group(1))
                return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", "", ""))

    def wait(self, timeout_s: float) -> int | None:
        """The exit code, or None if still running after `timeout_s`."""
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        """Ctrl-C twice (stop now, as a user would), then SIGKILL after a grace period."""
        if self.proc.poll() is None:
            for _ in range(2):
                self.proc.send_signal(signal.SIGINT)
                time.sleep(0.2)
            if self.wait(STOP_GRACE_S) is None:
                self.proc.kill()
                self.proc.wait()
        self.close()

    def close(self) -> None:
        self._reader.join(timeout=5)
        self._stderr.close()

    def output(self) -> str:
        """The last lines of stdout and stderr, for error messages."""
        self._stderr.flush()
        try:
            with self.stderr_path.open("rb") as fh:
                fh.seek(max(0, os.path.getsize(self.stderr_path) - 4000))
                stderr = fh.read().decode(errors="replace")
        except OSError as exc:
            stderr = f"(could not read {self.stderr_path}: {exc})"
        stdout = "\n".join(self.stdout_tail)
        return f"--- launch stdout (last lines) ---\n{stdout}\n--- launch stderr (last 4000 bytes) ---\n{stderr}"
