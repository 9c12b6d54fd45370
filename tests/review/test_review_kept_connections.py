"""`mephisto review` on PostgreSQL keeps its database connections across requests, and notices dropped ones.

Each request of the review server runs in a thread of its own. Opening a connection per request cost a remote
database several round trips per call (47 ms of a 70-145 ms call at an 11 ms round trip, docs/performance.md).
The connections are now kept (`data_model/kept_connections.py`) and checked without a round trip: what the
server ended is replaced, and while the database cannot be reached the app answers 503 and recovers after.
These tests watch the app's connections from the server's side, in `pg_stat_activity`.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from review_helpers import pg_run

from mephisto_core.data_model import Database, Worker, kept_connections, open_database
from mephisto_core.data_model.kept_connections import MAX_CONNECTIONS
from mephisto_core.operations.provider_calls import REVIEW_CALLS_AT_ONCE, call_blocking
from mephisto_core.operations.recorded_calls import call_all
from mephisto_core.review_app import ReviewApp, ReviewServer
from mephisto_core.settings import Settings
from mephisto_core.testing.postgres import with_database_name
from mephisto_core.testing.processes import ReviewProcess

pytestmark = pytest.mark.postgres


@pytest.fixture
def kept_database(own_database: str, mephisto_settings: Settings) -> Iterator[Database]:
    mephisto_settings.database_url = own_database
    database = open_database(own_database, mephisto_settings.sqlite_path, keep_connections=True)
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
def server(kept_database: Database, mephisto_settings: Settings) -> Iterator[ReviewServer]:
    with ReviewServer(ReviewApp(mephisto_settings, kept_database), "127.0.0.1", 0) as review:
        yield review


def _admin(url: str, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run `statement` on the server of `url`, from its `postgres` database (so never one of the app's)."""
    return pg_run(with_database_name(url, "postgres"), statement, *params)


def _backends(url: str) -> dict[int, str]:
    """The app's connections to its database: backend pid -> the last statement it ran."""
    name = urlsplit(url).path.strip("/")
    rows = _admin(url, "SELECT pid, query FROM pg_stat_activity WHERE datname = %s", name)
    return {int(pid): str(query) for pid, query in rows}


def _get(base_url: str, token: str, path: str) -> tuple[int, Any]:
    """One request on a connection of its own, so the server answers it in a new thread."""
    address = urlsplit(base_url)
    connection = http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port, timeout=30)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        answer = connection.getresponse()
        body = answer.read()
        is_json = answer.getheader("Content-Type", "").startswith("application/json")
        return answer.status, json.loads(body) if is_json else body
    finally:
        connection.close()


def _wait_until_gone(url: str, pid: int) -> None:
    deadline = time.monotonic() + 10
    while pid in _backends(url):
        assert time.monotonic() < deadline, f"backend {pid} did not end"
        time.sleep(0.02)


def test_requests_in_new_threads_reuse_one_connection(server: ReviewServer, own_database: str) -> None:
    started_with = set(_backends(own_database))  # the main thread's, which opened the database
    seen: list[set[int]] = []
    for _ in range(20):
        status, _body = _get(server.base_url, server.app.token, "/api/tasks")
        assert status == 200
        seen.append(set(_backends(own_database)) - started_with)
    assert len(seen[0]) == 1, seen[0]  # the first request's connection stayed open after it ...
    assert all(backends == seen[0] for backends in seen), seen  # ... and every later request used it again


def test_a_kept_connection_is_checked_without_a_statement(server: ReviewServer, own_database: str) -> None:
    started_with = set(_backends(own_database))
    assert _get(server.base_url, server.app.token, "/api/tasks")[0] == 200
    (kept,) = set(_backends(own_database)) - started_with
    last_statement = _backends(own_database)[kept]
    assert "task" in last_statement.lower(), last_statement
    # The session call reads no data, yet takes a connection: checking it sent nothing (peewee's pool sends
    # SELECT 1, one round trip per request to a remote database).
    assert _get(server.base_url, server.app.token, "/api/session")[0] == 200
    assert _backends(own_database)[kept] == last_statement


def test_a_connection_the_server_ended_is_replaced_and_the_request_answered(
    server: ReviewServer, own_database: str
) -> None:
    started_with = set(_backends(own_database))
    status, before = _get(server.base_url, server.app.token, "/api/tasks")
    assert status == 200
    (kept,) = set(_backends(own_database)) - started_with
    assert _admin(own_database, "SELECT pg_terminate_backend(%s)", kept) == [(True,)]
    _wait_until_gone(own_database, kept)

    status, after = _get(server.base_url, server.app.token, "/api/tasks")

    assert status == 200, after
    assert after == before
    (replacement,) = set(_backends(own_database)) - started_with
    assert replacement != kept


