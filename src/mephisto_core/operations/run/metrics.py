"""OpenMetrics of a running operator, served with prometheus_client on 127.0.0.1 by default.

Counts that the operator keeps anyway (units by status, refused hellos, connected workers) are read at scrape
time from the launch panel's `RunStats` and the `ClientIOHandler`, so they cost the hot path nothing; the units
by status are the panel's numbers, refreshed from the database every tick (0.5 s). Timings (ack latency,
database write latency, provider calls) are histograms fed through `metrics_hooks`. docs/monitoring.md lists
every metric; docs/grafana/mephisto.json is a dashboard over them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mephisto_core.errors import ConfigError
from mephisto_core.operations.run import metrics_hooks

if TYPE_CHECKING:
    from mephisto_core.operations.run.client_io import ClientIOHandler
    from mephisto_core.operations.run.operator import RunStats

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'mephisto-core[metrics]'"
#: seconds; an acknowledged submit waits for one writer commit, usually a few milliseconds
ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DB_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
PROVIDER_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass
class LiveSources:
    """Where the scrape reads the numbers the operator keeps: the panel's stats and the run's client IO."""

    stats: RunStats
    io: Callable[[], ClientIOHandler | None]


class RunMetrics:
    """The registry of one operator process's metrics; implements `metrics_hooks.MetricsSink`."""

    def __init__(self, sources: LiveSources) -> None:
        try:
            import prometheus_client as prom
        except ImportError as exc:
            raise ConfigError(f"metrics need the prometheus_client package: {INSTALL_HINT}") from exc
        self.registry = prom.CollectorRegistry()
        self.ack_latency = prom.Histogram(
            "mephisto_ack_latency_seconds",
            "Time from a submit message's arrival to its acknowledgement (after the commit).",
            buckets=ACK_BUCKETS,
            registry=self.registry,
        )
        self.submissions = prom.Counter(
            "mephisto_submissions", "Submissions stored and acknowledged (replays not counted).", registry=self.registry
        )
        self.db_write = prom.Histogram(
            "mephisto_database_write_seconds",
            "Time of one database writer batch (one transaction, its commit included).",
            buckets=DB_BUCKETS,
            registry=self.registry,
        )
        self.db_jobs = prom.Counter(
            "mephisto_database_write_jobs", "Jobs committed by the writer.", registry=self.registry
        )
        self.provider_call = prom.Histogram(
            "mephisto_provider_call_seconds",
            "Time of one attempt of a provider method (a platform call), by method.",
            ["method"],
            buckets=PROVIDER_BUCKETS,
            registry=self.registry,
        )
        self.provider_errors = prom.Counter(
            "mephisto_provider_call_errors",
            "Provider method attempts that raised or timed out, by method.",
            ["method"],
            registry=self.registry,
        )
        self.registry.register(_LiveCollector(sources))
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # ---- metrics_hooks.MetricsSink ------------------------------------------------------------------------

    def observe_ack(self, seconds: float) -> None:
        self.ack_latency.observe(seconds)
        self.submissions.inc()

    def observe_db_write(self, seconds: float, jobs: int) -> None:
        self.db_write.observe(seconds)
        self.db_jobs.inc(jobs)

    def observe_provider_call(self, method: str, seconds: float, failed: bool) -> None:
        self.provider_call.labels(method).observe(seconds)
        if failed:
            self.provider_errors.labels(method).inc()

    # ---- serving ------------------------------------------------------------------------------------------

    def serve(self, host: str, port: int) -> str:
        """Serve /metrics on host:port (0: any free port) in a daemon thread, start reporting; returns the URL."""
        import prometheus_client as prom

        try:
            self._server, self._thread = prom.start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise ConfigError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from exc
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self._server.server_port}/metrics"
        metrics_hooks.ACTIVE = self
        return self.url

    def close(self) -> None:
        """Stop reporting and serving (idempotent)."""
        if metrics_hooks.ACTIVE is self:
            metrics_hooks.ACTIVE = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class _LiveCollector:
    """Reads the operator's own counts at scrape time."""

    def __init__(self, sources: LiveSources) -> None:
        self.sources = sources

    def describe(self) -> list[Any]:
        return []  # unchecked: families are made at collect time

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        stats = self.sources.stats
        units = GaugeMetricFamily(
            "mephisto_units", "Units of the run by status (refreshed every tick).", labels=["status", "task"]
        )
        for status, count in sorted(dict(stats.counts).items()):
            units.add_metric([status, stats.task_name], count)
        yield units
        io = self.sources.io()
        connected = GaugeMetricFamily(
            "mephisto_connected_workers", "Units held by a page with an open connection right now."
        )
        connected.add_metric([], io.connected_agents() if io is not None else 0)
        yield connected
        refusals = CounterMetricFamily(
            "mephisto_refusals", "Hellos refused since the operator started, by reason.", labels=["reason"]
        )
        for reason, count in sorted(dict(io.refusals if io is not None else {}).items()):
            refusals.add_metric([reason], count)
        yield refusals
