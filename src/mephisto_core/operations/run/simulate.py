"""Simulated workers: bots that do what a browser does, through the real router and protocol.

Each bot opens the worker page over HTTP, connects the WebSocket, says hello with the query parameters of its
link (the provider makes them: `CrowdProvider.simulated_worker_params`), gets a unit,
asks the blueprint for a valid answer, uploads its files, submits, waits for the acknowledgement, and starts
over until the run says it is over. Used by `mephisto launch --simulate N`, the tests and the benchmarks.

Retries follow the same contract as mephisto-task.js (docs/protocol.md): a request answered `unavailable` is sent
again after a backoff, and one unanswered for 30 s is sent again as it is; after a reconnect the bot says hello
with its agent token and resends the unacknowledged submit (and its uploads) with the same submit_key and upload
ids, so the operator stores it once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode

from mephisto_core.abstractions import Blueprint, CrowdProvider, SimulatedAnswer
from mephisto_core.operations.run.simulate_live import talk_live
from mephisto_core.operations.run.time_keys import time_prefix

log = logging.getLogger(__name__)


def page_key() -> str:
    """A fresh submit, upload or call key as the task page makes them (mephisto-task.js `freshKey`): the time
    (`time_keys.time_prefix`), then 16 random bytes as hex."""
    return time_prefix() + secrets.token_hex(16)


GIVE_UP_AFTER_FAILURES = 8  # consecutive failed connections (about 5 s with backoff) mean the server is gone
# Backoff for a request answered `unavailable` (the operator is away): doubling, with jitter, like the browser's.
RETRY_FIRST_SECONDS = 0.1
RETRY_MAX_SECONDS = 2.0
# A request unanswered this long is sent again on the same socket, as mephisto-task.js does (RESEND_AFTER_MS): its
# answer may have been lost with the router channel, and a finished run waits for such a resend (late_answers).
RESEND_AFTER_SECONDS = 30.0
# Answers meaning the unit is no longer this bot's: its agent token is of no more use.
_UNIT_LOST = frozenset({"gone", "already_submitted", "not_your_unit"})


@dataclass
class BotReport:
    """What one bot (or a crowd of them) did, with latencies in seconds.

    `errors` counts lost connections and requests the server refused for good; `resends` counts requests sent
    again, with the same keys, after an `unavailable` answer, a reconnect or RESEND_AFTER_SECONDS without an answer
    (the protocol's normal retries).
    """

    submitted: int = 0
    refusals: int = 0
    errors: int = 0
    resends: int = 0
    connect_to_data: list[float] = field(default_factory=list)
    submit_to_ack: list[float] = field(default_factory=list)
    acknowledged_keys: list[str] = field(default_factory=list)

    def merge(self, other: BotReport) -> None:
        self.submitted += other.submitted
        self.refusals += other.refusals
        self.errors += other.errors
        self.resends += other.resends
        self.connect_to_data += other.connect_to_data
        self.submit_to_ack += other.submit_to_ack
        self.acknowledged_keys += other.acknowledged_keys


AnswerFn = Callable[[dict[str, Any], random.Random], SimulatedAnswer]
Reply = dict[str, Any]


@dataclass
class _PendingSubmit:
    """A unit's answer until it is acknowledged; it outlives the socket, so a retry sends the same keys."""

    agent_id: int
    unit_id: int
    answer: SimulatedAnswer
    submit_key: str
    upload_ids: list[str]  # one per file of the answer, made once
    uploaded: set[str] = field(default_factory=set)  # the upload ids the server acknowledged
    first_sent: float | None = None  # perf_counter time of the first submit, for submit_to_ack


class SimulatedWorker:
    """One bot worker.

    `link_params` are the query parameters of the bot's worker link; without them the bot uses the mock
    provider's `?worker_id=NAME` (tests and benchmarks on the mock provider). A launch asks the provider.
    """

    def __init__(
        self,
        base_url: str,
        worker_name: str,
        answer: AnswerFn,
        *,
        seed: int = 0,
        ack_log: Path | None = None,
        max_units: int | None = None,
        think_seconds: float = 0.0,
        fetch_page: bool = True,
        link_params: Mapping[str, str] | None = None,
        calls: Sequence[tuple[str, Any]] = (),
    ) -> None:
        #: remote procedure calls (name, args) made on each unit before answering it (the task's SIMULATED_CALLS)
        self.calls = tuple(calls)
        self.base_url = base_url.rstrip("/") + "/"
        self.worker_name = worker_name
        self.link_params = dict(link_params) if link_params is not None else {"worker_id": worker_name}
        self.answer = answer
        self.rng = random.Random(seed)
        self.ack_log = ack_log
        self.max_units = max_units
        self.think_seconds = think_seconds
        self.fetch_page = fetch_page
        self.report = BotReport()
        self._next_id = 0
        # The agent token of the unit in hand (sent in hello, as the browser does) and its unacknowledged answer.
        self._token: str | None = None
        self._pending: _PendingSubmit | None = None

    async def run(self) -> BotReport:
        """Work until the run is over (or `max_units` are done); reconnect when the socket drops."""
        params = self.link_params
        ws_url = "ws" + self.base_url[4:] + "ws"
        idle = 0.05
        failures = 0
        while self.max_units is None or self.report.submitted < self.max_units:
            try:
                started = time.perf_counter()
                if self.fetch_page:
                    await http_get(self.base_url + "?" + urlencode(params))
                async with connect(ws_url, max_size=None, open_timeout=30) as ws:
                    failures = 0
                    over = await self._work(ws, params, started)
                if over:
                    return self.report
            except ConnectionClosed as exc:
                if exc.rcvd is not None and exc.rcvd.code == CloseCode.GOING_AWAY:
                    return self.report  # the server shut down: the run is over
                self.report.errors += 1
                log.debug("bot %s lost its connection: %s", self.worker_name, exc)
            except (OSError, TimeoutError) as exc:
                failures += 1
                if failures >= GIVE_UP_AFTER_FAILURES:
                    log.info("bot %s gives up: the server is unreachable (%s)", self.worker_name, exc)
                    return self.report
                self.report.errors += 1
                log.debug("bot %s cannot connect: %s", self.worker_name, exc)
            await asyncio.sleep(idle + self.rng.random() * idle)
            idle = min(idle * 2, 1.0)
        return self.report

    async def _work(self, ws: ClientConnection, params: dict[str, str], started: float) -> bool:
        """Do units on one socket; True when the run is over for this bot."""
        while self.max_units is None or self.report.submitted < self.max_units:
            reply = await self._until_answered(
                lambda: self._request(ws, {"type": "hello", "params": params, "token": self._token})
            )
            if reply["type"] == "refused":
                self.report.refusals += 1
                self._forget_unit("the server refused the bot")
                if reply["reason"] == "no_units":
                    await asyncio.sleep(0.2 + self.rng.random() * 0.3)
                    continue
                return True
            if reply["type"] == "preview":
                # The link did not make the bot a worker: asking again would never change that.
                self.report.errors += 1
                log.error(
                    "simulated worker %s was shown the preview: its link %s does not identify a worker",
                    self.worker_name,
                    urlencode(params),
                )
                return True
            if reply["type"] == "expired":
                # The attempt the token named is over (timed out, away too long): its answer is stored nowhere,
                # and the next hello, without token, asks for the next unit.
                self._forget_unit(f"its attempt is over ({reply.get('status')})")
                continue
            if reply["type"] != "assigned":
                self.report.errors += 1
                await asyncio.sleep(0.2)
                continue
            if self._pending is not None and self._pending.agent_id != reply["agent_id"]:
                # Away longer than the grace period: the unit went back to the pool and this answer with it.
                self._forget_unit("the unit was given to someone else while the bot was away")
            self._token = reply["token"]
            pending = self._pending
            if pending is None:
                self.report.connect_to_data.append(time.perf_counter() - started)
                if self.think_seconds:
                    await asyncio.sleep(self.think_seconds * (0.5 + self.rng.random()))
                if reply.get("submitted"):
                    self._token = None  # done already: the next hello asks for a new unit
                    started = time.perf_counter()
                    continue
                answer = self.answer(reply["init_data"], self.rng)
                if answer.live:
                    if await talk_live(ws, answer, self.rng, self.think_seconds):
                        self.report.submitted += 1
                    self._token = None  # settled by the task either way: the next hello asks for a new unit
                    started = time.perf_counter()
                    continue
                await self._call_procedures(ws)
                upload_ids = [page_key() for _ in answer.files]
                pending = _PendingSubmit(reply["agent_id"], reply["unit_id"], answer, page_key(), upload_ids)
                self._pending = pending
            else:
                self.report.resends += 1  # the same submit again, on a new socket
            ack = await self._send_pending(ws, pending)
            if ack is None:
                continue  # the operator does not know this socket (it restarted): hello again, then resend
            self._pending = None
            if ack["type"] != "submitted":
                self.report.errors += 1
                log.info("bot %s submit refused: %s", self.worker_name, ack)
                if ack.get("code") in _UNIT_LOST:
                    self._token = None
                continue
            self._token = None
            assert pending.first_sent is not None
            self.report.submit_to_ack.append(time.perf_counter() - pending.first_sent)
            self.report.submitted += 1
            self.report.acknowledged_keys.append(pending.submit_key)
            if self.ack_log is not None:
                with self.ack_log.open("a") as fh:
                    record = {"worker": self.worker_name, "submit_key": pending.submit_key, "unit_id": pending.unit_id}
                    fh.write(json.dumps(record) + "\n")
            started = time.perf_counter()
        return True

    async def _call_procedures(self, ws: ClientConnection) -> None:
        """Call the task's procedures as its page would; a refused call is the task's answer, not a bot error."""
        for name, args in self.calls:
            msg = {"type": "call", "call_key": page_key(), "name": name, "args": args}
            reply = await self._until_answered(partial(self._request, ws, msg))
            if reply.get("type") != "call_result":
                log.info("bot %s: call %s answered %s", self.worker_name, name, reply.get("code"))

    def _forget_unit(self, why: str) -> None:
        if self._pending is not None:
            self.report.errors += 1
            log.info("bot %s drops its answer to unit %d: %s", self.worker_name, self._pending.unit_id, why)
        self._pending = None
        self._token = None

    async def _send_pending(self, ws: ClientConnection, pending: _PendingSubmit) -> Reply | None:
        """Upload what is not acknowledged yet, then submit; the final answer, or None when a new hello is needed."""
        for (field_name, name, content_type, data), upload_id in zip(
            pending.answer.files, pending.upload_ids, strict=True
        ):
            if upload_id in pending.uploaded:
                continue
            reply = await self._until_answered(
                partial(self._upload, ws, field_name, name, content_type, data, upload_id)
            )
            if reply.get("type") != "upload_ack":
                return None if reply.get("code") == "not_assigned" else reply
            pending.uploaded.add(upload_id)
        if pending.first_sent is None:
            pending.first_sent = time.perf_counter()
        submit = {"submit_key": pending.submit_key, "outputs": pending.answer.outputs, "uploads": pending.upload_ids}
        ack = await self._until_answered(lambda: self._request(ws, {"type": "submit", **submit}))
        return None if ack.get("code") == "not_assigned" else ack

    async def _until_answered(self, attempt: Callable[[], Awaitable[Reply]]) -> Reply:
        """Make the request until the answer is something other than `unavailable`, backing off in between."""
        delay = RETRY_FIRST_SECONDS
        while True:
            reply = await attempt()
            if not (reply.get("type") == "error" and reply.get("code") == "unavailable"):
                return reply
            await asyncio.sleep(delay / 2 + self.rng.random() * delay / 2)
            delay = min(delay * 2, RETRY_MAX_SECONDS)
            self.report.resends += 1

    async def _request(self, ws: ClientConnection, msg: dict[str, Any]) -> Reply:
        self._next_id += 1
        msg["id"] = self._next_id
        return await self._ask(ws, json.dumps(msg), self._next_id)

    async def _ask(self, ws: ClientConnection, frame: str | bytes, request_id: int) -> Reply:
        """Send `frame` and return its answer; sent again as it is while unanswered for RESEND_AFTER_SECONDS."""
        await ws.send(frame)
        while True:
            try:
                async with asyncio.timeout(RESEND_AFTER_SECONDS):
                    return await self._answer_to(ws, request_id)
            except TimeoutError:
                self.report.resends += 1
                await ws.send(frame)

    async def _answer_to(self, ws: ClientConnection, request_id: int) -> Reply:
        while True:
            reply = json.loads(await ws.recv())
            if reply.get("id") == request_id:
                return dict(reply)
            # Pushes (status, live) are not answers; a bot has nothing to do with them.

    async def _upload(
        self, ws: ClientConnection, field_name: str, name: str, content_type: str, data: bytes, upload_id: str
    ) -> Reply:
        self._next_id += 1
        header = json.dumps(
            {
                "type": "upload",
                "id": self._next_id,
                "upload_id": upload_id,
                "field": field_name,
                "name": name,
                "content_type": content_type,
            }
        ).encode()
        return await self._ask(ws, len(header).to_bytes(4, "big") + header + data, self._next_id)


async def http_get(url: str) -> bytes:
    """A minimal HTTP/1.1 GET over asyncio streams (what a browser's first request costs the server)."""
    parts = urlsplit(url)
    secure = parts.scheme == "https"  # a router behind TLS (the remote architect): the system's trust store
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port or (443 if secure else 80), ssl=secure)
    try:
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        writer.write(f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        response = await reader.read()
    finally:
        writer.close()
    status = response.split(b"\r\n", 1)[0]
    if b" 200 " not in status:
        raise OSError(f"GET {url} answered {status.decode(errors='replace')}")
    return response.split(b"\r\n\r\n", 1)[-1]


async def run_crowd(
    base_url: str,
    blueprint: Blueprint,
    count: int,
    *,
    ack_log: Path | None = None,
    name_prefix: str = "sim",
    think_seconds: float = 0.0,
    max_units: int | None = None,
    provider: CrowdProvider | None = None,
    calls: Sequence[tuple[str, Any]] = (),
) -> BotReport:
    """Run `count` simulated workers concurrently until the run is over; return their combined report.

    With `provider`, each bot's link is the one the provider makes for it (ProviderError when it cannot
    simulate, before any bot starts); without, the mock provider's `?worker_id=NAME`.
    """
    names = [f"{name_prefix}-{i}" for i in range(count)]
    params = {name: provider.simulated_worker_params(name) if provider is not None else None for name in names}
    bots = [
        SimulatedWorker(
            base_url,
            name,
            blueprint.simulate_answer,
            seed=i,
            ack_log=ack_log,
            think_seconds=think_seconds,
            max_units=max_units,
            link_params=params[name],
            calls=calls,
        )
        for i, name in enumerate(names)
    ]
    total = BotReport()
    for report in await asyncio.gather(*(bot.run() for bot in bots)):
        total.merge(report)
    return total
