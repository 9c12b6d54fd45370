"""A platform that takes 5 s per call holds up nobody's acknowledgement: provider calls run on their own threads.

Real operator, local architect (router on 127.0.0.1), simulated workers over HTTP and WebSocket, real SQLite or
PostgreSQL. The test provider sleeps in every platform call (who a link names, publishing, withdrawing,
reconciling); before provider calls left the writer thread, each such call stalled every submission's commit.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import pytest

from mephisto_core.abstractions import CrowdProvider, UnitDrift, WorkerIdentity
from mephisto_core.data_model import Database, TaskRun, Unit
from mephisto_core.data_model.publishing import IntentState, PublishIntent
from mephisto_core.hookspecs import hookimpl
from mephisto_core.operations.run.operator import Operator
from mephisto_core.operations.run.simulate import run_crowd
from mephisto_core.settings import Settings
from mephisto_core.task_config import load_task_config

pytestmark = pytest.mark.usefixtures("test_types")

SLOW_SECONDS = 5.0
ACK_LIMIT_SECONDS = 2.0


class SlowProvider(CrowdProvider):
    """Every platform call sleeps SLOW_SECONDS; records when each call ran."""

    type_name = "slow_test"
    default_requester_name = "SLOW_REQUESTER"
    calls: ClassVar[list[tuple[str, float, float]]] = []  # (method, start, end) in perf_counter time
    threads: ClassVar[set[str]] = set()  # names of the threads the calls ran on
    _lock = threading.Lock()

    def _platform(self, method: str) -> None:
        start = time.perf_counter()
        type(self).threads.add(threading.current_thread().name)
        time.sleep(SLOW_SECONDS)
        with self._lock:
            type(self).calls.append((method, start, time.perf_counter()))

    def identify_worker(self, params: Mapping[str, str]) -> WorkerIdentity:
        self._platform("identify_worker")
        return WorkerIdentity(params.get("worker_id"))

    def simulated_worker_params(self, worker_name: str) -> dict[str, str]:
        return {"worker_id": worker_name}

    def publish_units(
        self, units: Sequence[Unit], worker_url: str, idempotency_keys: Mapping[int, str]
    ) -> dict[int, str | None]:
        self._platform("publish_units")
        return {u.id: f"slow-{u.id}" for u in units}

    def find_published(self, idempotency_key: str) -> str | None:
        self._platform("find_published")
        return None

    def expire_units(self, units: Sequence[Unit]) -> None:
        self._platform("expire_units")

    def reconcile_units(self, run: TaskRun, units: Sequence[Unit]) -> list[UnitDrift]:
        self._platform("reconcile_units")
        return []


class _Plugin:
    @hookimpl
    def mephisto_register_providers(self, register: Any) -> None:
        register(SlowProvider)


@pytest.fixture(autouse=True)
def slow_provider(mephisto_register_plugin: Callable[[object], None]) -> None:
    mephisto_register_plugin(_Plugin())
    SlowProvider.calls = []
    SlowProvider.threads = set()


def _run(settings: Settings, database: Database, task: Any, bots: int) -> tuple[Any, Any]:
    """Launch, let `bots` simulated workers finish the run; (stats, bot report) back."""
    config = load_task_config(task)

    async def scenario() -> tuple[Any, Any]:
        operator = Operator(settings, database)
        run = asyncio.create_task(operator.run(config))
        await asyncio.wait_for(operator.ready.wait(), 60)
        assert operator.ctx is not None
        report = await asyncio.wait_for(
            run_crowd(operator.stats.worker_url, operator.ctx.blueprint, bots, provider=operator.ctx.provider), 120
        )
        stats = await asyncio.wait_for(run, 60)
        return stats, report

    return asyncio.run(scenario())


def test_acks_arrive_while_every_provider_call_takes_five_seconds_and_the_run_completes(
    database: Database, mephisto_settings: Settings, task_file: Any, tmp_path: Any
) -> None:
    path = task_file(rows=6)
    path.write_text(path.read_text().replace('type = "crowd_test"', 'type = "slow_test"'))
    stats, report = _run(mephisto_settings, database, path, bots=3)
    assert stats.counts == {"completed": 6} and TaskRun.get().is_completed
    assert report.submitted == 6 and report.errors == 0
    # Every acknowledgement came quickly although every platform call took 5 s ...
    assert max(report.submit_to_ack) < ACK_LIMIT_SECONDS, sorted(report.submit_to_ack)
    # ... and the platform was really asked: who each hello is, and to publish the units (once each).
    methods = [method for method, _, _ in SlowProvider.calls]
    assert methods.count("identify_worker") >= 6 and methods.count("publish_units") >= 1
    # Never on the database writer (nor the event loop's thread): on the provider-call threads only.
    assert SlowProvider.threads and all(name.startswith("mephisto-provider") for name in SlowProvider.threads)
    assert sorted(u.provider_unit_id for u in Unit.select()) == sorted(f"slow-{u.id}" for u in Unit.select())
    intents = list(PublishIntent.select())
    assert len(intents) == 6 and {i.state for i in intents} == {IntentState.PUBLISHED.value}


def test_the_mock_style_provider_acks_as_fast_for_comparison(
    database: Database, mephisto_settings: Settings, task_file: Any
) -> None:
    stats, report = _run(mephisto_settings, database, task_file(rows=6), bots=3)
    assert stats.counts == {"completed": 6} and report.submitted == 6
    assert max(report.submit_to_ack) < ACK_LIMIT_SECONDS
