"""The review server's connections as a browser uses them: kept alive, each answer sent at once.

An answer goes out as two writes (head, then body). On a kept-alive connection Nagle's algorithm held the body
until the browser acknowledged the head, which it delays: every call of the page took 44 ms or more, against 1-6 ms
(docs/performance.md). The accepted sockets now have TCP_NODELAY.
"""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any
from urllib.parse import urlsplit

import peewee as pw
import pytest

from mephisto_core.data_model import Database
from mephisto_core.review_app import ReviewApp, ReviewServer
from mephisto_core.review_app.server import _Handler
from mephisto_core.settings import Settings


def test_calls_on_one_kept_alive_connection_are_sent_without_nagles_wait(
    sqlite_database: Database, mephisto_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    nodelay: list[int] = []
    real_setup = _Handler.setup

    def setup(handler: Any) -> None:
        real_setup(handler)
        nodelay.append(handler.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    monkeypatch.setattr(_Handler, "setup", setup)
    with ReviewServer(ReviewApp(mephisto_settings, sqlite_database), "127.0.0.1", 0) as server:
        connection = _connect(server)
        for path in ("/api/session", "/api/tasks", "/api/qualifications"):
            connection.request("GET", path, headers={"Authorization": f"Bearer {server.app.token}"})
            answer = connection.getresponse()
            assert answer.status == 200, answer.read()
            answer.read()
        connection.close()
    assert len(nodelay) == 1, nodelay  # the three calls shared one connection, as a browser's do
    assert nodelay[0] != 0


def test_a_database_failure_during_a_request_answers_503_on_one_line(
    sqlite_database: Database, mephisto_settings: Settings
) -> None:
    app = ReviewApp(mephisto_settings, sqlite_database)

    def lost(*args: Any, **kwargs: Any) -> Any:
        raise pw.OperationalError(
            "server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally\n"
        )

    app.browser.overview = lost  # type: ignore[method-assign]
    with ReviewServer(app, "127.0.0.1", 0) as server:
        connection = _connect(server)
        connection.request("GET", "/api/tasks", headers={"Authorization": f"Bearer {app.token}"})
        answer = connection.getresponse()
        body = json.loads(answer.read())
        connection.close()
    assert answer.status == 503
    assert body["error"] == (
        "the database failed: server closed the connection unexpectedly This probably means the server terminated "
        "abnormally; try again"
    )


def _connect(server: ReviewServer) -> http.client.HTTPConnection:
    address = urlsplit(server.base_url)
    return http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port, timeout=15)
