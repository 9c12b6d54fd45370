"""The last unit's answer lost on its way to the page: the run waits for the page to come back for it.

Pages recover lost answers by resending (docs/protocol.md), which takes seconds. A run that ended at the first
tick after its last unit took its router down before that, and the worker who did the last unit was never told
it was stored. These tests lose that answer on purpose, once in the router channel and once with the page's
socket, and check that the page gets it and the run then ends by itself, soon.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from reliability_architect import ReliabilityArchitect
from reliability_helpers import (
    OperatorThread,
    ProtocolPage,
    assert_acknowledged_stored_once,
    valid_answer,
    wait_until,
    write_static_task,
)
from websockets.sync.client import connect as ws_connect

from mephisto_core.data_model import Database, TaskRun, Unit, UnitStatus
from mephisto_core.operations.run import late_answers

ARCHITECT = {"type": "reliability_local"}
# Long enough for the run to have ended several ticks (0.5 s) before the page comes back, had it not waited.
PAGE_AWAY_SECONDS = 2.0


def _unit_completed() -> bool:
    return bool(Unit.get().status == UnitStatus.COMPLETED)


def test_last_answer_the_channel_lost_reaches_its_page_before_the_run_ends(
    tmp_path: Path, sqlite_database: Database, start_operator: Callable[..., OperatorThread]
) -> None:
    operator = start_operator(write_static_task(tmp_path / "task", 1, ARCHITECT), sqlite_database)
    proxy = ReliabilityArchitect.latest().proxy
    assert proxy is not None
    page = ProtocolPage(
        operator.worker_url, "alice", resend_after=PAGE_AWAY_SECONDS, server_alive=lambda: operator.running
    )
    assigned = page.hello()
    assert assigned["type"] == "assigned"
    # The submission is stored, its answer thrown away on the way to the router, and then the channel breaks.
    operator.call_soon(lambda: setattr(proxy, "swallow_downstream", True))

    def cut_and_heal() -> None:
        proxy.swallow_downstream = False
        proxy.cut()

    def cut_once_stored() -> None:
        wait_until(_unit_completed, 10, "the submission being stored")
        operator.call_soon(cut_and_heal)

    cutter = threading.Thread(target=cut_once_stored)
    cutter.start()
    ack = page.submit(valid_answer(assigned["init_data"]))  # resent after PAGE_AWAY_SECONDS
    cutter.join()
    assert ack["type"] == "submitted"
    # Resent: the first answer was thrown away, or lost in the cut before the proxy read it (on a loaded machine).
    assert page.resends >= 1
    # The page has its answer, and the router had it first: the run ends now, whether or not the page goes.
    started = time.monotonic()
    operator.wait(15)
    assert time.monotonic() - started < 5, "the run went on waiting after the page had its answer"
    assert TaskRun.get().is_completed
    assert assert_acknowledged_stored_once(page.acknowledged) == page.acknowledged


def test_page_whose_socket_closed_with_the_last_answer_gets_it_when_it_reconnects(
    tmp_path: Path, sqlite_database: Database, start_operator: Callable[..., OperatorThread]
) -> None:
    operator = start_operator(write_static_task(tmp_path / "task", 1, ARCHITECT), sqlite_database)
    ws_url = "ws" + operator.worker_url.rstrip("/")[4:] + "/ws"
    with ws_connect(ws_url) as ws:
        ws.send(json.dumps({"type": "hello", "id": 1, "params": {"worker_id": "alice"}, "token": None}))
        assigned = json.loads(ws.recv(timeout=10))
        assert assigned["type"] == "assigned"
        outputs = valid_answer(assigned["init_data"])
        submit = {"type": "submit", "id": 2, "submit_key": "last-unit-key", "outputs": outputs, "uploads": []}
        ws.send(json.dumps(submit))
        # The connection drops right after the submit (no close frame, as when the network goes): the answer
        # goes to a page that is no longer there.
        ws.socket.shutdown(socket.SHUT_RDWR)
    wait_until(_unit_completed, 10, "the submission being stored")
    time.sleep(PAGE_AWAY_SECONDS)  # the page's reconnect backoff
    assert operator.running, "the run ended while the page that did its last unit was reconnecting"

    page = ProtocolPage(operator.worker_url, "alice", server_alive=lambda: operator.running)
    page.token = assigned["token"]
    again = page.hello()
    assert again["type"] == "assigned" and again["submitted"], again
    ack = page.submit(outputs, key="last-unit-key")
    assert ack["type"] == "submitted" and page.acknowledged == ["last-unit-key"]
    started = time.monotonic()
    operator.wait(15)
    assert time.monotonic() - started < 5, "the run went on waiting after the page came back"
    assert TaskRun.get().is_completed
    assert assert_acknowledged_stored_once(["last-unit-key"]) == ["last-unit-key"]


def test_run_ends_at_once_when_the_page_closed_its_socket_itself_after_the_last_answer(
    tmp_path: Path, sqlite_database: Database, start_operator: Callable[..., OperatorThread]
) -> None:
    operator = start_operator(write_static_task(tmp_path / "task", 1, ARCHITECT), sqlite_database)
    page = ProtocolPage(operator.worker_url, "alice", server_alive=lambda: operator.running)
    assigned = page.hello()
    assert page.submit(valid_answer(assigned["init_data"]))["type"] == "submitted"
    page.close()  # the worker closes the tab: the page sends a close frame, so it will not come back
    started = time.monotonic()
    operator.wait(30)
    assert time.monotonic() - started < late_answers.RECONNECT_SECONDS / 2, "the run waited for a page that left"
    assert TaskRun.get().is_completed
