"""Point-in-time numbers of one process from /proc: resident memory, open-file limit, open descriptors.

`_proc_watch` follows a process tree's peak over a run; these read one process once, for "before" and
"after" comparisons (VmRSS is the resident set now, VmHWM its high-water mark so far).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Memory:
    """Resident set now and its peak so far, in KiB."""

    rss_kib: int
    hwm_kib: int

    @property
    def rss_mib(self) -> float:
        return round(self.rss_kib / 1024, 1)

    @property
    def hwm_mib(self) -> float:
        return round(self.hwm_kib / 1024, 1)


def memory(pid: int) -> Memory:
    """VmRSS and VmHWM of `pid` (OSError if it is gone)."""
    fields: dict[str, int] = {}
    for line in (_PROC / str(pid) / "status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return Memory(rss_kib=fields.get("VmRSS", 0), hwm_kib=fields.get("VmHWM", 0))


def nofile_limits(pid: int) -> tuple[int | None, int | None]:
    """The soft and hard RLIMIT_NOFILE of `pid` as /proc shows them (None means unlimited)."""
    for line in (_PROC / str(pid) / "limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line[len("Max open files") :].split()[:2]
            return _limit(soft), _limit(hard)
    raise OSError(f"/proc/{pid}/limits has no 'Max open files' line")


def _limit(text: str) -> int | None:
    return None if text == "unlimited" else int(text)


def open_descriptors(pid: int) -> tuple[int, int]:
    """(all open descriptors, sockets among them) of `pid`; reading another user's process needs privileges."""
    total = sockets = 0
    fd_dir = _PROC / str(pid) / "fd"
    for entry in os.listdir(fd_dir):
        total += 1
        try:
            if os.readlink(fd_dir / entry).startswith("socket:"):
                sockets += 1
        except OSError:
            continue  # closed between listing and reading
    return total, sockets


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` so far."""
    # The command name in field 2 may hold spaces and parentheses; the fields after the last ')' do not.
    fields = (_PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
