"""mephisto-task.js in Debian's Chromium, against a real router and the fake operator.

The `page` fixture (mephisto_core.testing.pytest_plugin) skips these tests when /usr/bin/chromium is
missing, and fails them instead when CI=true.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from router_helpers import SECRET, BackgroundLoop, FakeOperator

from mephisto_core.router import RouterServer

pytestmark = pytest.mark.browser

TIMEOUT_MS = 15_000

TASK_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>test task</title></head>
<body><form id="task"><input type="file" id="attachment" multiple></form>
<script src="/mephisto-task.js"></script></body></html>
"""

# Every byte value, then a stretch that is not a repeat of it, so a mangled upload cannot pass.
PAYLOAD = bytes(range(256)) * 64 + bytes((i * 7919) % 251 for i in range(100_000))

READY_OR_REFUSAL = """() => mephisto.ready.then(
    (info) => ({ok: true, info: info}),
    (err) => ({ok: false, reason: err.reason, message: err.message}))"""

SUBMIT_WITH_FILES = """() => mephisto.handleSubmit(
    {answer: "yes", score: 3},
    {attachment: document.getElementById("attachment").files})"""


class LiveTask:
    """A router with a task page, on a background event loop, and maybe a fake operator."""

    def __init__(self, build_dir: Path) -> None:
        self.loop = BackgroundLoop()
        self.server = RouterServer(build_dir, SECRET)
        self.loop.run(self.server.start())
        self.operator: FakeOperator | None = None

    def connect_operator(self, **options: Any) -> FakeOperator:
        operator = FakeOperator(self.server.channel_url, **options)
        self.loop.run(operator.__aenter__())
        self.operator = operator
        return operator

    def wait_for(self, predicate: Any) -> None:
        assert self.operator is not None
        self.loop.run(self.operator.wait_for(predicate), timeout=TIMEOUT_MS / 1000 + 1)

    def close(self) -> None:
        if self.operator is not None:
            self.loop.run(self.operator.__aexit__(None, None, None))
        self.loop.run(self.server.stop())
        self.loop.close()


@pytest.fixture
def task(tmp_path: Path) -> Iterator[LiveTask]:
    build = tmp_path / "build"
    build.mkdir()
    (build / "index.html").write_text(TASK_PAGE)
    live = LiveTask(build)
    yield live
    live.close()


@pytest.fixture
def task_page(page: Any) -> Iterator[Any]:
    """The plugin's Chromium page (skipped without Chromium unless CI=true), failing on uncaught errors."""
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    assert errors == [], f"the page raised: {errors}"


def test_page_gets_init_data_submits_a_file_and_keeps_its_unit_across_reload(task: LiveTask, task_page: Any) -> None:
    operator = task.connect_operator()
    task_page.goto(task.server.url + "?worker_id=alice&assignment=a1")
    ready = task_page.evaluate(READY_OR_REFUSAL)
    assert ready["ok"], ready
    assert ready["info"]["initialTaskData"] == operator.init_data
    assert ready["info"]["agentId"] == "agent-1" and ready["info"]["isPreview"] is False
    assert task_page.evaluate("() => mephisto.initialTaskData") == operator.init_data

    task_page.set_input_files(
        "#attachment",
        files=[
            {"name": "data.bin", "mimeType": "application/octet-stream", "buffer": PAYLOAD},
            {"name": "notes.txt", "mimeType": "text/plain", "buffer": "caf\u00e9\n".encode()},
        ],
    )
    answer = task_page.evaluate(SUBMIT_WITH_FILES)
    assert answer["type"] == "submitted" and answer["next"] == "done"
    assert task_page.evaluate("() => mephisto.alreadySubmitted") is True

    [submit] = operator.messages("submit")
    assert submit["outputs"] == {"answer": "yes", "score": 3}
    assert submit["submit_key"] == answer["submit_key"]
    assert submit["uploads"] == [u.header["upload_id"] for u in operator.uploads]
    # Keys start with the page's time in milliseconds, so the server's unique indexes take them at their end.
    page_now = task_page.evaluate("() => Date.now()")
    for key in [submit["submit_key"], *submit["uploads"]]:
        match = re.fullmatch(r"([0-9a-f]{12})[0-9a-f]{32}", key)
        assert match and page_now - 60_000 < int(match.group(1), 16) <= page_now, key
    assert [(u.header["field"], u.header["name"], u.header["content_type"]) for u in operator.uploads] == [
        ("attachment", "data.bin", "application/octet-stream"),
        ("attachment", "notes.txt", "text/plain"),
    ]
    assert operator.uploads[0].data == PAYLOAD
    assert operator.uploads[1].data == "caf\u00e9\n".encode()

    [first_hello] = operator.messages("hello")
    assert first_hello["params"] == {"worker_id": "alice", "assignment": "a1"}
    assert first_hello["token"] is None

    task_page.reload()
    again = task_page.evaluate(READY_OR_REFUSAL)
    assert again["ok"] and again["info"]["agentId"] == "agent-1"
    task.wait_for(lambda: len(operator.messages("hello")) == 2)
    reload_hello = operator.messages("hello")[1]
    assert reload_hello["token"] is not None and reload_hello["token"].startswith("token-1-")


