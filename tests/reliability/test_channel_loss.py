"""Losing the router <-> operator channel mid-run: pages retry, nothing acknowledged is lost, nothing stored twice.

The operator runs in this process; its channel goes through a TCP proxy (`reliability_local` architect) that the
test cuts, refuses, resets and makes swallow traffic, as a flaky network between a cloud router and the
operator would.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from reliability_architect import ChannelProxy, ReliabilityArchitect
from reliability_helpers import (
    OperatorThread,
    PageGaveUp,
    ProtocolPage,
    assert_acknowledged_stored_once,
    assert_files_inside,
    valid_answer,
    wait_until,
    write_static_task,
)
from websockets.asyncio.server import ServerConnection, serve

from mephisto_core.abstractions import SimulatedAnswer
from mephisto_core.data_model import Agent, AgentStatus, Database, TaskRun, Unit, UnitStatus
from mephisto_core.operations.run import simulate
from mephisto_core.operations.run.simulate import SimulatedWorker
from mephisto_core.settings import Settings

ARCHITECT = {"type": "reliability_local"}


def _proxy() -> ChannelProxy:
    architect = ReliabilityArchitect.latest()
    assert architect.proxy is not None
    return architect.proxy


def _work_until_run_over(page: ProtocolPage) -> int:
    """Do units (a file, then the answer) until the run is over; return how many were acknowledged."""
    while True:
        try:
            reply = page.hello()
        except PageGaveUp:
            # The last unit was done while this page waited for one: the run ended and its router with it.
            assert not page.server_alive(), "a page gave up while the run still went on"
            return len(page.acknowledged)
        if reply["type"] == "refused":
            if reply["reason"] == "no_units":  # others hold the rest; one may come back after a grace period
                time.sleep(0.2)
                continue
            assert reply["reason"] == "run_over", reply
            return len(page.acknowledged)
        assert reply["type"] == "assigned", reply
        if reply["submitted"]:
            continue
        photo = page.upload("photo", "photo.txt", "text/plain", page.worker_name.encode())
        ack = page.submit(valid_answer(reply["init_data"]), [photo])
        assert ack["type"] == "submitted", ack


def _acknowledged_at_least(pages: list[ProtocolPage], count: int) -> bool:
    return sum(len(page.acknowledged) for page in pages) >= count


def _break_channel_repeatedly(
    operator: OperatorThread, proxy: ChannelProxy, pages: list[ProtocolPage], every: int, times: int
) -> int:
    """Break the channel each time `every` more units are acknowledged; return how often it was broken.

    The 1st, 3rd and 5th break cut it with requests in flight: for 0.3 s before the cut the operator's answers are
    thrown away, so every page is waiting for one when it comes (a bare cut found nothing in flight now and then,
    and the test then exercised no loss at all). The others also keep the router unreachable for 0.4 s, so pages
    get `unavailable` meanwhile.
    """

    def cut_and_heal() -> None:
        proxy.cut()
        proxy.swallow_downstream = False

    breaks = 0
    while breaks < times:
        threshold = (breaks + 1) * every
        wait_until(partial(_acknowledged_at_least, pages, threshold), 30, f"{threshold} acknowledged")
        if breaks % 2:
            operator.call(proxy.pause())
            time.sleep(0.4)
            operator.call(proxy.resume())
        else:
            operator.call_soon(lambda: setattr(proxy, "swallow_downstream", True))
            time.sleep(0.3)
            operator.call_soon(cut_and_heal)
        breaks += 1
        wait_until(lambda: proxy.open_connections == 1, 10, "the operator reconnecting its channel")
    return breaks


def test_submits_acknowledged_across_channel_cuts_are_stored_exactly_once(
    tmp_path: Path,
    sqlite_database: Database,
    start_operator: Callable[..., OperatorThread],
    mephisto_settings: Settings,
) -> None:
    # The last break comes at 30 acknowledged units; the 30 after it keep the run going while the breaker, which a
    # loaded machine may leave unscheduled for a while, makes that break and waits for the reconnect.
    rows, every = 60, 5
    operator = start_operator(write_static_task(tmp_path / "task", rows, ARCHITECT), sqlite_database)
    proxy = _proxy()
    pages = [
        ProtocolPage(operator.worker_url, f"page-{i}", deadline=40, server_alive=lambda: operator.running)
        for i in range(3)
    ]
    with ThreadPoolExecutor(len(pages) + 1) as pool:
        breaker = pool.submit(_break_channel_repeatedly, operator, proxy, pages, every=every, times=6)
        working = [pool.submit(_work_until_run_over, page) for page in pages]
        counts = [future.result(60) for future in working]
        assert breaker.result(15) == 6
    operator.wait(30)

    acknowledged = [key for page in pages for key in page.acknowledged]
    assert sum(counts) == len(acknowledged) == rows
    assert proxy.swallowed_bytes > 0, "no answer was in flight at a cut"
    assert sum(page.resends for page in pages) > 0, "no request was ever lost to a break"
    stored = assert_acknowledged_stored_once(acknowledged)
    assert sorted(stored) == sorted(acknowledged)
    assert Unit.select().where(Unit.status == UnitStatus.COMPLETED).count() == rows
    assert TaskRun.get().is_completed
    assert_files_inside(mephisto_settings.data_dir)
    for agent in Agent.select().where(Agent.status == AgentStatus.COMPLETED.value):
        assert [f.name for f in agent.files] == ["photo.txt"], "each unit keeps exactly the file sent with it"


def test_submit_swallowed_by_a_dying_channel_is_stored_once_when_resent(
    tmp_path: Path, sqlite_database: Database, start_operator: Callable[..., OperatorThread]
) -> None:
    operator = start_operator(write_static_task(tmp_path / "task", 2, ARCHITECT), sqlite_database)
    proxy = _proxy()
    page = ProtocolPage(operator.worker_url, "alice", resend_after=1.0)
    assigned = page.hello()
    assert assigned["type"] == "assigned"
    # The router relays the submit, but the channel eats it and then breaks: the operator never sees it.
    operator.call_soon(lambda: setattr(proxy, "swallow_upstream", True))

    def cut_and_heal() -> None:
        proxy.cut()
        proxy.swallow_upstream = False

    assert operator.loop is not None
    cutter = threading.Timer(0.5, operator.loop.call_soon_threadsafe, (cut_and_heal,))
    cutter.start()
    ack = page.submit(valid_answer(assigned["init_data"]))
    cutter.join()
    assert ack["type"] == "submitted"
    assert proxy.swallowed_bytes > 0 and page.resends >= 1
    assert assert_acknowledged_stored_once(page.acknowledged) == page.acknowledged


def test_operator_reconnects_after_its_channel_handshake_is_reset(
    tmp_path: Path, sqlite_database: Database, start_operator: Callable[..., OperatorThread]
) -> None:
    operator = start_operator(write_static_task(tmp_path / "task", 1, ARCHITECT), sqlite_database)
    proxy = _proxy()
    accepted = proxy.connections_accepted

    def reset_from_now_on() -> None:
        proxy.reset_handshakes = True
        proxy.cut()

    # A router restarting behind a load balancer: the TCP connect succeeds, the handshake is reset.
    operator.call_soon(reset_from_now_on)
    wait_until(lambda: proxy.connections_accepted > accepted, 10, "the operator trying to reconnect")
    operator.call_soon(lambda: setattr(proxy, "reset_handshakes", False))
    # The operator's reconnect backoff is still short after one failure.
    wait_until(lambda: proxy.open_connections == 1, 3, "the operator reconnecting its channel")
    assert ProtocolPage(operator.worker_url, "alice").hello()["type"] == "assigned"


def test_page_that_leaves_during_a_channel_outage_loses_its_unit_after_the_grace_period(
    tmp_path: Path, sqlite_database: Database, start_operator: Callable[..., OperatorThread]
) -> None:
    operator = start_operator(write_static_task(tmp_path / "task", 1, ARCHITECT), sqlite_database)
    proxy = _proxy()
    page = ProtocolPage(operator.worker_url, "alice")
    assert page.hello()["type"] == "assigned"
    operator.call(proxy.pause())
    page.close()  # the router sees the close, but has no channel to tell the operator
    time.sleep(0.3)
    operator.call(proxy.resume())
    wait_until(lambda: proxy.open_connections == 1, 10, "the operator reconnecting its channel")
    # disconnect_grace_seconds is 1 and the operator ticks every 0.5 s.
    wait_until(lambda: Unit.get().status == UnitStatus.LAUNCHED, 3, "the unit being offered again")
    assert Agent.get().status == AgentStatus.DISCONNECTED


# ---- the simulated worker's side of the retry contract -----------------------------------------------------


class ScriptedRouter:
    """A WebSocket peer playing router and operator for one `SimulatedWorker`, answering from a script.

    It records every submit, answers the first with `error unavailable` (the operator is away) and the next one
    with `submitted`, then closes with 1001, which tells the bot the run is over.
    """

    def __init__(self, first_submit_unanswered: bool = False) -> None:
        self.submits: list[dict[str, Any]] = []
        self.hellos = 0
        #: leave the first submit without any answer (lost with a router channel) instead of `unavailable`
        self.first_submit_unanswered = first_submit_unanswered

    async def handle(self, socket: ServerConnection) -> None:
        async for frame in socket:
            message = json.loads(frame)
            request_id = message["id"]
            if message["type"] == "hello":
                self.hellos += 1
                assigned = {"type": "assigned", "id": request_id, "agent_id": 1, "unit_id": 1, "token": "t" * 20}
                await socket.send(json.dumps({**assigned, "is_onboarding": False, "init_data": {}, "submitted": False}))
            elif message["type"] == "submit":
                self.submits.append(message)
                if len(self.submits) == 1:
                    if self.first_submit_unanswered:
                        continue
                    error = {"type": "error", "id": request_id, "code": "unavailable", "message": "away"}
                    await socket.send(json.dumps(error))
                    continue
                key = message["submit_key"]
                await socket.send(json.dumps({"type": "submitted", "id": request_id, "submit_key": key}))
                await socket.close(1001, "run over")


def _run_scripted_bot(script: ScriptedRouter) -> SimulatedWorker:
    bot_ran: list[SimulatedWorker] = []

    async def scenario() -> None:
        async with serve(script.handle, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            bot = SimulatedWorker(
                f"http://127.0.0.1:{port}/",
                "bot",
                lambda _init, _rng: SimulatedAnswer({"answer": "yes"}),
                fetch_page=False,
                max_units=1,
            )
            bot_ran.append(bot)
            await asyncio.wait_for(bot.run(), 20)

    asyncio.run(scenario())
    return bot_ran[0]


def test_simulated_worker_resends_an_unanswered_submit_as_it_is_on_the_same_socket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(simulate, "RESEND_AFTER_SECONDS", 0.3)  # mephisto-task.js: 30 s
    script = ScriptedRouter(first_submit_unanswered=True)
    bot = _run_scripted_bot(script)
    assert bot.report.submitted == 1 and bot.report.errors == 0 and bot.report.resends == 1
    assert len(script.submits) == 2 and script.submits[0] == script.submits[1]  # same id, same key
    assert script.hellos == 1, "resent on the socket it was sent on, not after a reconnect"


def test_simulated_worker_resends_the_same_submit_key_after_unavailable() -> None:
    script = ScriptedRouter()
    assert _run_scripted_bot(script).report.submitted == 1
    assert len(script.submits) == 2
    assert script.submits[1]["submit_key"] == script.submits[0]["submit_key"]
