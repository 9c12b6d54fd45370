"""The operator's OpenMetrics endpoint scraped during a simulated run of the static template: parsed with
prometheus_client's own parser, its numbers agree with the database (real router, real SQLite, real HTTP)."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from mephisto_core.abstractions import CrowdProvider, WorkerIdentity
from mephisto_core.abstractions.provider import ProviderArgs
from mephisto_core.data_model import Database, Unit, UnitStatus, Worker
from mephisto_core.data_model.qualifications import BLOCK_QUALIFICATION, grant_qualification
from mephisto_core.errors import ProviderError
from mephisto_core.operations.provider_calls import ProviderCalls
from mephisto_core.operations.run import metrics_hooks, metrics_server
from mephisto_core.operations.run.operator import TICK_SECONDS, Operator
from mephisto_core.operations.run.simulate import SimulatedWorker
from mephisto_core.settings import Settings
from mephisto_core.task_config import load_task_config


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _units_by_status(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> dict[str, int]:
    return {dict(labels)["status"]: int(v) for (name, labels), v in samples.items() if name == "mephisto_units" and v}


async def _scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with httpx.AsyncClient() as client:
        reply = await client.get(url)
    assert reply.status_code == 200
    return _samples(reply.text)


def test_metrics_scraped_during_a_run_match_the_database(
    static_task: Path, database: Database, mephisto_settings: Settings
) -> None:
    data = static_task.parent / "twelve.csv"
    with data.open("w", newline="") as fh:
        rows = csv.writer(fh)
        rows.writerow(["topic", "prompt"])
        rows.writerows([f"topic-{i}", f"Describe thing {i}."] for i in range(12))
    config = load_task_config(static_task, ["architect.port=0", f"blueprint.data_csv={data}"])
    settings = mephisto_settings.model_copy(update={"metrics_port": 0})

    with database.write():
        mallory = Worker.create(provider_type="mock", name="mallory")
        grant_qualification(mallory, BLOCK_QUALIFICATION, 1)

    async def scenario() -> Any:
        operator = Operator(settings, database)
        run = asyncio.create_task(operator.run(config))
        await asyncio.wait_for(operator.ready.wait(), 20)
        assert operator.ctx is not None and operator.metrics_url.startswith("http://127.0.0.1:")
        url_file = metrics_server.url_file(settings, operator.stats.run_id)
        assert url_file.read_text().strip() == operator.metrics_url  # what the review app reads
        first = await _scrape(operator.metrics_url)
        assert _units_by_status(first) == {"launched": 12}
        # Three workers do five units in all.
        bots = [
            SimulatedWorker(operator.stats.worker_url, name, operator.ctx.blueprint.simulate_answer, max_units=n)
            for name, n in (("ann", 2), ("bob", 2), ("cid", 1))
        ]
        reports = await asyncio.gather(*(b.run() for b in bots))
        assert sum(r.submitted for r in reports) == 5
        # A blocked worker is refused.
        blocked = SimulatedWorker(operator.stats.worker_url, "mallory", operator.ctx.blueprint.simulate_answer)
        assert (await blocked.run()).submitted == 0
        await asyncio.sleep(3 * TICK_SECONDS)  # the panel's counts refresh every tick
        during = await _scrape(operator.metrics_url)
        in_db = {status: Unit.select().where(Unit.status == status).count() for status in ("completed", "launched")}
        # A page holding a unit counts as connected while its socket is open.
        url = operator.stats.worker_url
        async with connect("ws" + url[4:] + "ws") as ws:
            hello = {"type": "hello", "id": 1, "params": {"worker_id": "dee"}, "token": None}
            await ws.send(json.dumps(hello))
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "assigned"
            holding = await _scrape(operator.metrics_url)
        assert holding[("mephisto_connected_workers", ())] == 1
        operator.request_stop()
        operator.request_stop()  # now: dee's unit stays assigned (its page just left) and is not waited for
        await asyncio.wait_for(run, 30)
        return operator, first, during, in_db

    operator, _first, during, in_db = asyncio.run(scenario())
    assert in_db == {"completed": 5, "launched": 7}
    assert _units_by_status(during) == in_db
    assert during[("mephisto_submissions_total", ())] == 5
    assert during[("mephisto_ack_latency_seconds_count", ())] == 5
    assert 0 < during[("mephisto_ack_latency_seconds_sum", ())] < 5
    assert during[("mephisto_database_write_jobs_total", ())] >= 5
    assert during[("mephisto_database_write_seconds_count", ())] >= 1
    assert during[("mephisto_connected_workers", ())] == 0  # every bot closed its page
    refusals = {dict(k[1])["reason"]: v for k, v in during.items() if k[0] == "mephisto_refusals_total"}
    assert refusals == dict(operator.stats.refusals) == {"blocked": 1}
    # Over: the endpoint is gone, the hot paths report nowhere, and the review app finds no live run.
    assert metrics_hooks.ACTIVE is None
    assert not metrics_server.url_file(mephisto_settings, operator.stats.run_id).exists()
    try:
        httpx.get(operator.metrics_url, timeout=2)
    except httpx.ConnectError:
        pass
    else:
        raise AssertionError("the metrics endpoint still answers after the run")
    assert Unit.select().where(Unit.status == UnitStatus.COMPLETED).count() == 5


def test_the_grafana_dashboard_uses_only_metrics_the_operator_exposes() -> None:
    from prometheus_client import generate_latest

    from mephisto_core.operations.run.metrics import LiveSources, RunMetrics
    from mephisto_core.operations.run.operator import RunStats

    metrics = RunMetrics(LiveSources(RunStats(), lambda: None))
    exposed = {family.name for family in text_string_to_metric_families(generate_latest(metrics.registry).decode())}
    dashboard = json.loads((Path(__file__).parents[2] / "docs" / "grafana" / "mephisto.json").read_text())
    used = {
        re.sub(r"_(bucket|total|sum|count)$", "", name)
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"mephisto_[a-z_]+", target["expr"])
    }
    assert len(dashboard["panels"]) == 8 and used
    assert used <= exposed, used - exposed


def test_mephisto_launch_metrics_port_serves_while_the_run_goes_on(static_task: Path, start_launch: Any) -> None:
    launch = start_launch(str(static_task), "architect.port=0", "--metrics-port", "0", "--no-panel")
    launch.wait_for_link()
    deadline = time.monotonic() + 20
    while not (found := re.search(r"metrics of run \d+ at (http://127\.0\.0\.1:\d+/metrics)", launch.output())):
        assert time.monotonic() < deadline, launch.output()
        time.sleep(0.1)
    samples = _samples(httpx.get(found.group(1), timeout=5).text)
    assert _units_by_status(samples) == {"launched": 4}  # the template's four rows, nobody working yet
    launch.stop_cleanly()


class _PlatformProvider(CrowdProvider):
    """A provider whose platform answers `block_worker` and fails `expire_units` (a 503)."""

    type_name = "metrics_platform_test"

    def __init__(self) -> None:
        super().__init__(ProviderArgs(), "R", {}, Path("."))

    def identify_worker(self, params: Any) -> WorkerIdentity:
        return WorkerIdentity(params["worker_id"])

    def block_worker(self, worker: Any, reason: str) -> None:
        return None

    def expire_units(self, units: Any) -> None:
        raise ProviderError("expire_units: the platform answered 503")


def test_provider_calls_are_timed_and_failures_counted_by_method() -> None:
    from mephisto_core.operations.run.metrics import LiveSources, RunMetrics
    from mephisto_core.operations.run.operator import RunStats

    provider = _PlatformProvider()
    metrics = RunMetrics(LiveSources(RunStats(), lambda: None))
    metrics_hooks.ACTIVE = metrics

    async def calls() -> None:
        pool = ProviderCalls(provider, retries=0)
        try:
            await pool.call(provider.block_worker, None, "spam")
            with contextlib.suppress(ProviderError):
                await pool.call(provider.expire_units, [])
            with contextlib.suppress(NotImplementedError):  # the base class: not at this platform
                await pool.call(provider.unblock_worker, None)
        finally:
            pool.close()

    try:
        asyncio.run(calls())
    finally:
        metrics.close()
    samples = _samples(generate_latest(metrics.registry).decode())
    for method in ("block_worker", "expire_units", "unblock_worker"):
        assert samples[("mephisto_provider_call_seconds_count", (("method", method),))] == 1
    errors = {dict(k[1])["method"]: v for k, v in samples.items() if k[0] == "mephisto_provider_call_errors_total"}
    assert errors == {"expire_units": 1}  # "not supported" is an answer, not an error
