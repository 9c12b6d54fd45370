"""A TCP relay that delays every byte by a fixed time each way: a database "on another machine" on loopback.

`python benchmarks/_latency_proxy.py --upstream HOST:PORT --one-way-ms D` listens on a free port of 127.0.0.1,
prints that port on its first line of output, and relays each connection to the upstream server, holding what
each side sends for D milliseconds before passing it on (so a round trip costs 2·D more), in the order it was
sent. asyncio's timers wake to the millisecond, so a delay is rounded up to one: the caller measures the round
trip it gets. This VM has no `tc netem`; a relay in its own process adds the delay without touching the code measured.
Its own CPU is measured by the caller (it shares the machine's cores with everything else).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Relay:
    """A running relay: the database URL that goes through it, its process, and the round trip measured."""

    url: str
    pid: int
    round_trip_ms: float

    def cpu_seconds(self) -> float:
        """The relay's CPU so far (user + system)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def add_relay_option(parser: argparse.ArgumentParser) -> None:
    """`--db-one-way-ms MS`, for a benchmark with `--db postgresql` (check it with `check_relay_option`)."""
    parser.add_argument(
        "--db-one-way-ms",
        type=float,
        default=None,
        metavar="MS",
        help="--db postgresql: the server is reached through a relay that delays each way by MS (a database on "
        "another machine; rounded up to whole milliseconds, the round trip it gives is measured and reported)",
    )


def check_relay_option(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse `--db-one-way-ms` without `--db postgresql`, or below 0."""
    if args.db_one_way_ms is not None and (args.db != "postgresql" or args.db_one_way_ms < 0):
        parser.error(f"--db-one-way-ms needs --db postgresql and at least 0, got {args.db_one_way_ms}")


def start_relay(stack: ExitStack, database_url: str, one_way_ms: float) -> Relay:
    """A relay to the PostgreSQL server of `database_url`, stopped when `stack` closes; its round trip is
    measured with 200 `SELECT 1` through it."""
    import psycopg2

    parts = urlsplit(database_url)
    process = subprocess.Popen(
        [sys.executable, __file__, "--upstream", f"{parts.hostname}:{parts.port}", "--one-way-ms", str(one_way_ms)],
        stdout=subprocess.PIPE,
        text=True,
    )
    stack.callback(process.wait, 10)
    stack.callback(process.terminate)
    assert process.stdout is not None
    port = int(process.stdout.readline())
    netloc = parts.netloc.rsplit(":", 1)[0] + f":{port}"
    url = urlunsplit(parts._replace(netloc=netloc))
    conn = psycopg2.connect(url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            started = time.perf_counter()
            for _ in range(200):
                cur.execute("SELECT 1")
                cur.fetchone()
            round_trip_ms = (time.perf_counter() - started) / 200 * 1000
    finally:
        conn.close()
    return Relay(url=url, pid=process.pid, round_trip_ms=round(round_trip_ms, 3))


class _DelayedPipe(asyncio.Protocol):
    """One side of a relayed connection: what it receives is written to `peer` `delay_s` later, in order."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.transport: asyncio.Transport | None = None
        self.peer: _DelayedPipe | None = None
        self._due: collections.deque[tuple[float, bytes]] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None
        self._closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if not self.delay_s and not self._due:  # no delay: straight through (to price the relay alone)
            if self.peer is not None and self.peer.transport is not None:
                self.peer.transport.write(data)
            return
        loop = asyncio.get_running_loop()
        self._due.append((loop.time() + self.delay_s, data))
        if self._timer is None:
            self._timer = loop.call_at(self._due[0][0], self._flush)

    def eof_received(self) -> bool:
        self._closing = True
        if self._timer is None:
            self._close_peer()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        if self._timer is None:
            self._close_peer()

    def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        chunks = []
        while self._due and self._due[0][0] <= now:
            chunks.append(self._due.popleft()[1])
        if chunks and self.peer is not None and self.peer.transport is not None:
            self.peer.transport.write(b"".join(chunks))
        self._timer = loop.call_at(self._due[0][0], self._flush) if self._due else None
        if self._timer is None and self._closing:
            self._close_peer()

    def _close_peer(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()


async def _relay(upstream_host: str, upstream_port: int, delay_s: float) -> None:
    loop = asyncio.get_running_loop()

    connecting: set[asyncio.Task[None]] = set()  # held until done: the loop keeps only weak references to tasks

    class _Inbound(_DelayedPipe):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            assert self.transport is not None
            self.transport.pause_reading()  # until the upstream connection is open
            task = loop.create_task(self._connect())
            connecting.add(task)
            task.add_done_callback(connecting.discard)

        async def _connect(self) -> None:
            assert self.transport is not None
            try:
                _, outbound = await loop.create_connection(lambda: _DelayedPipe(delay_s), upstream_host, upstream_port)
            except OSError as exc:
                print(f"latency proxy: cannot reach {upstream_host}:{upstream_port}: {exc}", file=sys.stderr)
                self.transport.close()
                return
            self.peer, outbound.peer = outbound, self
            self.transport.resume_reading()

    server = await loop.create_server(lambda: _Inbound(delay_s), "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="HOST:PORT of the server to relay to")
    parser.add_argument("--one-way-ms", type=float, required=True, help="delay added each way, in milliseconds")
    args = parser.parse_args(argv)
    host, _, port = args.upstream.rpartition(":")
    if not host or not port.isdigit() or args.one_way_ms < 0:
        parser.error("--upstream must be HOST:PORT and --one-way-ms at least 0")
    asyncio.run(_relay(host, int(port), args.one_way_ms / 1000))
    return 0


if __name__ == "__main__":
    sys.exit(main())
