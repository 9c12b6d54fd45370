"""How a running operator handles pages that vanish, run out of time, misbehave, and being stopped twice."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from socket_page import Page

from mephisto_core.data_model import Agent, AgentStatus, TaskRun, Unit, UnitStatus
from mephisto_core.operations.run.operator import Operator
from mephisto_core.operations.run.simulate import run_crowd
from mephisto_core.operations.run.worker_pool import WorkerPool
from mephisto_core.task_config import load_task_config

pytestmark = pytest.mark.usefixtures("test_types")


async def started(operator: Operator, config: Any) -> asyncio.Task[Any]:
    run = asyncio.create_task(operator.run(config))
    await asyncio.wait_for(operator.ready.wait(), 20)
    return run


def test_page_that_disconnects_loses_its_unit_after_the_grace_period(database, mephisto_settings, task_file):
    config = load_task_config(task_file(rows=1, disconnect_grace_seconds=0.5))

    async def scenario() -> None:
        operator = Operator(mephisto_settings, database)
        run = await started(operator, config)
        alice = await Page.open(operator.stats.worker_url)
        got = await alice.request(type="hello", params={"worker_id": "alice"}, token=None)
        assert got["type"] == "assigned"
        await alice.ws.close()
        # Within the grace period a reconnect with the token returns the same unit.
        back = await Page.open(operator.stats.worker_url)
        again = await back.request(type="hello", params={"worker_id": "alice"}, token=got["token"])
        assert again["agent_id"] == got["agent_id"]
        await back.ws.close()
        await asyncio.sleep(1.5)
        bob = await Page.open(operator.stats.worker_url)
        taken = await bob.request(type="hello", params={"worker_id": "bob"}, token=None)
        assert taken["type"] == "assigned" and taken["unit_id"] == got["unit_id"]
        done = await bob.request(type="submit", submit_key="bob-key-123", outputs={"answer": "b"}, uploads=[])
        assert done["type"] == "submitted"
        await bob.ws.close()
        await asyncio.wait_for(run, 10)

    asyncio.run(scenario())
    statuses = {a.worker.name: a.status for a in Agent.select()}
    assert statuses == {"alice": AgentStatus.DISCONNECTED, "bob": AgentStatus.COMPLETED}


def test_unit_past_its_duration_is_taken_away_and_the_late_submit_refused(
    database, mephisto_settings, task_file, monkeypatch
):
    config = load_task_config(task_file(rows=1, assignment_duration_seconds=1))
    # The agents past their deadline are found beside the writer (side_connection.py), not in its queue.
    found_on: set[str] = set()
    past_deadline = WorkerPool.agents_past_deadline

    def recorded(pool: WorkerPool, *args: object) -> list[int]:
        found_on.add(threading.current_thread().name.rsplit("_", 1)[0])
        return past_deadline(pool, *args)

    monkeypatch.setattr(WorkerPool, "agents_past_deadline", recorded)

    async def scenario() -> None:
        operator = Operator(mephisto_settings, database)
        run = await started(operator, config)
        alice = await Page.open(operator.stats.worker_url)
        await alice.request(type="hello", params={"worker_id": "alice"}, token=None)
        assert await alice.push() == {"type": "status", "status": "timed_out"}
        late = await alice.request(type="submit", submit_key="late-key-12", outputs={"answer": "a"}, uploads=[])
        assert late["code"] == "gone" and "time for this unit ran out" in late["message"]
        assert Unit.get().status == UnitStatus.LAUNCHED
        operator.request_stop()
        operator.request_stop()
        await asyncio.wait_for(run, 10)

    asyncio.run(scenario())
    assert found_on == {"mephisto-side-connection"}


def test_the_ticks_beat_offer_and_count_go_beside_the_writer_on_postgresql(
    database, mephisto_settings, task_file, monkeypatch
):
    """On PostgreSQL the tick's round trips, and the creation and first offer of the run's units, do not hold up
    the hellos and submissions queued on the writer (at 11 ms from the database they made the run's longest
    pauses); on SQLite, one writer at a time, they stay on it."""
    from mephisto_core.operations.run import run_setup
    from mephisto_core.operations.run.launcher import TaskLauncher

    monkeypatch.setattr(run_setup, "HEARTBEAT_SECONDS", 0.1)  # a beat at each tick
    threads: dict[str, set[str]] = {
        name: set() for name in ("beat", "create_assignments", "launch_available", "status_counts")
    }

    def recorded(name: str, fn: Any) -> Any:
        def call(*args: Any) -> Any:
            threads[name].add(threading.current_thread().name.rsplit("_", 1)[0])
            return fn(*args)

        return call

    monkeypatch.setattr(run_setup, "beat", recorded("beat", run_setup.beat))
    for name in ("create_assignments", "launch_available"):
        monkeypatch.setattr(TaskLauncher, name, recorded(name, getattr(TaskLauncher, name)))
    monkeypatch.setattr(TaskLauncher, "status_counts", recorded("status_counts", TaskLauncher.status_counts))
    config = load_task_config(task_file(rows=2))

    async def scenario() -> None:
        operator = Operator(mephisto_settings, database)
        run = await started(operator, config)
        alice = await Page.open(operator.stats.worker_url)
        got = await alice.request(type="hello", params={"worker_id": "alice"}, token=None)
        assert got["type"] == "assigned"
        await asyncio.sleep(1.2)  # a few ticks, each with its beat
        done = await alice.request(type="submit", submit_key="alice-key-1", outputs={"answer": "a"}, uploads=[])
        assert done["type"] == "submitted"
        operator.request_stop()
        await asyncio.wait_for(run, 10)

    asyncio.run(scenario())
    if database.is_sqlite:
        assert threads == {name: {"mephisto-db-writer"} for name in threads}
    else:
        assert threads == {name: {"mephisto-side-connection"} for name in threads}
    assert Unit.select().where(Unit.status == UnitStatus.COMPLETED).count() == 1


def test_page_cannot_submit_for_another_workers_unit_or_with_bad_fields(database, mephisto_settings, task_file):
    config = load_task_config(task_file(rows=2))

    async def scenario() -> None:
        operator = Operator(mephisto_settings, database)
        run = await started(operator, config)
        alice, bob = await Page.open(operator.stats.worker_url), await Page.open(operator.stats.worker_url)
        a = await alice.request(type="hello", params={"worker_id": "alice"}, token=None)
        b = await bob.request(type="hello", params={"worker_id": "bob"}, token=None)
        before_hello = await Page.open(operator.stats.worker_url)
        refused = await before_hello.request(type="submit", submit_key="x" * 10, outputs={}, uploads=[])
        assert refused["code"] == "not_assigned"
        # Naming bob's agent stores nothing anywhere: the page claims to show another attempt than it holds.
        forged = await alice.request(
            type="submit",
            submit_key="alice-key-0",
            outputs={"answer": "a"},
            uploads=[],
            agent_id=b["agent_id"],
            unit_id=b["unit_id"],
        )
        assert forged["code"] == "not_your_unit"
        own = await alice.request(
            type="submit", submit_key="alice-key-1", outputs={"answer": "a"}, uploads=[], agent_id=a["agent_id"]
        )
        assert own["type"] == "submitted"
        for bad in ({"submit_key": 5}, {"submit_key": "k" * 10, "outputs": []}, {"submit_key": "short"}):
            reply = await bob.request(type="submit", **{"outputs": {}, "uploads": [], **bad})
            assert reply["code"] == "bad_message"
        stolen = await bob.request(
            type="hello", params={"worker_id": "bob"}, token=a["token"]
        )  # alice's token does not give bob alice's unit, nor any unit in place of the one it names
        assert (stolen["type"], stolen["status"], stolen["unit_id"]) == ("expired", "unknown", None)
        again = await bob.request(type="hello", params={"worker_id": "bob"}, token=b["token"])
        assert again["unit_id"] == b["unit_id"]
        operator.request_stop()
        operator.request_stop()
        await asyncio.wait_for(run, 10)

    asyncio.run(scenario())
    alice_agent = Agent.get(
        Agent.unit == Unit.get(Unit.agent_id == Agent.select().where(Agent.outputs.is_null(False)).get().id)
    )
    assert alice_agent.worker.name == "alice"
    assert Agent.select().where(Agent.status == AgentStatus.COMPLETED).count() == 1


def test_stop_now_leaves_held_units_for_the_next_launch_to_reoffer(database, mephisto_settings, task_file):
    config = load_task_config(task_file(rows=2, disconnect_grace_seconds=0.3))

    async def first_launch() -> None:
        operator = Operator(mephisto_settings, database)
        run = await started(operator, config)
        alice = await Page.open(operator.stats.worker_url)
        await alice.request(type="hello", params={"worker_id": "alice"}, token=None)
        operator.request_stop()
        operator.request_stop()
        await asyncio.wait_for(run, 10)

    asyncio.run(first_launch())
    assert sorted(u.status for u in Unit.select()) == [UnitStatus.ASSIGNED, UnitStatus.EXPIRED]
    assert not TaskRun.get().is_completed

    async def second_launch() -> None:
        operator = Operator(mephisto_settings, database)
        run = await started(operator, config)
        assert operator.ctx is not None
        await asyncio.sleep(0.8)  # alice's grace period runs out
        report = await asyncio.wait_for(run_crowd(operator.stats.worker_url, operator.ctx.blueprint, 2), 30)
        assert report.submitted == 2
        await asyncio.wait_for(run, 10)

    asyncio.run(second_launch())
    assert [u.status for u in Unit.select()] == [UnitStatus.COMPLETED] * 2
    assert TaskRun.get().is_completed
