"""Starting and stopping a run's metrics endpoint, and telling the review app where it is.

The operator calls `start` once per run. It imports prometheus_client only when `metrics_port` is set, so a
run without metrics loads nothing of it. The endpoint's URL is written to `runs/<id>/metrics.url` (removed at
the end of the run): the review app's live panel reads the run's numbers from there.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mephisto_core.file_modes import make_private_dir
from mephisto_core.settings import Settings

if TYPE_CHECKING:
    from mephisto_core.operations.run.client_io import ClientIOHandler
    from mephisto_core.operations.run.operator import RunStats

log = logging.getLogger(__name__)

URL_FILE = "metrics.url"


def url_file(settings: Settings, run_id: int) -> Path:
    """Where a running run's metrics URL is written."""
    return settings.runs_dir / str(run_id) / URL_FILE


def start(
    stack: contextlib.AsyncExitStack,
    settings: Settings,
    stats: RunStats,
    io: Callable[[], ClientIOHandler | None],
    run_id: int,
) -> str:
    """Serve the run's metrics when `settings.metrics_port` is set; the URL, or "" when metrics are off."""
    if settings.metrics_port is None:
        return ""
    from mephisto_core.operations.run.metrics import LiveSources, RunMetrics

    metrics = RunMetrics(LiveSources(stats, io))
    url = metrics.serve(settings.metrics_host, settings.metrics_port)
    stack.callback(metrics.close)
    path = url_file(settings, run_id)
    make_private_dir(path.parent)
    path.write_text(url + "\n", encoding="utf-8")
    stack.callback(path.unlink, missing_ok=True)
    log.info("metrics of run %s at %s", run_id, url)
    return url
