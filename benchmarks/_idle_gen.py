"""One load-generator process of idle_connections.py: many worker pages that connect, get a unit and sit still.

Each simulated page does what a browser running mephisto-task.js does before its worker starts typing: GET
the task page, open the WebSocket, say `hello` with its worker id and wait for the answer (`assigned`, or a
refusal), then send a `heartbeat` every 5 s and expect `heartbeat_ack`. Like a browser it never sends
WebSocket pings of its own (it answers the router's). Nothing is submitted: every page holds its unit.

The parent steers the phases with multiprocessing events: `start` (a barrier: all processes begin together),
`check` (each page sends one more heartbeat right away and reports whether it was answered) and `stop`
(close every socket and exit). The process puts two messages on `results`: a `ConnectReport` once every
page has its answer, and a `CheckReport` after `check`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import resource
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier, Event
from typing import Any
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from mephisto_core.operations.run.simulate import http_get

HEARTBEAT_SECONDS = 5.0  # HEARTBEAT_INTERVAL_MS of mephisto-task.js
EVENT_POLL_SECONDS = 0.1
ANSWER_TIMEOUT_S = 60.0
CLOSE_TIMEOUT_S = 10.0
FD_MARGIN = 64  # the process's own files, the queue's pipes, page fetches in flight


@dataclass(frozen=True)
class IdleSpec:
    """Pages `first` .. `first + count - 1` of the run, named `{name_prefix}-{i}`."""

    index: int
    base_url: str
    first: int
    count: int
    connect_concurrency: int
    heartbeat_seconds: float = HEARTBEAT_SECONDS
    name_prefix: str = "idle"


@dataclass
class ConnectReport:
    """Sent once every page of the process has opened its socket and had its `hello` answered (or failed)."""

    index: int
    opened: int = 0
    answers: dict[str, int] = field(default_factory=dict)  # "assigned", "refused:no_units", "error:..."
    failures: dict[str, int] = field(default_factory=dict)  # pages that could not connect, by exception type
    first_failure: str | None = None
    started_at: float = 0.0  # wall clock, comparable between processes
    done_at: float = 0.0
    nofile_soft: int = 0
    failure: str | None = None  # the process could not run at all


@dataclass
class CheckReport:
    """Sent after `check`: how many pages were still connected and answered a last heartbeat."""

    index: int
    still_open: int = 0
    answered_check: int = 0
    heartbeats_sent: int = 0
    heartbeats_answered: int = 0
    heartbeat_timeouts: int = 0
    closed_by_server: int = 0
    first_close: str | None = None
    cpu_seconds: float = 0.0


class _Page:
    """One idle page: its socket, its request ids and what happened to it."""

    def __init__(self, name: str, rng: random.Random) -> None:
        self.name = name
        self.rng = rng
        self.ws: ClientConnection | None = None
        self.next_id = 0
        self.closed: str | None = None
        self.answered_check = False

    async def request(self, message: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        assert self.ws is not None
        self.next_id += 1
        message["id"] = self.next_id
        await self.ws.send(json.dumps(message))
        async with asyncio.timeout(timeout_s):
            while True:
                reply = json.loads(await self.ws.recv())
                if reply.get("id") == self.next_id:
                    return dict(reply)
                # pushes (status, live) are not answers; an idle page has nothing to do with them


def raise_nofile_limit(needed: int) -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; fail clearly when even that is below `needed`."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        raise OSError(
            f"this load generator needs {needed} open files but its hard limit is {target}; "
            "raise it (ulimit -Hn, /etc/security/limits.conf) or use more --processes"
        )
    return target


def generator_main(spec: IdleSpec, start: Barrier, check: Event, stop: Event, results: Queue[Any]) -> None:
    """Process entry point: open the pages, report, idle with heartbeats until `check`, report, close at `stop`."""
    logging.basicConfig(level=logging.WARNING, format=f"idle-gen {spec.index}: %(levelname)s %(name)s: %(message)s")
    report = ConnectReport(index=spec.index)
    try:
        report.nofile_soft = raise_nofile_limit(spec.count + FD_MARGIN)
    except (OSError, ValueError) as exc:
        report.failure = str(exc)
        start.abort()
        results.put(report)
        return
    start.wait()
    asyncio.run(_run(spec, report, check, stop, results))


async def _wait_for(event: Event) -> None:
    # A multiprocessing event cannot be awaited; polling it every 0.1 s costs nothing next to 2,500 sockets.
    while not event.is_set():
        await asyncio.sleep(EVENT_POLL_SECONDS)


async def _run(spec: IdleSpec, report: ConnectReport, check: Event, stop: Event, results: Queue[Any]) -> None:
    pages = [_Page(f"{spec.name_prefix}-{i}", random.Random(i)) for i in range(spec.first, spec.first + spec.count)]
    gate = asyncio.Semaphore(spec.connect_concurrency)
    report.started_at = time.time()
    answers = await asyncio.gather(*(_open(spec, page, gate) for page in pages))
    report.done_at = time.time()
    for page, answer in zip(pages, answers, strict=True):
        if page.ws is None:
            report.failures[answer] = report.failures.get(answer, 0) + 1
            report.first_failure = report.first_failure or f"{page.name}: {answer}"
        else:
            report.opened += 1
            report.answers[answer] = report.answers.get(answer, 0) + 1
    results.put(report)

    outcome = CheckReport(index=spec.index)
    check_now = asyncio.Event()
    beats = [asyncio.create_task(_heartbeats(spec, page, check_now, outcome)) for page in pages if page.ws]
    await _wait_for(check)
    check_now.set()
    await asyncio.gather(*beats)
    closes: Counter[str] = Counter(page.closed for page in pages if page.ws is not None and page.closed)
    outcome.closed_by_server = sum(closes.values())
    outcome.first_close = next(iter(closes), None)
    outcome.answered_check = sum(1 for page in pages if page.answered_check)
    outcome.still_open = sum(1 for page in pages if page.ws is not None and page.closed is None)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    outcome.cpu_seconds = usage.ru_utime + usage.ru_stime
    results.put(outcome)

    await _wait_for(stop)
    open_sockets = [page.ws for page in pages if page.ws is not None and page.closed is None]
    if open_sockets:
        # Closing is best effort: the run is measured already, and the launch stops right after.
        await asyncio.wait([asyncio.create_task(ws.close()) for ws in open_sockets], timeout=CLOSE_TIMEOUT_S)


async def _open(spec: IdleSpec, page: _Page, gate: asyncio.Semaphore) -> str:
    """GET the page, open the socket, say hello; the answer's kind, or the failure's name (ws stays None)."""
    params = {"worker_id": page.name}
    ws_url = "ws" + spec.base_url[4:] + "ws"
    async with gate:  # pages arrive in a stream, not all in the same millisecond (a listen backlog is finite)
        try:
            await http_get(spec.base_url + "?" + urlencode(params))
            # Browsers send no pings; the router's keepalive pings are answered by the library.
            page.ws = await connect(ws_url, ping_interval=None, compression=None, open_timeout=ANSWER_TIMEOUT_S)
        except (OSError, TimeoutError, WebSocketException) as exc:
            return f"{type(exc).__name__}: {exc}"
        try:
            reply = await page.request(
                {"type": "hello", "params": params, "token": None, "client_version": "bench"}, ANSWER_TIMEOUT_S
            )
        except (ConnectionClosed, TimeoutError) as exc:
            page.closed = f"{type(exc).__name__}: {exc}"
            return f"error:no answer to hello ({type(exc).__name__})"
    kind = str(reply.get("type"))
    if kind == "refused":
        return f"refused:{reply.get('reason')}"
    if kind == "error":
        return f"error:{reply.get('code')}"
    return kind


async def _heartbeats(spec: IdleSpec, page: _Page, check_now: asyncio.Event, outcome: CheckReport) -> None:
    """Heartbeat every `heartbeat_seconds` (from a random phase, as pages opened at different times) until check."""
    if page.closed is not None:
        return
    delay = page.rng.random() * spec.heartbeat_seconds
    while True:
        # Sleep until the next heartbeat is due, or until the parent asks for the check: the timeout is the
        # usual way out.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(check_now.wait(), delay)
        checking = check_now.is_set()
        outcome.heartbeats_sent += 1
        try:
            reply = await page.request({"type": "heartbeat"}, 3 * spec.heartbeat_seconds)
        except ConnectionClosed as exc:
            page.closed = f"closed: {exc}"
            return
        except TimeoutError:
            outcome.heartbeat_timeouts += 1
            if checking:
                return
            continue
        if reply.get("type") == "heartbeat_ack":
            outcome.heartbeats_answered += 1
            page.answered_check = checking
        if checking:
            return
        delay = spec.heartbeat_seconds
