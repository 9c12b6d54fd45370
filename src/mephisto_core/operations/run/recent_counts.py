"""How many events happened in the last minute or so, at a cost that does not grow with their rate."""

from __future__ import annotations

from collections import deque


class RecentCounts:
    """Events counted per whole second (of `time.monotonic()`), the last `keep_seconds` seconds kept.

    A count over the last N seconds includes the whole second the window starts in, so it may count up to one
    second's events more: right for a panel's "submissions per minute", without a timestamp kept per event (at
    thousands of submissions a second, counting those walked a few hundred thousand of them at every refresh).
    """

    def __init__(self, keep_seconds: int = 61) -> None:
        self.keep_seconds = keep_seconds
        self._seconds: deque[list[int]] = deque()  # [second, events in it], oldest first

    def add(self, now: float) -> None:
        """One event at `now`."""
        second = int(now)
        seconds = self._seconds
        if seconds and seconds[-1][0] == second:
            seconds[-1][1] += 1
            return
        seconds.append([second, 1])
        while seconds[0][0] <= second - self.keep_seconds:
            seconds.popleft()

    def in_last(self, window: float, now: float) -> int:
        """Events in the `window` seconds up to `now` (with the whole first second of it)."""
        start = int(now - window)
        return sum(count for second, count in self._seconds if second >= start)