def test_a_submit_lost_with_the_socket_is_resent_with_the_same_key(task: LiveTask, task_page: Any) -> None:
    operator = task.connect_operator(drop_first_submit=True)
    task_page.goto(task.server.url + "?worker_id=bob")
    assert task_page.evaluate(READY_OR_REFUSAL)["ok"]
    answer = task_page.evaluate("() => mephisto.handleSubmit({answer: 'no'})")
    assert answer["type"] == "submitted"
    submits = operator.messages("submit")
    assert len(submits) == 2
    assert submits[0]["submit_key"] == submits[1]["submit_key"] == answer["submit_key"]
    # The page reconnected with its token and was given the same unit back.
    hellos = operator.messages("hello")
    assert [h["token"] is None for h in hellos] == [True, False]
    assert hellos[1]["token"].startswith("token-1-")


def test_page_waits_for_an_operator_that_connects_late(task: LiveTask, task_page: Any) -> None:
    task_page.goto(task.server.url + "?worker_id=carol")
    # Before any operator is connected, the router answers `unavailable` and the page keeps asking.
    task_page.wait_for_function("() => window.mephisto !== undefined")
    operator = task.connect_operator()
    ready = task_page.evaluate(READY_OR_REFUSAL)
    assert ready["ok"] and ready["info"]["initialTaskData"] == operator.init_data


def test_refused_worker_sees_the_reason_and_a_message_page(task: LiveTask, task_page: Any) -> None:
    task.connect_operator(refuse_reason="blocked")
    task_page.goto(task.server.url + "?worker_id=mallory")
    refusal = task_page.evaluate(READY_OR_REFUSAL)
    assert refusal == {
        "ok": False,
        "reason": "blocked",
        "message": "You have already done all the work you may do here.",
    }
    task_page.evaluate("() => mephisto.showMessage('Sorry', '<b>not</b> html')")
    assert task_page.inner_text("h1") == "Sorry"
    assert task_page.inner_text("main p") == "<b>not</b> html"
    assert task_page.query_selector("#task") is None


def test_live_messages_and_status_pushes_reach_the_page_callbacks(task: LiveTask, task_page: Any) -> None:
    operator = task.connect_operator()
    task_page.goto(task.server.url + "?worker_id=dave")
    assert task_page.evaluate(READY_OR_REFUSAL)["ok"]
    task_page.evaluate(
        """() => {
            window.received = {live: [], status: []};
            mephisto.onMessage((data) => window.received.live.push(data));
            mephisto.onStatus((status) => window.received.status.push(status));
            mephisto.sendMessage({move: "e4"});
        }"""
    )
    task_page.wait_for_function("() => window.received.live.length === 1")
    conn = operator.events("open")[-1]["conn"]
    task.loop.run(operator.send({"conn": conn, "msg": {"type": "status", "status": "timed_out"}}))
    task_page.wait_for_function("() => window.received.status.length === 1")
    assert task_page.evaluate("() => window.received") == {
        "live": [{"echo": {"move": "e4"}}],
        "status": ["timed_out"],
    }
    assert operator.messages("live") == [{"type": "live", "data": {"move": "e4"}}]


