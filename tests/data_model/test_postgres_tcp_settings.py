"""PostgreSQL connections probe an idle path and give up on a dead one: keepalives every 30 s while idle (a NAT
gateway forgets a flow idle for a few minutes) and 30 s without an acknowledgement (not TCP's 15 minutes) end a
connection whose path died. Read from the connections' own sockets, for the launch's and the review app's
connections; a URL that sets one keeps its value."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from mephisto_core.data_model import Database, open_database
from mephisto_core.data_model.database import TCP_DEFAULTS

pytestmark = pytest.mark.postgres

EXPECTED = {
    socket.SO_KEEPALIVE: 1,
    socket.TCP_KEEPIDLE: 30,
    socket.TCP_KEEPINTVL: 10,
    socket.TCP_KEEPCNT: 3,
    socket.TCP_USER_TIMEOUT: 30_000,
}


def _socket_options(database: Database) -> dict[int, int]:
    """The TCP options of this thread's connection, read from its socket."""
    database.db.execute_sql("SELECT 1")
    fd = database.db.connection().fileno()
    sock = socket.socket(fileno=os.dup(fd))
    try:
        assert sock.family in (socket.AF_INET, socket.AF_INET6), "the test server must be reached over TCP"
        return {
            option: sock.getsockopt(socket.SOL_SOCKET if option == socket.SO_KEEPALIVE else socket.IPPROTO_TCP, option)
            for option in EXPECTED
        }
    finally:
        sock.close()


@pytest.fixture
def opened(postgres_url: str, tmp_path: Path) -> Iterator[list[Database]]:
    databases: list[Database] = []
    yield databases
    for database in databases:
        database.close()


@pytest.mark.parametrize("keep_connections", [False, True], ids=["launch", "review app"])
def test_connections_probe_an_idle_path_and_give_up_on_a_dead_one(
    postgres_url: str, tmp_path: Path, opened: list[Database], keep_connections: bool
) -> None:
    database = open_database(postgres_url, tmp_path / "unused.db", keep_connections=keep_connections)
    opened.append(database)

    assert _socket_options(database) == EXPECTED
    assert TCP_DEFAULTS["tcp_user_timeout"] == EXPECTED[socket.TCP_USER_TIMEOUT]


def test_a_setting_in_the_url_is_kept(postgres_url: str, tmp_path: Path, opened: list[Database]) -> None:
    separator = "&" if "?" in postgres_url else "?"
    database = open_database(postgres_url + f"{separator}keepalives_idle=45", tmp_path / "unused.db")
    opened.append(database)

    assert _socket_options(database) == {**EXPECTED, socket.TCP_KEEPIDLE: 45}
