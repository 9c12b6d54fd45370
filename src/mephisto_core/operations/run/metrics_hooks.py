"""Where the hot paths report timings for the run's metrics, without importing prometheus_client.

The database writer, the provider calls and the submit handler call `observe_*` here. With metrics off (the
default) `ACTIVE` is None and each call is one global lookup and one comparison; with metrics on the
operator sets `ACTIVE` to its `RunMetrics` (operations/run/metrics.py) for the run's lifetime.
"""

from __future__ import annotations

from typing import Protocol


class MetricsSink(Protocol):
    """What the hot paths report to (implemented by `metrics.RunMetrics`)."""

    def observe_ack(self, seconds: float) -> None: ...

    def observe_db_write(self, seconds: float, jobs: int) -> None: ...

    def observe_provider_call(self, method: str, seconds: float, failed: bool) -> None: ...


#: the running operator's metrics, or None when metrics are off
ACTIVE: MetricsSink | None = None


def observe_ack(seconds: float) -> None:
    """A stored submission was answered `seconds` after its message arrived."""
    if ACTIVE is not None:
        ACTIVE.observe_ack(seconds)


def observe_db_write(seconds: float, jobs: int) -> None:
    """A writer batch of `jobs` jobs was committed in `seconds`."""
    if ACTIVE is not None:
        ACTIVE.observe_db_write(seconds, jobs)


def observe_provider_call(method: str, seconds: float, failed: bool) -> None:
    """One attempt of a provider method ended (`failed`: it raised or timed out) after `seconds`."""
    if ACTIVE is not None:
        ACTIVE.observe_provider_call(method, seconds, failed)
