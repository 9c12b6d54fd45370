"""Counting the last minute's submissions per second: exact to the second, and bounded in what it keeps."""

from __future__ import annotations

from mephisto_core.operations.run.recent_counts import RecentCounts


def test_counts_the_events_of_the_window_with_its_first_whole_second() -> None:
    counts = RecentCounts()
    for t in (100.1, 100.9, 130.0, 159.5, 160.2, 160.3):
        counts.add(t)
    assert counts.in_last(60, now=160.5) == 6  # from second 100 on
    assert counts.in_last(60, now=161.0) == 4  # from second 101 on: second 100 has left the window
    assert counts.in_last(1, now=160.5) == 3  # seconds 159 and 160
    assert counts.in_last(60, now=300.0) == 0


def test_keeps_only_the_last_seconds_however_many_events_arrive() -> None:
    counts = RecentCounts(keep_seconds=61)
    for i in range(200_000):
        counts.add(1000 + i / 1000)  # 1,000 a second for 200 s
    assert counts.in_last(60, now=1199.9) == 61_000  # seconds 1139..1199, whole
    assert len(counts._seconds) <= 61
