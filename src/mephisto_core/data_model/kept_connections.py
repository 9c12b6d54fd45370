"""PostgreSQL connections kept across requests, for servers that answer each request in a thread of its own.

Opening a PostgreSQL connection costs several round trips (TCP, TLS when used, start-up, authentication) and the
server forks a backend for it: on loopback about 2.5 ms, with the database 11 ms away about 47 ms, more than
the queries of most review screens. `KeptConnectionsDatabase` is peewee's pool with one change: it does not ask
the server whether an idle connection still works (peewee sends `SELECT 1`, one more round trip per request).
An idle connection has nothing to read unless the server ended it (restart, `pg_terminate_backend`, an idle
timeout) or it broke, so a connection whose socket is readable, or whose state libpq no longer knows, is
discarded and a new one opened, at no cost to the others. A connection still checked out by a thread that has
ended (it forgot to hand it back) is closed and its place given to a new one when the pool runs out.
"""

from __future__ import annotations

import logging
import select
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from playhouse.db_url import parse
from playhouse.pool import MaxConnectionsExceeded, PooledPostgresqlDatabase

from mephisto_core.data_model.models import database_proxy

T = TypeVar("T")

log = logging.getLogger(__name__)

#: Connections kept at most: up to six requests at a time from a browser, and a bulk verdict's platform calls
#: (8 at a time, `provider_calls.REVIEW_CALLS_AT_ONCE`), whose plugins may read the database from their threads.
#: Past this, a thread waits for a free one, once the connections of threads that ended holding one are closed.
MAX_CONNECTIONS = 20
#: Seconds a request waits for a free connection before it is refused.
WAIT_SECONDS = 30
#: Seconds after which a connection is closed rather than reused, so settings changed on the server (and memory
#: its backend grew) do not outlive a long review session.
RECYCLE_SECONDS = 600


class KeptConnectionsDatabase(PooledPostgresqlDatabase):  # type: ignore[misc]  # peewee is untyped
    """peewee's PostgreSQL pool that checks an idle connection locally, without a round trip to the server.

    It also takes back the connections of threads that ended without handing theirs back, when it has no other.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Connection key -> the thread that checked it out. peewee keeps a connection per thread (a thread-local),
        # so once that thread has ended nobody can hand the connection back. A weak reference: a thread ident is
        # reused by later threads, and a Thread object that is gone has ended.
        self._owners: dict[int, weakref.ref[threading.Thread]] = {}
        super().__init__(*args, **kwargs)

    def _connect(self) -> Any:
        # peewee's check-out (an idle connection, else a new one), under its pool lock (reentrant) like the rest.
        with self._pool_lock:
            try:
                conn = super()._connect()
            except MaxConnectionsExceeded:
                # None idle and every place taken: before peewee waits for one (or refuses), free the ended threads'.
                if not self._reclaim_ended_threads():
                    raise
                conn = super()._connect()
            self._owners[self.conn_key(conn)] = weakref.ref(threading.current_thread())
            return conn

    def _close(self, conn: Any, close_conn: bool = False) -> None:
        # peewee's check-in (back to the idle connections, or closed).
        with self._pool_lock:
            self._owners.pop(self.conn_key(conn), None)
            super()._close(conn, close_conn)

    def _reclaim_ended_threads(self) -> int:
        """Close the checked-out connections of threads that have ended and give up their places; how many."""
        with self._pool_lock:
            if not self.thread_safe:  # one connection shared by every thread: no thread owns it
                return 0
            # Entries of connections peewee dropped without a check-in (`close_all`, `close_stale`).
            for key in self._owners.keys() - self._in_use.keys():
                del self._owners[key]
            reclaimed = 0
            for key, owner in list(self._owners.items()):
                thread = owner()
                if thread is not None and thread.is_alive():
                    continue
                del self._owners[key]
                conn = self._in_use.pop(key).connection
                log.warning(
                    "closing a database connection left checked out by ended thread %s",
                    thread.name if thread else "(gone)",
                )
                # Closed, not returned to the idle ones: the thread may have left a transaction open (closing
                # rolls it back on the server and frees its locks) or the connection in a state nobody knows.
                try:
                    conn.close()
                except conn.Error:
                    # DB-API lets close() raise the driver's Error (psycopg2.Error, psycopg.Error). Neither driver
                    # does today on a broken socket (libpq's PQfinish ignores a Terminate it cannot send), but one
                    # that did must not keep the others from being reclaimed or fail the request that asked.
                    log.debug("closing the ended thread's connection failed", exc_info=True)
                reclaimed += 1
            if reclaimed:
                self._pool_available.notify_all()  # threads waiting in connect() may find a place now
            return reclaimed

    def _is_closed(self, conn: Any) -> bool:
        if conn.closed:
            return True
        if self._adapter.txn_status(conn) == self._adapter.txn_unknown:
            return True
        # Readable while idle: the server's goodbye (an error message, then end of stream) is waiting.
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
        return bool(readable)


def kept_connections_database(url: str, **connect_params: Any) -> KeptConnectionsDatabase:
    """A `KeptConnectionsDatabase` for a `postgresql://` URL, read as `playhouse.db_url.connect` reads it, with
    `connect_params` beside the URL's."""
    return KeptConnectionsDatabase(
        max_connections=MAX_CONNECTIONS,
        stale_timeout=RECYCLE_SECONDS,
        timeout=WAIT_SECONDS,
        **parse(url),
        **connect_params,
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
