"""The kept connections of threads that ended without handing theirs back are closed when the pool runs out.

peewee's pool counts a checked-out connection as in use until its thread hands it back; a thread that ends first
(a code path that forgot, or one left inside a transaction) used to hold its place forever, and after as many as
the pool keeps every request waited and was refused. These tests run `KeptConnectionsDatabase` on a real server
and watch its connections from the server's side (`pg_stat_activity`, read on a plain connection of its own).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest
from playhouse.db_url import parse
from playhouse.pool import MaxConnectionsExceeded
from review_helpers import pg_run

from mephisto_core.data_model.kept_connections import KeptConnectionsDatabase

pytestmark = pytest.mark.postgres

T = TypeVar("T")

APPLICATION = "mephisto_reclaim_test"  # the pool's connections' application_name, to tell them apart
WAIT_SECONDS = 2  # how long connect() waits for a place before MaxConnectionsExceeded


@pytest.fixture
def pool_of(own_database: str) -> Iterator[Callable[[int], KeptConnectionsDatabase]]:
    """`pool_of(n)`: a `KeptConnectionsDatabase` on the test's database keeping at most n connections."""
    made: list[KeptConnectionsDatabase] = []

    def make(max_connections: int) -> KeptConnectionsDatabase:
        database = KeptConnectionsDatabase(
            max_connections=max_connections,
            stale_timeout=600,
            timeout=WAIT_SECONDS,
            application_name=APPLICATION,
            **parse(own_database),
        )
        made.append(database)
        return database

    yield make
    for database in made:
        database.close_all()


def _pool_backends(url: str) -> set[int]:
    """The backend pids of the pool's connections to the database of `url`."""
    rows = pg_run(
        url,
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
        urlsplit(url).path.strip("/"),
        APPLICATION,
    )
    return {int(pid) for (pid,) in rows}


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    # A closed connection's backend exits a moment after its client said goodbye.
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def _in_thread(fn: Callable[[], T]) -> T:
    """`fn()` in a new thread that ends when it returns; its result, or its exception raised here."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = fn()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert not thread.is_alive()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]  # type: ignore[no-any-return]


def _backend_pid(database: KeptConnectionsDatabase) -> int:
    return int(database.execute_sql("SELECT pg_backend_pid()").fetchone()[0])


def _take_one_and_end(database: KeptConnectionsDatabase) -> Callable[[], int]:
    """A thread's job that checks a connection out, queries on it and ends without handing it back."""

    def job() -> int:
        database.connect()
        return _backend_pid(database)

    return job


def test_ended_threads_connections_are_taken_back(
    pool_of: Callable[[int], KeptConnectionsDatabase], own_database: str
) -> None:
    database = pool_of(3)
    left = [_in_thread(_take_one_and_end(database)) for _ in range(5)]  # the 4th found no place left

    database.connect()
    assert _backend_pid(database) > 0
    assert _in_thread(_take_one_and_end(database)) > 0  # the pool is full again (main, 5th, 4th): reclaimed again

    _wait_for(lambda: len(_pool_backends(own_database)) <= 3, "more backends than the pool keeps")
    _wait_for(lambda: not _pool_backends(own_database) & set(left[:3]), "the first threads' backends stayed")
    database.close()


def test_a_live_threads_connection_is_never_taken(
    pool_of: Callable[[int], KeptConnectionsDatabase], own_database: str
) -> None:
    database = pool_of(2)
    holding, done = threading.Event(), threading.Event()
    seen: list[int] = []

    def hold() -> None:
        database.connect()
        seen.append(_backend_pid(database))
        holding.set()
        done.wait(30)
        seen.append(_backend_pid(database))  # after everything else: the same connection, still working
        database.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(10)
        left = [_in_thread(_take_one_and_end(database)) for _ in range(4)]  # each took the last one's place
        database.connect()  # takes the 4th's place; now two live threads hold both
        with pytest.raises(MaxConnectionsExceeded):
            _in_thread(_take_one_and_end(database))  # waits, and takes neither live thread's connection
        assert _backend_pid(database) not in left
        database.close()
    finally:
        done.set()
        holder.join(30)

    assert len(seen) == 2, seen
    assert seen[0] == seen[1]
    assert seen[0] in _pool_backends(own_database)  # handed back by its thread, kept for the next one


def test_an_ended_threads_open_transaction_is_rolled_back_not_reused(
    pool_of: Callable[[int], KeptConnectionsDatabase], own_database: str
) -> None:
    pg_run(own_database, "CREATE TABLE claims (id integer PRIMARY KEY, who text NOT NULL)")
    database = pool_of(1)

    def begin_and_end() -> int:
        database.connect()
        database.execute_sql("BEGIN")
        database.execute_sql("INSERT INTO claims VALUES (1, 'ended thread')")  # holds the row's lock
        return _backend_pid(database)

    ended = _in_thread(begin_and_end)
    assert pg_run(own_database, "SELECT state FROM pg_stat_activity WHERE pid = %s", ended) == [
        ("idle in transaction",)
    ]

    database.connect()  # the only place is the ended thread's
    assert _backend_pid(database) != ended  # closed, not handed on with its transaction
    _wait_for(lambda: ended not in _pool_backends(own_database), "the ended thread's backend stayed")
    assert database.execute_sql("SELECT count(*) FROM claims").fetchone()[0] == 0  # never committed
    # A new writer of the same row is not kept waiting by the ended transaction's lock.
    pg_run(own_database, "SET lock_timeout = '2s'; INSERT INTO claims VALUES (1, 'next writer')")
    assert pg_run(own_database, "SELECT who FROM claims") == [("next writer",)]
    database.close()