def test_the_browser_gets_the_page_and_its_script_over_one_connection(
    tmp_path: Path, task_page: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Chromium asks to keep its connections alive: the script (and the page's other files) need no new
    # connection, nor over TLS a new handshake.
    from mephisto_core.router.http_server import WsConnection

    connections: list[WsConnection] = []
    made = WsConnection.connection_made

    def recorded(self: WsConnection, transport: Any) -> None:
        connections.append(self)
        made(self, transport)

    monkeypatch.setattr(WsConnection, "connection_made", recorded)
    build = tmp_path / "build"
    build.mkdir()
    (build / "index.html").write_text(TASK_PAGE.replace("</title>", '</title><link rel="stylesheet" href="/s.css">'))
    (build / "s.css").write_text("body { color: #222; }\n")
    live = LiveTask(build)
    try:
        live.connect_operator()
        task_page.goto(live.server.url + "?worker_id=carol")
        assert task_page.evaluate(READY_OR_REFUSAL)["ok"]
        served = sorted(conn._served for conn in connections)
    finally:
        live.close()
    # The page, its stylesheet and its script (and the favicon Chromium asks for) over fewer connections than
    # requests: at least one connection answered two of them.
    assert served[-1] >= 2, served


def test_a_page_closed_or_left_by_the_worker_is_reported_as_left(task: LiveTask, task_page: Any) -> None:
    # The operator waits at a run's end for a page whose socket was lost with its last answer; a worker who closes
    # the tab or goes elsewhere does not come back, and Chromium's close frame lets the router say so.
    operator = task.connect_operator()
    task_page.goto(task.server.url + "?worker_id=dana")
    assert task_page.evaluate(READY_OR_REFUSAL)["ok"]
    task_page.goto("about:blank")
    task.wait_for(lambda: len(operator.events("close")) == 1)
    other = task_page.context.new_page()
    other.goto(task.server.url + "?worker_id=erin")
    assert other.evaluate(READY_OR_REFUSAL)["ok"]
    other.close()
    task.wait_for(lambda: len(operator.events("close")) == 2)
    assert [event.get("left") for event in operator.events("close")] == [True, True]


def test_a_page_that_gives_up_on_a_silent_socket_is_not_reported_as_left(task: LiveTask, task_page: Any) -> None:
    # When its heartbeats go unanswered the page closes the socket and reconnects: its close frame may still reach
    # the router, and must not read as the worker leaving (the run's end would not wait for its last answer).
    operator = task.connect_operator()
    routed: list[Any] = []

    def drop_heartbeat_acks(route: Any) -> None:
        server = route.connect_to_server()
        routed.append(route)
        server.on_message(lambda message: None if '"heartbeat_ack"' in str(message) else route.send(message))

    task_page.route_web_socket(re.compile(r".*/ws$"), drop_heartbeat_acks)
    task_page.clock.install()
    task_page.goto(task.server.url + "?worker_id=dana")
    assert task_page.evaluate(READY_OR_REFUSAL)["ok"]
    task_page.clock.run_for(21_000)  # heartbeats at 5, 10 and 15 s go unanswered; at 20 s the page gives up
    task.wait_for(lambda: len(operator.events("close")) == 1)
    assert operator.events("close")[0].get("left") is None
    task_page.clock.run_for(2_000)  # the reconnect backoff: the page comes back and says hello again
    # Waited for inside Playwright calls: the route handler of the new socket runs only then, and until it has
    # run, the page's messages on that socket wait.
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while len(operator.messages("hello")) < 2:
        assert time.monotonic() < deadline, f"the page did not come back: {operator.envelopes}"
        task_page.wait_for_timeout(50)
    first_hello, again = operator.messages("hello")
    assert first_hello["token"] is None and again["token"] is not None  # back for the unit it holds
    assert len(operator.events("open")) == len(routed) == 2


def test_chromium_keeps_the_versioned_client_library_and_uses_it_again_without_asking(
    task: LiveTask, task_page: Any
) -> None:
    task.connect_operator()
    with task_page.expect_response(lambda response: "/mephisto-task.js" in response.url) as got:
        task_page.goto(task.server.url + "?worker_id=alice")
    assert task_page.evaluate(READY_OR_REFUSAL)["ok"]
    url, request, answer = got.value.url, got.value.request.all_headers(), got.value.all_headers()
    assert re.search(r"/mephisto-task\.js\?v=[0-9a-f]{24}$", url), url  # the page names it by its version
    assert "gzip" in request["accept-encoding"] and answer["content-encoding"] == "gzip"
    assert answer["cache-control"] == "public, max-age=31536000, immutable"

    task_page.reload()
    assert task_page.evaluate(READY_OR_REFUSAL)["ok"]  # the kept copy runs as the first did
    # Taken from the browser's cache: no bytes on the wire (a revalidation would count its headers).
    assert task_page.evaluate(f"() => performance.getEntriesByName({url!r})[0].transferSize") == 0


# Records who made each WebSocket: the src of the script that was running ("" for the page's own lines), and the
# sockets themselves.
MAKERS = """window.__makers = [];
window.__sockets = [];
const Original = window.WebSocket;
window.WebSocket = class extends Original {
  constructor(...args) {
    super(...args);
    window.__makers.push(document.currentScript ? document.currentScript.src : null);
    window.__sockets.push(this);
  }
};"""


def test_the_page_opens_its_socket_before_the_library_runs_and_the_library_takes_it_over(
    task: LiveTask, task_page: Any
) -> None:
    operator = task.connect_operator()
    task_page.add_init_script(MAKERS)
    task_page.goto(task.server.url + "?worker_id=erin")
    assert task_page.evaluate(READY_OR_REFUSAL)["ok"]
    assert task_page.evaluate("() => window.__makers") == [""]  # one socket, opened by the page's inline line
    assert task_page.evaluate("() => window.__mephistoEarlySocket") is None  # taken over
    assert len(operator.events("open")) == 1 and len(operator.messages("hello")) == 1
    answer = task_page.evaluate("() => mephisto.handleSubmit({answer: 'early'})")
    assert answer["type"] == "submitted"


def test_an_early_socket_to_another_address_is_closed_and_the_library_opens_its_own(
    task: LiveTask, task_page: Any
) -> None:
    operator = task.connect_operator()
    # The page says where the library should connect (MEPHISTO_SOCKET_URL): the same router, by another name.
    other = task.server.url.replace("127.0.0.1", "localhost").split("?")[0].rstrip("/") + "/ws"
    task_page.add_init_script(f"{MAKERS}\nwindow.MEPHISTO_SOCKET_URL = {other.replace('http', 'ws', 1)!r};")
    task_page.goto(task.server.url + "?worker_id=frank")
    assert task_page.evaluate(READY_OR_REFUSAL)["ok"]
    assert len(task_page.evaluate("() => window.__makers")) == 2
    # The early one is closed unused: the library may close it before or after its handshake, so the router may or
    # may not have seen it open; either way it ends closed, and only the library's socket says hello.
    task_page.wait_for_function("() => window.__sockets[0].readyState === WebSocket.CLOSED")
    task.wait_for(lambda: len(operator.events("open")) - len(operator.events("close")) == 1)
    assert len(operator.messages("hello")) == 1
