"""Peak memory, CPU time and bytes written to storage of a process and its children, sampled from /proc while
they run.

VmHWM (the kernel's own high-water mark of the resident set) is read on every sample, so the peak is exact up
to the last sample before the process exits; CPU time (utime + stime) and bytes written are as of the last sample.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class ProcSample:
    """The latest numbers seen for one process."""

    pid: int
    command: str
    peak_rss_kib: int = 0
    cpu_seconds: float = 0.0
    written_bytes: int = 0  # to storage (files, through the page cache), not to sockets or pipes


class ProcessTreeWatch:
    """A thread that samples `root_pid` and all its descendants, until `stop()`."""

    def __init__(self, root_pid: int, interval_s: float = 0.25) -> None:
        self.root_pid = root_pid
        self.interval_s = interval_s
        self.samples: dict[int, ProcSample] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="proc-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def root(self) -> ProcSample | None:
        return self.samples.get(self.root_pid)

    def total_cpu_seconds(self) -> float:
        """The CPU seconds of the whole tree as last sampled (those that exited: as last seen)."""
        return sum(sample.cpu_seconds for sample in self.samples.values())

    def children(self) -> list[ProcSample]:
        return [s for pid, s in sorted(self.samples.items()) if pid != self.root_pid]

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample_once()
            self._stop.wait(self.interval_s)

    def sample_once(self) -> None:
        """Read the tree's numbers now (the processes that exited keep their last numbers)."""
        for pid in [self.root_pid, *_descendants_of(self.root_pid)]:
            numbers = _read(pid)
            if numbers is None:
                continue
            command, peak_kib, cpu = numbers
            sample = self.samples.setdefault(pid, ProcSample(pid, command))
            sample.peak_rss_kib = max(sample.peak_rss_kib, peak_kib)
            sample.cpu_seconds = max(sample.cpu_seconds, cpu)
            sample.written_bytes = max(sample.written_bytes, written_bytes(pid) or 0)


def _descendants_of(pid: int) -> list[int]:
    # /proc/PID/task/*/children needs CONFIG_PROC_CHILDREN, which not every kernel has; the parent pid in
    # every process's stat works everywhere.
    children: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # the process ended between listing and reading
        children.setdefault(parent, []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def _read(pid: int) -> tuple[str, int, float] | None:
    try:
        status = (_PROC / str(pid) / "status").read_text()
        stat = (_PROC / str(pid) / "stat").read_text()
        cmdline = (_PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    peak_kib = 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            peak_kib = int(line.split()[1])
            break
    # The command name in field 2 may hold spaces and parentheses; the fields after the last ')' do not.
    fields = stat.rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime and stime, fields 14 and 15 of stat
    command = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
    return command, peak_kib, cpu


def written_bytes(pid: int) -> int | None:
    """The bytes `pid` wrote to storage so far (`write_bytes` of /proc/PID/io: counted as it dirties the page
    cache, so a file's writes count whether or not they reached the disk yet); None when unreadable."""
    try:
        io = (_PROC / str(pid) / "io").read_text()
    except OSError:
        return None
    for line in io.splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    return None
