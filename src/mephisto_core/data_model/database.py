"""Open the database named by the settings, bind the models to it, and serialise writers.

SQLite (the default) allows one writer at a time. Writers in this process take `Database.write()`, which holds a
process-wide lock and opens the transaction with BEGIN IMMEDIATE, so two threads never deadlock on a lock
upgrade; writers in other processes wait on SQLite's busy timeout. PostgreSQL needs neither.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import peewee as pw

from mephisto_core.data_model.kept_connections import KeptConnectionsDatabase, kept_connections_database
from mephisto_core.data_model.migrations import apply_migrations
from mephisto_core.data_model.models import database_proxy
from mephisto_core.errors import DatabaseError
from mephisto_core.file_modes import create_private_file, make_private_dir

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 30_000,
    "synchronous": "normal",  # with WAL: durable across process crashes, and fast
    "cache_size": -64_000,
}


class Database:
    """The open database: the peewee handle plus the one way to run a write transaction."""

    def __init__(self, db: pw.Database) -> None:
        self.db = db
        self.is_sqlite = isinstance(db, pw.SqliteDatabase)
        self._write_lock = threading.RLock()

    @contextmanager
    def write(self) -> Iterator[None]:
        """A write transaction; nested calls join the outer one."""
        if not self.is_sqlite:
            with self.db.atomic():
                yield
            return
        with self._write_lock:
            if self.db.in_transaction():
                with self.db.atomic():
                    yield
            else:
                with self.db.atomic("IMMEDIATE"):
                    yield

    def close(self) -> None:
        """Close this thread's connection and, when connections are kept, every idle one."""
        if not self.db.is_closed():
            self.db.close()
        if isinstance(self.db, KeptConnectionsDatabase):
            self.db.close_all()
        if database_proxy.obj is self.db:
            database_proxy.initialize(None)


def _connect(url: str | None, sqlite_path: Path, keep_connections: bool) -> pw.Database:
    if url is None or url.startswith("sqlite"):
        # sqlite:///relative.db or sqlite:////absolute/path.db, as SQLAlchemy and playhouse spell them.
        path = sqlite_path if url is None else Path(url.split(":///", 1)[-1])
        try:
            make_private_dir(path.parent)
            # SQLite would create the file 0644 (less the umask); made here first, it is 0600, and SQLite gives
            # its -wal and -shm files the database file's mode.
            create_private_file(path)
        except OSError as exc:
            raise DatabaseError(f"cannot create the database file {path}: {exc}") from exc
        return pw.SqliteDatabase(str(path), pragmas=SQLITE_PRAGMAS, check_same_thread=False, timeout=30)
    if url.startswith(("postgres://", "postgresql://")):
        try:
            from playhouse.db_url import connect
        except ImportError as exc:  # pragma: no cover - playhouse ships with peewee
            raise DatabaseError("peewee's playhouse is missing; reinstall peewee") from exc
        try:
            import psycopg2  # noqa: F401
        except ImportError as exc:
            raise DatabaseError(
                "MEPHISTO_DATABASE_URL names PostgreSQL but psycopg2 is not installed: "
                "pip install 'mephisto-core[postgres]'"
            ) from exc
        url = url.replace("postgres://", "postgresql://", 1)
        if not urlsplit(url).path.strip("/"):
            raise DatabaseError(
                f"MEPHISTO_DATABASE_URL {url_for_people(url)!r} has no database name: "
                "write postgresql://USER:PW@HOST:PORT/DB"
            )
        params = network_defaults(url)
        db: pw.Database = kept_connections_database(url, **params) if keep_connections else connect(url, **params)
        return db
    raise DatabaseError(
        f"MEPHISTO_DATABASE_URL {url_for_people(url)!r} is not supported: "
        "use sqlite:///PATH or postgresql://USER:PW@HOST:PORT/DB"
    )


#: libpq's TCP settings for a database on another machine, each used unless the URL sets it (`?keepalives_idle=`).
#: A NAT gateway or load balancer forgets a flow idle for a few minutes (cloud NAT gateways: about 350 s), after
#: which the connection's next statement goes nowhere; probes every 30 s while idle keep the flow known, and 3
#: unanswered (60 s) end a connection whose path died. A statement sent on a dead path would wait for TCP's
#: retransmissions, about 15 minutes; `tcp_user_timeout` ends it after 30 s without an acknowledgement instead.
TCP_DEFAULTS: dict[str, int] = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,  # milliseconds; libpq 12 and later
}


def network_defaults(url: str) -> dict[str, int]:
    """The `TCP_DEFAULTS` the PostgreSQL `url` does not set itself, for its connections."""
    import psycopg2
    from playhouse.db_url import parse

    given = parse(url)
    defaults = {key: value for key, value in TCP_DEFAULTS.items() if key not in given}
    if psycopg2.__libpq_version__ < 120000:  # an older libpq refuses the name
        defaults.pop("tcp_user_timeout", None)
    return defaults


def url_for_people(url: str) -> str:
    """The database URL with its password replaced by ********, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:********@{host}"))


def _connect_with_retry(db: pw.Database, patience_seconds: float = 30.0) -> None:
    """Connect, waiting out SQLite's "database is locked" while another process switches the file to WAL.

    That switch takes an exclusive lock and SQLite reports the clash at once instead of calling the busy
    handler, so processes starting together on a fresh file need this retry.
    """
    deadline = time.monotonic() + patience_seconds
    pause = 0.01
    while True:
        try:
            db.connect(reuse_if_open=True)
            return
        except pw.OperationalError as exc:
            if not isinstance(db, pw.SqliteDatabase) or "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.5)


def open_database(url: str | None, sqlite_path: Path, *, keep_connections: bool = False) -> Database:
    """Connect, apply pending migrations (or stop with MigrationError), and bind the models.

    `keep_connections`: on PostgreSQL, `Database.db.close()` keeps the connection for the next thread that
    connects (`kept_connections`), for a server that answers each request in a thread; SQLite ignores it.
    """
    db = _connect(url, sqlite_path, keep_connections)
    try:
        _connect_with_retry(db)
    except pw.OperationalError as exc:
        where = url_for_people(url) if url else str(sqlite_path)
        password = urlsplit(url).password if url else None
        reason = str(exc).replace(password, "********") if password else str(exc)  # a driver may quote the DSN
        raise DatabaseError(f"cannot open the database at {where}: {reason}") from None
    database_proxy.initialize(db)
    database = Database(db)
    try:
        apply_migrations(database)
    except BaseException:
        database.close()  # leave nothing bound to a database that did not start
        raise
    return database
