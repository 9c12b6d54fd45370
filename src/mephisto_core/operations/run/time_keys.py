"""Agent tokens and page keys start with the time they were made (mephisto-task.js `freshKey` makes its keys so
too): each new one then sorts after the last, and the unique index that holds them takes a batch's in one page at
its end instead of a page each. The random part after it stays the secret."""

from __future__ import annotations

import time


def time_prefix() -> str:
    """The time in milliseconds since the epoch, as 12 hex digits (fixed width, so text order is time order)."""
    return f"{time.time_ns() // 1_000_000:012x}"
