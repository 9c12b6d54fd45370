"""A page that lost the answer to the run's last submission and comes back after the run ended, to a standalone
router (`mephisto router serve`, its own process, over TLS): it is told its submission was stored, and its resent
submission is acknowledged, also after the router restarts, instead of only that the task ended. Other pages are
told the task ended. Once over the protocol, once in Chromium whose network goes as it submits.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import SUBMITTED
from standalone_e2e_helpers import (
    ChannelCutter,
    OperatorThread,
    StandaloneTestPlugin,
    standalone_architect,
    valid_answer,
    write_task,
)
from tls_client_socket import connect_wss
from websockets.sync.client import ClientConnection

from mephisto_core.data_model import Agent, Database, TaskRun
from mephisto_core.operations.run import late_answers
from mephisto_core.settings import Settings
from mephisto_core.task_config import load_task_config
from mephisto_core.testing.standalone_router import (
    SelfSignedCertificate,
    StandaloneRouterProcess,
    make_self_signed_certificate,
)

TASK_HTML = """<p>Say something about ${topic}.</p>
<input type="hidden" name="topic" value="${topic}">
<textarea name="answer" required></textarea>
"""


def _task(tmp_path: Path, router: StandaloneRouterProcess, ca_file: Path) -> Path:
    return write_task(
        tmp_path / "task", "late-answer", standalone_architect(router, ca_file), TASK_HTML, ["the last topic"]
    )


def _wait_until_stored(key: str) -> None:
    deadline = time.monotonic() + 10
    while not Agent.select().where(Agent.submit_key == key).exists():
        assert time.monotonic() < deadline, f"the submission {key!r} was not stored within 10 s"
        time.sleep(0.02)


def _ask(ws: ClientConnection, message: dict[str, Any]) -> dict[str, Any]:
    ws.send(json.dumps(message))
    while True:
        reply: dict[str, Any] = json.loads(ws.recv(timeout=10))
        if reply.get("id") == message["id"]:
            return reply


@pytest.fixture
def served(
    tmp_path: Path, mephisto_register_plugin: Callable[[object], None], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[StandaloneRouterProcess, SelfSignedCertificate]]:
    """A standalone router over TLS and its certificate, for tasks using the test architect."""
    # The run waits for a page that lost its last answer for 1 s instead of 16: these pages stay away far longer.
    monkeypatch.setattr(late_answers, "RECONNECT_SECONDS", 1.0)
    mephisto_register_plugin(StandaloneTestPlugin())
    cert = make_self_signed_certificate(tmp_path / "tls")
    router = StandaloneRouterProcess(tmp_path / "router-data", tmp_path / "router.log", certificate=cert)
    router.start()
    try:
        yield router, cert
    finally:
        router.close()


def test_a_page_back_after_the_run_ended_is_told_its_last_submission_was_stored(
    tmp_path: Path,
    mephisto_settings: Settings,
    sqlite_database: Database,
    served: tuple[StandaloneRouterProcess, SelfSignedCertificate],
) -> None:
    router, cert = served
    operator: OperatorThread | None = None
    tls = ssl.create_default_context(cafile=str(cert.cert))
    ws_url = "wss://" + router.url.split("://", 1)[1].rstrip("/") + "/ws"
    try:
        config = load_task_config(_task(tmp_path, router, cert.cert), [])
        operator = OperatorThread(mephisto_settings, sqlite_database, config).start()

        with connect_wss(ws_url, tls, open_timeout=30) as ws:
            assigned = _ask(ws, {"type": "hello", "id": 1, "params": {"worker_id": "alice"}, "token": None})
            assert assigned["type"] == "assigned", assigned
            submit = {
                "type": "submit",
                "id": 2,
                "submit_key": "alice-last-key",
                "outputs": valid_answer(assigned),
                "uploads": [],
            }
            ws.send(json.dumps(submit))
            # The network goes once the submission is stored, before the page reads the answer (no close frame).
            # Cut sooner, the submission itself may be lost with the connection's reset (the page resends it then).
            _wait_until_stored("alice-last-key")
            ws.socket.shutdown(socket.SHUT_RDWR)
        operator.wait(30)  # the only unit is stored: the run ends once its short wait for the page is over
        assert TaskRun.get().is_completed
        assert Agent.get().submit_key == "alice-last-key"

        def come_back() -> tuple[dict[str, Any], dict[str, Any]]:
            with connect_wss(ws_url, tls, open_timeout=30) as ws:
                hello = {"type": "hello", "id": 7, "params": {"worker_id": "alice"}, "token": assigned["token"]}
                again = _ask(ws, hello)
                return again, _ask(ws, {**submit, "id": 8})  # the page resends what was not answered

        for when in ("after the run ended", "after a restart of the router"):
            again, acknowledged = come_back()
            assert again["type"] == "assigned" and again["submitted"] is True, (when, again)
            assert (again["id"], again["unit_id"], again["token"]) == (7, assigned["unit_id"], assigned["token"])
            assert again["init_data"] == assigned["init_data"] and again["seconds_left"] is None
            assert acknowledged["type"] == "submitted", (when, acknowledged)
            assert (acknowledged["id"], acknowledged["submit_key"]) == (8, "alice-last-key")
            router.restart()

        with connect_wss(ws_url, tls, open_timeout=30) as ws:  # any other page is told the task ended
            other = _ask(ws, {"type": "hello", "id": 1, "params": {"worker_id": "bob"}, "token": None})
            assert (other["type"], other["reason"]) == ("refused", "run_over")
    finally:
        if operator is not None and operator.running:
            operator.stop_now()
    assert Agent.select().count() == 1  # stored once


def test_chromium_back_after_the_run_ended_says_its_answer_was_submitted(
    tmp_path: Path,
    mephisto_settings: Settings,
    sqlite_database: Database,
    served: tuple[StandaloneRouterProcess, SelfSignedCertificate],
    browser: Any,
) -> None:
    router, cert = served
    network = ChannelCutter(router.port)  # between the browser and the router: the worker's network
    operator: OperatorThread | None = None
    context = browser.new_context(ignore_https_errors=True)
    try:
        config = load_task_config(_task(tmp_path, router, cert.cert), [])
        operator = OperatorThread(mephisto_settings, sqlite_database, config).start()
        tab = context.new_page()
        tab.goto(f"https://127.0.0.1:{network.port}/?worker_id=carol")
        tab.locator("textarea[name=answer]").fill("typed just before the network went")
        network.swallow_downstream = True  # the answer to the submission never reaches the browser
        tab.get_by_role("button", name="Submit").click()
        deadline = time.monotonic() + 10
        while not Agent.select().where(Agent.submit_key.is_null(False)).exists():
            assert time.monotonic() < deadline, "the submission was not stored"
            time.sleep(0.02)
        network.hold()  # the connection dies and the browser cannot reconnect
        operator.wait(30)
        assert TaskRun.get().is_completed
        network.swallow_downstream = False
        network.release()
        # Back on the network after the run ended: the router answers the page as the operator would have.
        tab.get_by_text(SUBMITTED).wait_for(timeout=30_000)
        assert Agent.get().outputs["answer"] == "typed just before the network went"
    finally:
        context.close()
        if operator is not None and operator.running:
            operator.stop_now()
        network.close()
    assert Agent.select().count() == 1