def test_an_unreachable_database_answers_503_then_the_app_recovers(server: ReviewServer, own_database: str) -> None:
    name = urlsplit(own_database).path.strip("/")
    started_with = set(_backends(own_database))
    assert _get(server.base_url, server.app.token, "/api/tasks")[0] == 200
    (kept,) = set(_backends(own_database)) - started_with
    _admin(own_database, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    _admin(own_database, "SELECT pg_terminate_backend(%s)", kept)
    _wait_until_gone(own_database, kept)

    status, refused = _get(server.base_url, server.app.token, "/api/tasks")

    assert status == 503, refused
    assert refused["error"].startswith("cannot reach the database: "), refused
    assert "not currently accepting connections" in refused["error"]
    assert refused["error"].endswith("; try again when it is back")
    assert _get(server.base_url, server.app.token, "/?token=" + server.app.token)[0] == 200  # the page still loads

    _admin(own_database, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    assert _get(server.base_url, server.app.token, "/api/tasks")[0] == 200


def test_concurrent_requests_share_at_most_the_pools_connections(server: ReviewServer, own_database: str) -> None:
    started_with = set(_backends(own_database))
    statuses: list[int | str] = []
    start = threading.Barrier(3 * MAX_CONNECTIONS)

    def call() -> None:
        start.wait(10)
        try:
            statuses.append(_get(server.base_url, server.app.token, "/api/tasks")[0])
        except Exception as exc:  # shown in the assertion below, which a missing status would not explain
            statuses.append(f"{type(exc).__name__}: {exc}")
            raise

    callers = [threading.Thread(target=call) for _ in range(3 * MAX_CONNECTIONS)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(60)
    assert statuses == [200] * (3 * MAX_CONNECTIONS)
    assert 1 <= len(set(_backends(own_database)) - started_with) <= MAX_CONNECTIONS


def test_closing_the_database_closes_every_kept_connection(
    server: ReviewServer, kept_database: Database, own_database: str
) -> None:
    for _ in range(3):
        assert _get(server.base_url, server.app.token, "/api/tasks")[0] == 200
    assert len(_backends(own_database)) == 2  # the main thread's and the kept one
    server.shutdown()
    kept_database.close()
    deadline = time.monotonic() + 10
    while _backends(own_database):
        assert time.monotonic() < deadline, _backends(own_database)
        time.sleep(0.02)


def test_the_review_command_keeps_its_connections(
    own_database: str, mephisto_settings: Settings, tmp_path: Path
) -> None:
    review = ReviewProcess([], {**os.environ, "MEPHISTO_DATABASE_URL": own_database}, tmp_path / "review.log")
    try:
        link = review.wait_for_link()
        base, token = link.split("/?token=")
        started_with = set(_backends(own_database))
        assert len(started_with) == 1, started_with  # the connection it opened at start, now kept for requests
        for _ in range(5):
            assert _get(base, token, "/api/tasks")[0] == 200
            assert set(_backends(own_database)) == started_with  # every request took that one
    finally:
        review.interrupt()
        review.wait(15)


class _ReadingPlatform:
    """A provider whose calls read the database from the call's thread, as the MTurk plugin's do."""

    type_name = "reading"
    call_timeout_seconds = 10.0
    idempotent_calls: frozenset[str] = frozenset()

    def look(self, n: int) -> int:
        return int(Worker.select().count()) + n


def test_platform_calls_in_pool_threads_give_their_connections_back(
    own_database: str, mephisto_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bulk verdict's calls run in long-lived pool threads; each kept the connection it took, until the pool's
    # connections ran out and a call failed with MaxConnectionsExceeded (one bonus of 200 at 8 connections).
    monkeypatch.setattr(kept_connections, "MAX_CONNECTIONS", 3)
    monkeypatch.setattr(kept_connections, "WAIT_SECONDS", 2)
    database = open_database(own_database, mephisto_settings.sqlite_path, keep_connections=True)
    try:
        jobs = list(range(4 * REVIEW_CALLS_AT_ONCE))
        results: list[int] = []
        errors = call_all(
            database,
            jobs,
            lambda n: call_blocking(_ReadingPlatform(), "look", n),  # type: ignore[arg-type]
            lambda n, result: results.append(result),
        )
        assert errors == [None] * len(jobs)
        assert sorted(results) == jobs
        assert len(_backends(own_database)) <= 3
    finally:
        database.close()
