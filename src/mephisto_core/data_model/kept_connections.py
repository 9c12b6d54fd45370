"""PostgreSQL connections kept across requests, for servers that answer each request in a thread of its own.

Opening a PostgreSQL connection costs several round trips (TCP, TLS when used, start-up, authentication) and the
server forks a backend for it: on loopback about 2.5 ms, with the database 11 ms away about 47 ms, more than
the queries of most review screens. `KeptConnectionsDatabase` is peewee's pool with one change: it does not ask
the server whether an idle connection still works (peewee sends `SELECT 1`, one more round trip per request).
An idle connection has nothing to read unless the server ended it (restart, `pg_terminate_backend`, an idle
timeout) or it broke, so a connection whose socket is readable, or whose state libpq no longer knows, is
discarded and a new one opened, at no cost to the others.
"""

from __future__ import annotations

import select
from collections.abc import Callable
from typing import Any, TypeVar

from playhouse.db_url import parse
from playhouse.pool import PooledPostgresqlDatabase

from mephisto_core.data_model.models import database_proxy

T = TypeVar("T")

#: Connections kept at most: up to six requests at a time from a browser, and a bulk verdict's platform calls
#: (8 at a time, `provider_calls.REVIEW_CALLS_AT_ONCE`), whose plugins may read the database from their threads.
#: Past this, a thread waits for a free one.
MAX_CONNECTIONS = 20
#: Seconds a request waits for a free connection before it is refused.
WAIT_SECONDS = 30
#: Seconds after which a connection is closed rather than reused, so settings changed on the server (and memory
#: its backend grew) do not outlive a long review session.
RECYCLE_SECONDS = 600


class KeptConnectionsDatabase(PooledPostgresqlDatabase):  # type: ignore[misc]  # peewee is untyped
    """peewee's PostgreSQL pool that checks an idle connection locally, without a round trip to the server."""

    def _is_closed(self, conn: Any) -> bool:
        if conn.closed:
            return True
        if self._adapter.txn_status(conn) == self._adapter.txn_unknown:
            return True
        # Readable while idle: the server's goodbye (an error message, then end of stream) is waiting.
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
        return bool(readable)


def kept_connections_database(url: str) -> KeptConnectionsDatabase:
    """A `KeptConnectionsDatabase` for a `postgresql://` URL, read as `playhouse.db_url.connect` reads it."""
    return KeptConnectionsDatabase(
        max_connections=MAX_CONNECTIONS, stale_timeout=RECYCLE_SECONDS, timeout=WAIT_SECONDS, **parse(url)
    )


def release_kept_connection() -> None:
    """Hand this thread's connection back when the models' database keeps connections (`mephisto review`).

    For a worker thread that lives on between jobs (a pool of platform calls): it would otherwise hold one of the
    kept connections for as long as it lives. Nothing happens on a database that does not keep connections.
    """
    db = database_proxy.obj
    if isinstance(db, KeptConnectionsDatabase) and not db.is_closed() and not db.in_transaction():
        db.close()


def released_after(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)`, then `release_kept_connection()`: the job of a pool thread that may touch the database."""
    try:
        return fn(*args)
    finally:
        release_kept_connection()
