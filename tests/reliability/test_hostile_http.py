"""Hostile HTTP against a real router and operator: traversal towards the data dir, header and query abuse,
clients that never finish their request. After each, the server still serves a normal simulated worker.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from reliability_helpers import OperatorThread, get, raw_http, vm_rss_kib, write_static_task

from mephisto_core.data_model import Database
from mephisto_core.operations.run.simulate import SimulatedWorker
from mephisto_core.settings import Settings

SECRET_MARKER = b"reliability-secret-do-not-serve"


@pytest.fixture
def server(
    tmp_path: Path,
    sqlite_database: Database,
    start_operator: Callable[..., OperatorThread],
    mephisto_settings: Settings,
) -> OperatorThread:
    """A running task; the data dir and the task folder hold files no worker may ever read."""
    task = write_static_task(tmp_path / "task", 20, {"type": "reliability_local"})
    (task.parent / "secret.txt").write_bytes(SECRET_MARKER)
    (mephisto_settings.data_dir / "secret.txt").write_bytes(SECRET_MARKER)
    return start_operator(task, sqlite_database)


def _port(server: OperatorThread) -> int:
    return int(server.worker_url.rstrip("/").rsplit(":", 1)[1])


def assert_serves_a_simulated_worker(server: OperatorThread) -> None:
    """A normal simulated worker still gets a unit and has its submission acknowledged."""
    assert server.operator is not None and server.operator.ctx is not None
    bot = SimulatedWorker(
        server.worker_url, "normal-worker", server.operator.ctx.blueprint.simulate_answer, max_units=1
    )
    report = asyncio.run(asyncio.wait_for(bot.run(), 20))
    assert report.submitted == 1 and len(report.acknowledged_keys) == 1, report


# The build dir is <data dir>/runs/<run>/build: these try to climb to the database and the secret files.
TRAVERSALS = [
    "/../../../mephisto.db",
    "/../../../secret.txt",
    "/%2e%2e/%2e%2e/%2e%2e/mephisto.db",
    "/%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret.txt",
    "/%252e%252e/%252e%252e/%252e%252e/secret.txt",
    "/..%c0%af..%c0%af..%c0%afsecret.txt",
    "/%c0%ae%c0%ae/%c0%ae%c0%ae/%c0%ae%c0%ae/secret.txt",
    "/..%5c..%5c..%5csecret.txt",
    "/.%2e/.%2e/.%2e/mephisto.db",
    "/%2e%2e%00/secret.txt",
    "/mephisto-task.js/../../../../secret.txt",
    "/_health/../../../../secret.txt",
    "http://127.0.0.1/../../../secret.txt",
    "/%2f%2f..%2f..%2f..%2fsecret.txt",
    "/" + "../" * 40 + "etc/passwd",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_traversal_towards_the_data_dir_is_refused(server: OperatorThread, target: str) -> None:
    status, answer = get(_port(server), target)
    assert status in (400, 404), answer[:200]
    assert SECRET_MARKER not in answer and b"SQLite format" not in answer and b"root:" not in answer


def test_header_and_query_string_abuse_is_refused_and_the_server_stays_up(server: OperatorThread) -> None:
    port = _port(server)
    rss_before = vm_rss_kib()
    abuse = {
        "huge header": get(port, "/", b"X-Big: " + b"a" * 200_000 + b"\r\n"),
        "many headers": get(port, "/", b"".join(b"X-%d: v\r\n" % i for i in range(2000))),
        "invalid UTF-8 in the path": get(port, b"/\xff\xfe\xc0\xaf"),
        "huge query string": get(port, "/?" + "worker_id=a&" * 100_000),
        "NUL in the request line": get(port, b"/\x00?x=\x00"),
        "no HTTP version": raw_http(port, b"GET /\r\n\r\n"),
        "garbage": raw_http(port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)) * 4),
        "wrong channel secret": get(port, "/_channel", b"Authorization: Bearer guess\r\n"),
        "two channel secrets": get(port, "/_channel", b"Authorization: Bearer a\r\nAuthorization: Bearer b\r\n"),
    }
    for what, (status, answer) in abuse.items():
        # A refusal is a 4xx answer, or the connection closed without one; never a page or a 5xx.
        assert status is None or 400 <= status < 500, f"{what}: {answer[:200]!r}"
    assert abuse["wrong channel secret"][0] == 401
    # Header values are opaque bytes to the router: an undecodable one in a header it ignores is harmless.
    status, _ = get(port, "/?worker_id=alice", b"X-Name: \xff\xfe\xc0\xaf\r\nCookie: \x80\r\n")
    assert status == 200
    assert vm_rss_kib() - rss_before < 50_000
    assert_serves_a_simulated_worker(server)


@pytest.fixture
def idle_sockets() -> Iterator[ExitStack]:
    """Sockets the test opens and leaves idle; all closed after the test."""
    with ExitStack() as stack:
        yield stack


def test_many_clients_that_never_finish_their_request_do_not_block_a_worker(
    server: OperatorThread, idle_sockets: ExitStack
) -> None:
    port = _port(server)
    rss_before = vm_rss_kib()
    for i in range(200):
        sock = idle_sockets.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
        # Half send a request line and stop, half a WebSocket upgrade with no blank line after it.
        if i % 2:
            sock.sendall(b"GET /?worker_id=slow HTTP/1.1\r\nHost: x\r\n")
        else:
            sock.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n")
    assert_serves_a_simulated_worker(server)
    assert vm_rss_kib() - rss_before < 50_000
