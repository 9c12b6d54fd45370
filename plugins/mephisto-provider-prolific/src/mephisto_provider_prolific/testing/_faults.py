"""Failure injection and the request log: what a test asked to go wrong, and what the client sent."""

from __future__ import annotations

import fnmatch
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass
class RecordedRequest:
    """One API call as the fake received it; `status` is what it answered (0: connection dropped)."""

    method: str
    path: str  # relative to /api/v1/, e.g. "studies/abc/transition/"
    query: dict[str, str]
    body: Any
    authorization: str | None
    status: int = 0
    injected: bool = False


@dataclass
class Injection:
    """Answer the next `times` matching calls with `status` (and Retry-After), or drop the connection."""

    method: str
    path_pattern: str | re.Pattern[str]
    status: int
    retry_after: float | None
    times: int
    drop: bool

    def matches(self, method: str, path: str) -> bool:
        if self.method not in ("*", method):
            return False
        if isinstance(self.path_pattern, re.Pattern):
            return self.path_pattern.search(path) is not None
        return fnmatch.fnmatchcase(path, self.path_pattern.lstrip("/"))


def retry_after_header(seconds: float) -> str:
    # Retry-After carries whole seconds; round up so a client never retries early.
    return str(int(-(-seconds // 1)))


class BonusRequestsAtOnce:
    """The most bonus requests (a bulk bonus set up, or paid) answered at the same moment: Prolific's Bonuses
    reference says it does not support concurrent ones, so a test checks that the provider never makes them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._now = 0
        self.most = 0

    @contextmanager
    def counted(self, method: str, path: str) -> Iterator[None]:
        """Count the request while it is answered (its latency included) when it is a bonus request."""
        bonus = method == "POST" and (
            path == "submissions/bonus-payments/"
            or (path.startswith("bulk-bonus-payments/") and path.endswith("/pay/"))
        )
        if not bonus:
            yield
            return
        with self._lock:
            self._now += 1
            self.most = max(self.most, self._now)
        try:
            yield
        finally:
            with self._lock:
                self._now -= 1
