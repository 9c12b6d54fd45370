"""One process at a time pays bonuses from a provider data folder: `bonuses.lock`, held while it pays.

Prolific pays a bulk bonus again when asked twice, so a bonus key is paid once only because its record
(bonuses.jsonl) says which bulk bonus it has and how far that got. Two processes paying the same key at once (the
review app and `mephisto review bonus`, or one script started twice) would both read no record, and each would set
up and pay a bulk bonus of its own. So from reading the records to saving what was paid, the bonuses of one data
folder are paid by one process at a time: an exclusive `flock` on the lock file, which the kernel releases when the
holder ends, however it ends (no stale lock to clear by hand). The threads of the holding process share it: their
keys are kept apart by `review.UNDER_WAY`. Another process waits for it, up to WAIT_SECONDS, then is refused with
who holds it. (Prolific itself takes one bonus request at a time.)

Processes on other machines keep records of their own (the data folder is local) and are not covered.
"""

from __future__ import annotations

import fcntl
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mephisto_core.errors import ProviderError

LOCK_NAME = "bonuses.lock"
#: how long a process waits for another one paying bonuses from the same folder (a bulk bonus of 500 submissions
#: reads each of them first: tens of seconds at Prolific's usual latency)
WAIT_SECONDS = 120.0
#: how often a waiting process tries the lock again
_POLL_SECONDS = 0.05


class BonusFolderLock:
    """The cross-process lock of one data folder's bonuses (see the module docstring). Thread-safe."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / LOCK_NAME
        self._guard = threading.Lock()
        self._fd: int | None = None
        self._holders = 0  # threads of this process inside `held`

    @contextmanager
    def held(self, wait_seconds: float | None = None) -> Iterator[None]:
        """Hold the folder's lock while the block runs (shared with this process's other threads); refused with a
        ProviderError when another process keeps it longer than `wait_seconds` (default WAIT_SECONDS)."""
        self._enter(WAIT_SECONDS if wait_seconds is None else wait_seconds)
        try:
            yield
        finally:
            with self._guard:
                self._holders -= 1
                if self._holders == 0 and self._fd is not None:
                    os.close(self._fd)  # closing the file releases its flock
                    self._fd = None

    def _enter(self, wait_seconds: float) -> None:
        deadline = time.monotonic() + wait_seconds
        while True:
            with self._guard:
                if self._holders == 0:
                    self._fd = self._try_lock()
                if self._fd is not None:
                    self._holders += 1
                    return
            if time.monotonic() >= deadline:
                raise ProviderError(
                    f"another process ({self._holder()}) has been paying Prolific bonuses from {self.path.parent} "
                    f"for over {wait_seconds:g} s; ask again once it has finished: each bonus is paid once"
                )
            time.sleep(_POLL_SECONDS)

    def _try_lock(self) -> int | None:
        """The lock file's descriptor with the lock taken, or None when another process holds it."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise ProviderError(f"cannot open the bonus lock {self.path}: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except OSError as exc:
            os.close(fd)
            raise ProviderError(f"cannot lock {self.path}: {exc.strerror or exc}") from exc
        # Who holds it, for the message of a process refused meanwhile (advice only: the flock is the lock).
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode(), 0)
        return fd

    def _holder(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8", errors="replace").strip() or "unknown"
        except OSError:
            return "unknown"


_FOLDERS: dict[Path, BonusFolderLock] = {}
_FOLDERS_GUARD = threading.Lock()


def bonus_folder_lock(data_dir: Path) -> BonusFolderLock:
    """The lock of `data_dir`'s bonuses, one object per folder in a process (provider instances share it)."""
    path = Path(data_dir).resolve()
    with _FOLDERS_GUARD:
        return _FOLDERS.setdefault(path, BonusFolderLock(path))
