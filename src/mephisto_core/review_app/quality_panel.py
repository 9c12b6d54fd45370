"""The review app's quality and live panel: what the quality rules did (with undo) and the numbers of runs going on.

`GET /api/rule-actions` lists rule actions (filters `task`, `worker`), `POST /api/rule-actions/<id>/undo` lifts
one through the review actions (the provider first), and `GET /api/live` reads the OpenMetrics of every run whose
operator serves them (`runs/<id>/metrics.url`, written by operations/run/metrics_server.py) and answers them as
JSON; static/quality.js polls it while the page is open.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

from mephisto_core.data_model import Task, TaskRun
from mephisto_core.operations.run import quality_rules
from mephisto_core.operations.run.metrics_server import URL_FILE
from mephisto_core.review_app.validation import ApiError, parse_id

if TYPE_CHECKING:
    from mephisto_core.review_app.app import ReviewApp

SCRAPE_TIMEOUT_SECONDS = 1.0
#: the metrics `GET /api/live` passes on (the rest are for Prometheus and Grafana)
_LIVE = {
    "mephisto_units": "units",
    "mephisto_submissions_total": "submissions",
    "mephisto_connected_workers": "connected_workers",
    "mephisto_refusals_total": "refusals",
    "mephisto_ack_latency_seconds_sum": "ack_seconds_sum",
    "mephisto_ack_latency_seconds_count": "ack_count",
    "mephisto_provider_call_errors_total": "provider_errors",
}


def rule_actions(app: ReviewApp, params: dict[str, str]) -> dict[str, Any]:
    """GET /api/rule-actions?task=NAME&worker=ID: every rule action, newest first."""
    worker = parse_id(params["worker"], "worker id") if "worker" in params else None
    return {"actions": quality_rules.action_rows(params.get("task") or None, worker)}


def undo_rule_action(app: ReviewApp, action_id: str) -> dict[str, Any]:
    """POST /api/rule-actions/<id>/undo: lift what the rule did (provider first) and say what happened."""
    number = parse_id(action_id, "rule action id")
    with app.action_lock:
        outcomes = quality_rules.undo(app.actions, number)
    message = " ".join([f"Undid quality rule action {number}.", *(f"Platform: {o.sentence()}" for o in outcomes)])
    return {"message": message, "actions": quality_rules.action_rows()}


def live_numbers(app: ReviewApp) -> dict[str, Any]:
    """GET /api/live: the metrics of every run that serves them now (an unreachable one says why)."""
    runs = []
    for url_file in sorted(app.settings.runs_dir.glob(f"*/{URL_FILE}")):
        run_id = int(url_file.parent.name) if url_file.parent.name.isdigit() else None
        if run_id is None:
            continue
        url = url_file.read_text(encoding="utf-8").strip()
        run = TaskRun.get_or_none(TaskRun.id == run_id)
        task = Task.get_or_none(Task.id == run.task_id) if run is not None else None
        entry: dict[str, Any] = {"run_id": run_id, "task": task.name if task is not None else None, "url": url}
        try:
            entry.update(_scrape(url))
        except (OSError, ValueError) as exc:
            entry["error"] = f"could not read {url}: {exc}"
        runs.append(entry)
    return {"runs": runs}


def _scrape(url: str) -> dict[str, Any]:
    if not url.startswith(("http://", "https://")):
        raise ValueError("not an http(s) URL")
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError as exc:
        raise ApiError(501, "the live panel needs prometheus_client: pip install 'mephisto-core[metrics]'") from exc
    try:
        with urllib.request.urlopen(url, timeout=SCRAPE_TIMEOUT_SECONDS) as reply:
            text = reply.read(4 * 1024 * 1024).decode("utf-8")
    except urllib.error.URLError as exc:
        raise OSError(str(exc.reason)) from exc
    found: dict[str, Any] = {"units": {}, "refusals": {}, "provider_errors": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = _LIVE.get(sample.name)
            if key == "units":
                found["units"][sample.labels.get("status", "")] = int(sample.value)
            elif key == "refusals":
                found["refusals"][sample.labels.get("reason", "")] = int(sample.value)
            elif key == "provider_errors":
                found["provider_errors"] += sample.value
            elif key is not None:
                found[key] = sample.value
    return found
