"""The operator end to end in one process: local architect (real router on 127.0.0.1), simulated workers over
real HTTP and WebSocket, the echo test blueprint, a real SQLite or PostgreSQL database."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import connect

from mephisto_core.data_model import Agent, AgentFile, Database, TaskRun, Unit, UnitStatus
from mephisto_core.operations.run.operator import Operator
from mephisto_core.operations.run.simulate import SimulatedWorker, run_crowd
from mephisto_core.operations.run.uploads import UploadStore
from mephisto_core.settings import Settings
from mephisto_core.task_config import load_task_config

pytestmark = pytest.mark.usefixtures("test_types")


async def _run_with_crowd(operator: Operator, config: Any, bots: int) -> Any:
    run = asyncio.create_task(operator.run(config))
    await asyncio.wait_for(operator.ready.wait(), 20)
    assert operator.ctx is not None
    report = await asyncio.wait_for(run_crowd(operator.stats.worker_url, operator.ctx.blueprint, bots), 60)
    stats = await asyncio.wait_for(run, 30)
    return stats, report


def test_simulated_workers_complete_every_unit_and_files_are_stored(
    database: Database, mephisto_settings: Settings, task_file: Any
) -> None:
    config = load_task_config(task_file(rows=6, units_per_assignment=2))
    operator = Operator(mephisto_settings, database)
    stats, report = asyncio.run(_run_with_crowd(operator, config, bots=4))
    assert report.submitted == 12 and report.errors == 0
    assert stats.counts == {"completed": 12}
    assert TaskRun.get().is_completed
    for agent in Agent.select():
        assert agent.outputs == {"answer": f"n={agent.assignment.inputs['n']}"}
        (stored,) = AgentFile.select().where(AgentFile.agent == agent)
        assert (mephisto_settings.data_dir / stored.path).read_bytes() == b"hello %d" % agent.assignment.inputs["n"]
    # No worker did both units of one assignment.
    pairs = {(u.assignment_id, u.worker_id) for u in Unit.select()}
    assert len(pairs) == 12


def test_graceful_stop_withdraws_unclaimed_units_and_a_relaunch_finishes_them(
    database: Database, mephisto_settings: Settings, task_file: Any
) -> None:
    config = load_task_config(task_file(rows=5))

    async def stop_after_two() -> Any:
        operator = Operator(mephisto_settings, database)
        run = asyncio.create_task(operator.run(config))
        await asyncio.wait_for(operator.ready.wait(), 20)
        assert operator.ctx is not None
        bot = SimulatedWorker(operator.stats.worker_url, "alice", operator.ctx.blueprint.simulate_answer, max_units=2)
        assert (await bot.run()).submitted == 2
        operator.request_stop()
        return await asyncio.wait_for(run, 20)

    stats = asyncio.run(stop_after_two())
    assert stats.counts == {"completed": 2, "expired": 3}
    assert not TaskRun.get().is_completed

    resumed_operator = Operator(mephisto_settings, database)
    stats, report = asyncio.run(_run_with_crowd(resumed_operator, config, bots=2))
    assert stats.resumed and report.submitted == 3
    assert stats.counts == {"completed": 5}
    assert TaskRun.select().count() == 1 and TaskRun.get().is_completed
    assert Unit.select().where(Unit.status == UnitStatus.COMPLETED).count() == 5


def _page_upload(request_id: int, upload_id: str, data: bytes) -> bytes:
    header = {"type": "upload", "id": request_id, "upload_id": upload_id, "field": "doc", "name": "note.txt"}
    raw = json.dumps({**header, "content_type": "text/plain"}).encode()
    return len(raw).to_bytes(4, "big") + raw + data


def test_uploads_no_submission_lists_are_removed_when_the_run_ends(
    database: Database, mephisto_settings: Settings, task_file: Any
) -> None:
    config = load_task_config(task_file(rows=1))
    store = UploadStore(mephisto_settings.data_dir)

    async def submit_one_of_two_files() -> None:
        operator = Operator(mephisto_settings, database)
        run = asyncio.create_task(operator.run(config))
        await asyncio.wait_for(operator.ready.wait(), 20)
        async with connect("ws" + operator.stats.worker_url[4:] + "ws") as page:

            async def ask(frame: str | bytes) -> dict[str, Any]:
                await page.send(frame)
                answer: dict[str, Any] = json.loads(await asyncio.wait_for(page.recv(), 10))
                return answer

            hello = {"type": "hello", "id": 1, "params": {"worker_id": "alice"}, "token": None}
            assert (await ask(json.dumps(hello)))["type"] == "assigned"
            assert (await ask(_page_upload(2, "listed-0001", b"kept")))["type"] == "upload_ack"
            assert (await ask(_page_upload(3, "unlisted-01", b"dropped")))["type"] == "upload_ack"
            assert store.load("unlisted-01") is not None  # stored before any submit, as the protocol promises
            submit = {
                "type": "submit",
                "id": 4,
                "submit_key": "alice-key-1",
                "outputs": {"answer": "x"},
                "uploads": ["listed-0001"],
            }
            assert (await ask(json.dumps(submit)))["type"] == "submitted"
        await asyncio.wait_for(run, 20)

    asyncio.run(submit_one_of_two_files())
    (linked,) = AgentFile.select()
    assert (mephisto_settings.data_dir / linked.path).read_bytes() == b"kept"
    assert store.load("listed-0001") is not None
    assert store.load("unlisted-01") is None and not store.folder("unlisted-01").exists()
