"""A real, throwaway PostgreSQL server for tests, and the few admin statements tests need on it.

`start_postgres()` runs `initdb` and `pg_ctl` on a temporary directory: the server listens on 127.0.0.1 only,
on a free port, keeps its unix socket in that directory, trusts local connections and skips fsync (the data is
thrown away, so durability only costs time). PostgreSQL refuses to run as root, so as root the binaries run as
the `postgres` user, which the Debian package creates. `external_server()` wraps a server already running.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

INSTALL_HINT = (
    "install the PostgreSQL server (Debian/Ubuntu: apt-get install postgresql) "
    "or point MEPHISTO_TEST_POSTGRES_URL at a running server"
)
_DEBIAN_BIN_GLOB = "/usr/lib/postgresql/*/bin"
_START_ATTEMPTS = 3  # a free port can be taken by someone else between choosing it and binding it


class PostgresUnavailable(RuntimeError):
    """PostgreSQL (or its Python driver) is not installed; the message says what to install."""


class PostgresStartError(RuntimeError):
    """The PostgreSQL binaries are there but the server did not start; the message carries its log."""


@dataclass(frozen=True)
class PostgresBinaries:
    """Where `initdb` and `pg_ctl` are."""

    initdb: Path
    pg_ctl: Path


def find_postgres_bin_dir() -> PostgresBinaries | None:
    """`initdb` and `pg_ctl` from PATH, else from the newest /usr/lib/postgresql/N/bin; None when absent."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return PostgresBinaries(Path(initdb), Path(pg_ctl))
    # Debian keeps the server binaries off PATH, one directory per major version.
    candidates = sorted(Path("/").glob(_DEBIAN_BIN_GLOB.lstrip("/")), key=_major_version, reverse=True)
    for bin_dir in candidates:
        if (bin_dir / "initdb").is_file() and (bin_dir / "pg_ctl").is_file():
            return PostgresBinaries(bin_dir / "initdb", bin_dir / "pg_ctl")
    return None


def _major_version(bin_dir: Path) -> int:
    match = re.fullmatch(r"\d+", bin_dir.parent.name)
    return int(match.group()) if match else -1


@dataclass
class PostgresServer:
    """A PostgreSQL server; `admin_url` names a database on it that admin statements may connect to.

    `root` is the temporary directory of a server this process started (None for an external one); `stop()`
    stops such a server and removes the directory, and leaves an external server alone.
    """

    admin_url: str
    root: Path | None = None
    _pg_ctl: list[str] = field(default_factory=list, repr=False)

    def url_for(self, dbname: str) -> str:
        """The URL of database `dbname` on this server."""
        return with_database_name(self.admin_url, dbname)

    def postmaster_pid(self) -> int | None:
        """The process id of a server started by `start_postgres` (its first line of postmaster.pid); None for an
        external server or a stopped one."""
        if self.root is None:
            return None
        pid_file = self.root / "data" / "postmaster.pid"
        return int(pid_file.read_text().split()[0]) if pid_file.exists() else None

    def stop(self) -> None:
        """Stop a server started by `start_postgres` and delete its files (idempotent)."""
        if self.root is None:
            return
        data_dir = self.root / "data"
        if (data_dir / "postmaster.pid").exists():
            # Immediate shutdown: nothing in a throwaway cluster is worth a checkpoint.
            _run([*self._pg_ctl, "-D", str(data_dir), "-m", "immediate", "-w", "stop"], "pg_ctl stop")
        shutil.rmtree(self.root)
        self.root = None


