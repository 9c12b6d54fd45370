"""Several `mephisto launch` processes serving one run on one PostgreSQL database (`--join`), as real processes,
with simulated workers on each process's own link: every unit is completed exactly once and every acknowledged
submission is stored; when a joined process is killed (kill -9) while its workers hold units, the other processes
get those units back and finish the run."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import itertools
import json
import os
import signal
import socket
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from mephisto_core.data_model import Agent, AgentStatus, Database, TaskRun, Unit, UnitStatus, open_database
from mephisto_core.data_model import operator_leases as leases
from mephisto_core.operations.run.simulate import BotReport, SimulatedWorker
from mephisto_core.plugins import get_registry
from mephisto_core.task_config import load_task_config
from mephisto_core.testing.processes import LaunchProcess


@pytest.fixture
def launches(pg_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., LaunchProcess]]:
    started: list[LaunchProcess] = []

    def start(*args: str | Path) -> LaunchProcess:
        launch = LaunchProcess([str(a) for a in args], pg_env, tmp_path / f"launch-{len(started)}.log")
        started.append(launch)
        return launch

    yield start
    for launch in started:
        launch.close()


def _task(task_file: Path, rows: int) -> list[str]:
    data = task_file.parent / "many.csv"
    with data.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["topic", "prompt"])
        writer.writerows([f"topic-{i}", f"Describe thing number {i}."] for i in range(rows))
    return [str(task_file), "architect.port=0", f"blueprint.data_csv={data}", "--no-panel"]


def _bots(task_file: Path, link: str, prefix: str, count: int, think: float) -> list[SimulatedWorker]:
    config = load_task_config(task_file)
    blueprint = get_registry().get("blueprint", config.blueprint_type)(
        config.blueprint_args, config.task, config.task_dir
    )
    base = link.split("?", 1)[0]
    return [
        SimulatedWorker(base, f"{prefix}-{i}", blueprint.simulate_answer, seed=i, think_seconds=think)
        for i in range(count)
    ]


def _run_bots(bots: list[SimulatedWorker]) -> list[BotReport]:
    async def main() -> list[BotReport]:
        return list(await asyncio.gather(*(bot.run() for bot in bots)))

    return asyncio.run(main())


def _held_by(db: Database) -> dict[int, str | None]:
    rows = db.db.execute_sql('SELECT "id", "held_by" FROM "agent"').fetchall()
    return {int(agent_id): owner for agent_id, owner in rows}


def _check_run(url: str, acknowledged: list[str], rows: int) -> dict[int, str | None]:
    """Every unit completed once, never two live agents on one unit at once, every acknowledged key stored once."""
    db = open_database(url, Path("/nonexistent"))
    try:
        units = list(Unit.select())
        assert len(units) == rows and all(u.status == UnitStatus.COMPLETED for u in units)
        by_unit: dict[int, list[Any]] = defaultdict(list)
        for agent in Agent.select().order_by(Agent.id):
            by_unit[agent.unit_id].append(agent)
        for unit in units:
            agents = by_unit[unit.id]
            completed = [a for a in agents if a.status == AgentStatus.COMPLETED]
            assert len(completed) == 1 and unit.agent_id == completed[0].id, (unit.id, [a.status for a in agents])
            # One attempt after the other: every earlier attempt had ended before the next one started.
            for earlier, later in itertools.pairwise(agents):
                assert earlier.status != AgentStatus.IN_TASK and earlier.updated_at <= later.started_at
        stored = [a.submit_key for a in Agent.select().where(Agent.status == AgentStatus.COMPLETED)]
        assert len(stored) == len(set(stored)) == rows
        assert set(acknowledged) <= set(stored) and len(acknowledged) == len(set(acknowledged))
        assert TaskRun.get().is_completed
        return _held_by(db)
    finally:
        db.close()


@contextlib.contextmanager
def db_reopened(url: str) -> Iterator[Database]:
    db = open_database(url, Path("/nonexistent"))
    try:
        yield db
    finally:
        db.close()


def test_an_owner_and_two_joined_processes_complete_every_unit_once(
    launches: Callable[..., LaunchProcess], mephisto_init: Callable[..., Path], postgres_url: str
) -> None:
    rows = 90
    task = mephisto_init("static")
    args = _task(task, rows)
    owner = launches(*args)
    links = [owner.wait_for_link(60)]
    joined = [launches(*args, "--join") for _ in range(2)]
    links += [j.wait_for_link(60) for j in joined]
    assert len(set(links)) == 3  # a router and worker link per process

    bots = [bot for n, link in enumerate(links) for bot in _bots(task, link, f"p{n}", 4, think=0.05)]
    reports = _run_bots(bots)

    for launch in (owner, *joined):
        assert launch.wait(60) == 0, launch.output()
    assert "All 90 units are done" in owner.output()
    acknowledged = [key for report in reports for key in report.acknowledged_keys]
    assert len(acknowledged) == rows
    per_process = [sum(r.submitted for r in reports[n * 4 : (n + 1) * 4]) for n in range(3)]
    assert all(done > 0 for done in per_process), per_process  # each link served units
    held_by = _check_run(postgres_url, acknowledged, rows)
    processes = {f"{socket.gethostname()}:{launch.proc.pid}" for launch in (owner, *joined)}
    assert set(held_by.values()) == processes  # every agent names the process that handed it out


@pytest.mark.parametrize("ending", ["kill -9", "ctrl-c twice"])
def test_a_joined_process_ended_mid_run_loses_nothing_and_the_others_finish(
    launches: Callable[..., LaunchProcess], mephisto_init: Callable[..., Path], postgres_url: str, ending: str
) -> None:
    rows = 40
    task = mephisto_init("static")
    args = _task(task, rows)
    owner = launches(*args)
    owner_link = owner.wait_for_link(60)
    doomed = launches(*args, "--join")
    doomed_link = doomed.wait_for_link(60)
    doomed_name = f"{socket.gethostname()}:{doomed.proc.pid}"

    # The doomed process's workers are slow: they hold units when it dies. The owner's are quick.
    slow = _bots(task, doomed_link, "slow", 4, think=5.0)
    quick = _bots(task, owner_link, "quick", 3, think=0.2)
    held_when_killed: list[int] = []

    async def main() -> list[BotReport]:
        runs = [asyncio.ensure_future(bot.run()) for bot in (*slow, *quick)]
        db = open_database(postgres_url, Path("/nonexistent"))
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with db.write():
                    run_id = TaskRun.get().id
                    held = leases.held_count(run_id, doomed_name)  # a moment's blocking read: the bots can wait
                if held >= 3:
                    break
                await asyncio.sleep(0.1)
            with db.write():
                held_when_killed.extend(agent_id for agent_id, owner in _held_by(db).items() if owner == doomed_name)
                held_when_killed[:] = [
                    a.id for a in Agent.select().where(Agent.id.in_(held_when_killed) & (Agent.status == "in_task"))
                ]
        finally:
            db.close()
        if ending == "kill -9":
            doomed.kill()  # SIGKILL: no clean-up of any kind; the owner returns its units once its lease expires
        else:
            # Stops this process alone; it returns its workers' units itself, at once.
            await asyncio.to_thread(doomed.stop_now)
            assert await asyncio.to_thread(doomed.wait, 30) == 0
            with db_reopened(postgres_url):
                returned = Agent.select().where(Agent.id.in_(held_when_killed))
                assert all(agent.status == AgentStatus.DISCONNECTED for agent in returned)
            assert "This --join process stopped" in doomed.output()
        return list(await asyncio.gather(*runs))

    reports = asyncio.run(main())
    assert len(held_when_killed) >= 3
    assert owner.wait(90) == 0, owner.output()
    assert "All 40 units are done" in owner.output()
    acknowledged = [key for report in reports for key in report.acknowledged_keys]
    _check_run(postgres_url, acknowledged, rows)
    db = open_database(postgres_url, Path("/nonexistent"))
    try:
        for agent in Agent.select().where(Agent.id.in_(held_when_killed)):
            # Returned by the owner once the dead process's lease expired, and done by someone else.
            assert agent.status == AgentStatus.DISCONNECTED
            assert Unit.get_by_id(agent.unit_id).status == UnitStatus.COMPLETED
    finally:
        db.close()


def test_stopping_the_owner_stops_the_joined_process_once_its_workers_are_done(
    launches: Callable[..., LaunchProcess], mephisto_init: Callable[..., Path], postgres_url: str
) -> None:
    rows = 30
    task = mephisto_init("static")
    args = _task(task, rows)
    owner = launches(*args)
    owner_link = owner.wait_for_link(60)
    joined = launches(*args, "--join")
    joined_link = joined.wait_for_link(60)
    bots = [*_bots(task, owner_link, "o", 2, think=2.0), *_bots(task, joined_link, "j", 2, think=2.0)]

    async def main() -> list[BotReport]:
        runs = [asyncio.ensure_future(bot.run()) for bot in bots]
        await asyncio.sleep(3)
        await asyncio.to_thread(owner.stop_now)
        assert await asyncio.to_thread(owner.wait, 30) == 0
        # The joined process stops by itself: nothing new to hand out, its workers' units finished or returned.
        assert await asyncio.to_thread(joined.wait, 30) == 0
        return list(await asyncio.gather(*runs))

    reports = asyncio.run(main())
    acknowledged = [key for report in reports for key in report.acknowledged_keys]
    with db_reopened(postgres_url):
        stored = {a.submit_key for a in Agent.select().where(Agent.status == AgentStatus.COMPLETED)}
        assert set(acknowledged) <= stored and len(stored) < rows
        run = TaskRun.get()
        assert not run.is_completed and run.owner is None
        assert list(leases.OperatorLease.select()) == []  # both processes dropped their lease


async def _hello(link: str, worker: str) -> tuple[ClientConnection, dict[str, Any]]:
    """A worker page on `link` (a socket of that process's router) and its answer to hello."""
    ws = await connect("ws" + link.split("?", 1)[0][4:].rstrip("/") + "/ws")
    await ws.send(json.dumps({"type": "hello", "params": {"worker_id": worker}, "token": None, "id": 1}))
    reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert reply.get("type") == "assigned", reply
    return ws, reply


async def _pushed(ws: ClientConnection, timeout: float) -> Any:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


def test_an_attempt_past_its_time_is_timed_out_by_the_process_its_page_is_connected_to(
    launches: Callable[..., LaunchProcess], mephisto_init: Callable[..., Path], postgres_url: str
) -> None:
    task = mephisto_init("static")
    args = [*_task(task, 6), "task.assignment_duration_seconds=2"]
    owner = launches(*args)
    owner_link = owner.wait_for_link(60)
    joined = launches(*args, "--join")
    joined_link = joined.wait_for_link(60)

    async def main() -> None:
        bob, bob_unit = await _hello(owner_link, "bob")
        alice, alice_unit = await _hello(joined_link, "alice")
        # The joined process is frozen past alice's deadline (not past its lease's 10 s): the owner, ticking on,
        # times out its own page's attempt but must leave alice's to the process her page is connected to.
        os.kill(joined.proc.pid, signal.SIGSTOP)
        try:
            assert await _pushed(bob, 10) == {"type": "status", "status": "timed_out"}
            await asyncio.sleep(2.0)  # a few more of the owner's ticks with alice's attempt overdue
            with db_reopened(postgres_url):
                assert Agent.get_by_id(alice_unit["agent_id"]).status == AgentStatus.IN_TASK
                assert Agent.get_by_id(bob_unit["agent_id"]).status == AgentStatus.TIMED_OUT
        finally:
            os.kill(joined.proc.pid, signal.SIGCONT)
        # Back, the joined process times alice's attempt out and tells her page (the owner could not have).
        assert await _pushed(alice, 10) == {"type": "status", "status": "timed_out"}
        with db_reopened(postgres_url):
            assert Agent.get_by_id(alice_unit["agent_id"]).status == AgentStatus.TIMED_OUT
        await alice.close()
        await bob.close()

    asyncio.run(main())
    assert owner.proc.poll() is None and joined.proc.poll() is None, owner.output() + joined.output()
