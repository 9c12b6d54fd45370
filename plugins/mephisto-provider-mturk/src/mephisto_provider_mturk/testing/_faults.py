"""Misbehaviour on demand: queued failures per operation, latency, and a request-rate limit."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

FAULT_KINDS = ("throttle", "service", "drop", "drop_after", "slow")
#: Which calls a fault may hit: any, only a token's first call, or only calls repeating a token already sent.
FAULT_CALLS = ("any", "first", "repeats")


@dataclass(frozen=True)
class Fault:
    """One injected failure: its kind, for "slow" how long the call is held, and which calls it may hit."""

    kind: str
    delay: float = 0.0
    calls: str = "any"

    def hits(self, repeat: bool) -> bool:
        """Whether this fault applies to a call that does (or does not) repeat an earlier call's token."""
        return self.calls == "any" or (self.calls == "repeats") == repeat


class FaultPlan:
    """Failures queued by `FakeMTurk.fail_next`, taken one per call of their operation."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queued: dict[str, list[Fault]] = {}
        self._tokens_seen: set[str] = set()

    def add(self, operation: str, fault: Fault, times: int) -> None:
        """Queue `fault` for the next `times` calls of `operation`."""
        if fault.kind not in FAULT_KINDS:
            raise ValueError(f"fail_next kind must be one of {', '.join(FAULT_KINDS)}, not {fault.kind!r}")
        if fault.calls not in FAULT_CALLS:
            raise ValueError(f"fail_next calls must be one of {', '.join(FAULT_CALLS)}, not {fault.calls!r}")
        if times < 1 or fault.delay < 0:
            raise ValueError(f"fail_next needs times >= 1 and delay >= 0, not {times} and {fault.delay}")
        with self._lock:
            self._queued.setdefault(operation, []).extend([fault] * times)

    def take(self, operation: str, token: str | None = None) -> Fault | None:
        """The next queued failure of `operation` that applies to this call, if any.

        `token` is the call's UniqueRequestToken: a call repeating a token sent before is a "repeat",
        which lets a test fail a client's first attempts one way and its retries another, whatever
        order concurrent calls arrive in.
        """
        with self._lock:
            repeat = token is not None and token in self._tokens_seen
            if token is not None:
                self._tokens_seen.add(token)
            faults = self._queued.get(operation) or []
            for index, fault in enumerate(faults):
                if fault.hits(repeat):
                    return faults.pop(index)
            return None

    def pending(self) -> dict[str, int]:
        """How many failures are still queued per operation."""
        with self._lock:
            return {operation: len(faults) for operation, faults in self._queued.items() if faults}


class RateLimiter:
    """A token bucket per access key: MTurk throttles a caller that goes over its request rate."""

    def __init__(self, per_second: float) -> None:
        if per_second <= 0:
            raise ValueError(f"rate_limit must be a positive number of requests per second, not {per_second}")
        self.per_second = per_second
        self.burst = max(1.0, per_second)
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, key: str) -> bool:
        """Spend one token of `key`'s bucket; False when it is empty (the call is throttled)."""
        now = time.monotonic()
        with self._lock:
            tokens, since = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - since) * self.per_second)
            allowed = tokens >= 1.0
            self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
            return allowed