def start_postgres(binaries: PostgresBinaries | None = None, *, timeout_s: int = 60) -> PostgresServer:
    """Create a cluster in a temporary directory and start it on 127.0.0.1 and a free port.

    Raises PostgresUnavailable when the binaries (or, as root, the `postgres` user) are missing, and
    PostgresStartError, with the server's log, when they are there but the server does not come up.
    """
    binaries = binaries or find_postgres_bin_dir()
    if binaries is None:
        raise PostgresUnavailable(f"initdb/pg_ctl not found on PATH or in {_DEBIAN_BIN_GLOB}: {INSTALL_HINT}")
    as_root = os.geteuid() == 0
    prefix: list[str] = []
    owner: tuple[int, int] | None = None
    if as_root:
        import pwd

        try:
            entry = pwd.getpwnam("postgres")
        except KeyError as exc:
            raise PostgresUnavailable(
                "running as root, so PostgreSQL must run as the 'postgres' user, which does not exist: " + INSTALL_HINT
            ) from exc
        owner = (entry.pw_uid, entry.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    # As root, TMPDIR may point somewhere the postgres user cannot reach; /tmp is reachable by everyone.
    root = Path(tempfile.mkdtemp(prefix="mephisto-pg-", dir="/tmp" if as_root else None))
    try:
        if owner is not None:
            os.chown(root, *owner)
        data_dir, log_file = root / "data", root / "server.log"
        _run(
            [
                *prefix,
                str(binaries.initdb),
                "-D",
                str(data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            "initdb",
        )
        hba = data_dir / "pg_hba.conf"
        hba.write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
        if owner is not None:
            os.chown(hba, *owner)
        pg_ctl = [*prefix, str(binaries.pg_ctl)]
        server = PostgresServer(admin_url="", root=root, _pg_ctl=pg_ctl)
        for attempt in range(1, _START_ATTEMPTS + 1):
            port = _free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            start = [
                *pg_ctl,
                "-D",
                str(data_dir),
                "-l",
                str(log_file),
                "-w",
                "-t",
                str(timeout_s),
                "-o",
                options,
            ]
            result = subprocess.run([*start, "start"], capture_output=True, text=True, check=False)
            if result.returncode == 0:
                server.admin_url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
                return server
            log = log_file.read_text(errors="replace") if log_file.exists() else ""
            if "could not bind" not in log or attempt == _START_ATTEMPTS:
                raise PostgresStartError(
                    f"pg_ctl start failed (exit {result.returncode}) in {data_dir}:\n"
                    f"{result.stdout}{result.stderr}\nserver log:\n{log}"
                )
        raise AssertionError("unreachable: the loop returns or raises")
    except BaseException:
        # Leave no server running and no directory behind when start-up fails half-way.
        with contextlib.suppress(PostgresStartError):
            PostgresServer(admin_url="", root=root, _pg_ctl=[*prefix, str(binaries.pg_ctl)]).stop()
        shutil.rmtree(root, ignore_errors=True)
        raise


def external_server(url: str) -> PostgresServer:
    """Wrap a running server given by a URL; admin statements use its database ("postgres" if none)."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql") or not parts.hostname:
        raise ValueError(f"{url!r} is not a PostgreSQL URL; expected postgresql://USER[:PW]@HOST[:PORT][/DB]")
    has_database = parts.path.strip("/") != ""
    return PostgresServer(admin_url=url if has_database else with_database_name(url, "postgres"))


@contextlib.contextmanager
def running_postgres(external_url: str | None = None) -> Iterator[PostgresServer]:
    """An external server when `external_url` is given, else a throwaway one that is stopped at the end."""
    server = external_server(external_url) if external_url else start_postgres()
    try:
        yield server
    finally:
        server.stop()


def with_database_name(url: str, dbname: str) -> str:
    """`url` with its database (path) part replaced by `dbname` ("" drops it)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{dbname}" if dbname else ""))


def new_database_name(prefix: str = "mephisto_test") -> str:
    """A database name nobody else uses (lower case, so it needs no quoting)."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def create_database(admin_url: str, dbname: str) -> str:
    """Create database `dbname` on the server of `admin_url` and return its URL."""
    with _admin_connection(admin_url) as cur:
        cur.execute(f'CREATE DATABASE "{dbname}"')
    return with_database_name(admin_url, dbname)


def drop_database(admin_url: str, dbname: str) -> None:
    """Drop database `dbname` on the server of `admin_url`, first ending any session still connected to it."""
    with _admin_connection(admin_url) as cur:
        cur.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (dbname,),
        )
        cur.execute(f'DROP DATABASE IF EXISTS "{dbname}"')


def reset_database(url: str) -> None:
    """Empty the database at `url`: end other sessions on it, then drop and re-create its public schema."""
    with _admin_connection(url) as cur:
        # Connections left behind by finished threads hold no locks, but an idle-in-transaction one would
        # block the DROP forever; none of them is needed any more.
        cur.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        cur.execute("DROP SCHEMA IF EXISTS public CASCADE")
        cur.execute("CREATE SCHEMA public")


def table_names(url: str) -> list[str]:
    """The tables of the public schema, sorted."""
    with _admin_connection(url) as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
        return [str(row[0]) for row in cur.fetchall()]


@contextlib.contextmanager
def _admin_connection(url: str) -> Iterator[Any]:
    try:
        import psycopg2
    except ImportError as exc:
        raise PostgresUnavailable(
            "the PostgreSQL driver is missing: pip install psycopg2-binary (or mephisto-core[test])"
        ) from exc
    conn = psycopg2.connect(url)
    try:
        conn.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(command: Sequence[str], what: str) -> None:
    result = subprocess.run(list(command), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PostgresStartError(
            f"{what} failed (exit {result.returncode}): {' '.join(command)}\n{result.stdout}{result.stderr}"
        )
