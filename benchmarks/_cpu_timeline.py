"""The CPU time of named groups of processes over the first seconds of a run, at nanosecond resolution.

The opening burst lasts a few hundred milliseconds, shorter than what /proc/PID/stat's clock ticks (10 ms, per
process) measure well across four processes. Each thread's /proc/PID/task/TID/schedstat gives its time on a CPU
in nanoseconds; a thread that ends keeps the last value seen. `CpuTimeline` samples every group on a thread
every `interval_s` from `start()` until `stop()` or the end set by `stop_after`, and `cpu_between` reads a
group's CPU between two wall-clock moments by interpolating the samples around them.
"""

from __future__ import annotations

import bisect
import os
import threading
import time


class CpuTimeline:
    """Cumulative CPU seconds of each group of processes, sampled on a thread from `start()`."""

    def __init__(self, interval_s: float = 0.01) -> None:
        self.interval_s = interval_s
        self._ends: float | None = None  # time.monotonic() when sampling stops by itself
        self._groups: dict[str, list[int]] = {}
        self._thread_ns: dict[int, dict[int, int]] = {}  # pid -> tid -> last time on a CPU seen
        self._times: list[float] = []  # wall clock of each sample
        self._totals: dict[str, list[float]] = {}  # group -> cumulative CPU seconds at each sample
        self._process_totals: dict[int, list[float]] = {}  # pid -> the same for one process
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cpu-timeline", daemon=True)

    @property
    def groups(self) -> list[str]:
        return list(self._groups)

    def watch(self, group: str, pids: list[int]) -> None:
        """Count these processes' threads in `group` (before `start()`)."""
        self._groups.setdefault(group, []).extend(pids)

    def start(self) -> None:
        self._thread.start()

    def stop_after(self, seconds: float) -> None:
        """Sample for `seconds` more, then stop (the reads cost CPU on the cores being measured)."""
        self._ends = time.monotonic() + seconds

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def cpu_between(self, group: str, start: float, end: float) -> float | None:
        """The group's CPU seconds between two wall-clock moments; None when the samples do not cover both."""
        return self._between(self._totals[group], start, end)

    def busiest_between(self, group: str, start: float, end: float) -> float | None:
        """The CPU seconds of the group's busiest process between two moments (one process runs on one core at a
        time: its CPU is a floor that more cores do not lower); None when the samples do not cover both."""
        spans = [self._between(self._process_totals[pid], start, end) for pid in self._groups[group]]
        return None if None in spans else max((span for span in spans if span is not None), default=0.0)

    def _between(self, totals: list[float], start: float, end: float) -> float | None:
        """How much a cumulative series grew between two moments; None when the samples do not cover both."""
        if not self._times or start < self._times[0] or end > self._times[-1] or end < start:
            return None
        return self._at(totals, end) - self._at(totals, start)

    def _at(self, totals: list[float], moment: float) -> float:
        right = bisect.bisect_left(self._times, moment)
        if self._times[right] == moment or right == 0:
            return totals[right]
        t0, t1 = self._times[right - 1], self._times[right]
        v0, v1 = totals[right - 1], totals[right]
        return v0 + (v1 - v0) * (moment - t0) / (t1 - t0)

    def _loop(self) -> None:
        while not self._stop.is_set() and (self._ends is None or time.monotonic() < self._ends):
            self._sample()
            self._stop.wait(self.interval_s)
        self._sample()

    def _sample(self) -> None:
        now = time.time()
        for group, pids in self._groups.items():
            total_ns = 0
            for pid in pids:
                process_ns = self._process_ns(pid)
                self._process_totals.setdefault(pid, []).append(process_ns / 1e9)
                total_ns += process_ns
            self._totals.setdefault(group, []).append(total_ns / 1e9)
        self._times.append(now)

    def _process_ns(self, pid: int) -> int:
        threads = self._thread_ns.setdefault(pid, {})
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            tids = []  # the process has ended: its threads keep their last values
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as stat:
                    threads[int(tid)] = int(stat.read().split(maxsplit=1)[0])
            except (OSError, ValueError, IndexError):
                continue  # the thread ended between listing and reading
        return sum(threads.values())
