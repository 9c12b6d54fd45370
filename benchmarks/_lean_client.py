"""The lean bot: what `SimulatedWorker` does on the wire, on raw asyncio protocols, at a fraction of its CPU.

`SimulatedWorker` (mephisto_core.operations.run.simulate) runs on the `websockets` client with a task per bot
and JSON encoding per message; on a 2-core machine the load generators then cost about as much CPU per unit as
the server they measure. A `LeanBot` speaks the same protocol steps (docs/protocol.md) with the least work:

- the page GET and the WebSocket opening handshake (RFC 6455 section 4.1) are bytes made once per bot;
- client frames are masked, as the RFC requires, with the all-zero masking key: a legal key (section 5.3 asks
  for an unpredictable one to protect proxies, which a benchmark on 127.0.0.1 does not have), and XOR with
  zero leaves the payload unchanged, so masking costs nothing. The server cannot tell the difference;
- `hello` and `submit` frames are assembled from precomputed byte pieces; only the answers are parsed (orjson);
- everything after the handshake runs in protocol callbacks: no task wakes per message, a bot's coroutine only
  waits for its connection to end.

Steps, as `SimulatedWorker` with `fetch_page=True` and no uploads: GET the page, open `/ws`, `hello` (with the
unit's token after a reconnect), `assigned`, think, `submit` with a fresh `submit_key` and the blueprint's
answer, `submitted`, `hello` again. `refused` `no_units` waits 0.2-0.5 s and asks again, any other refusal ends
the bot; `unavailable` is resent with the same keys after a backoff; `not_assigned` says `hello` with the token
and resends; a socket closed with 1001 (the server shut down) ends the bot, any other loss reconnects with
backoff and resends the unacknowledged submit with the same `submit_key`. The bot answers the server's pings
(the router drops sockets that do not) and sends no heartbeats, as `SimulatedWorker` does not.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import logging
import os
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlencode, urlsplit

import orjson

from mephisto_core.operations.run.time_keys import time_prefix

log = logging.getLogger(__name__)

GIVE_UP_AFTER_FAILURES = 8  # as SimulatedWorker: consecutive failed connections mean the server is gone
RETRY_FIRST_SECONDS = 0.1
RETRY_MAX_SECONDS = 2.0
CONNECT_TIMEOUT_S = 30.0
CLOSE_GOING_AWAY = 1001
_UNIT_LOST = frozenset({"gone", "already_submitted", "not_your_unit"})
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
_ZERO_MASK = b"\0\0\0\0"

#: the outputs of an answer to a page (its init_data; whether it is an onboarding test), encoded as a JSON object
AnswerBytes = Callable[[dict[str, Any], random.Random, bool], bytes]


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One final, masked client frame with the all-zero masking key (so the payload goes as it is)."""
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return header + _ZERO_MASK + payload


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The system's trust store (or SSL_CERT_FILE's), loaded once per process rather than per connection."""
    return ssl.create_default_context()


@dataclass
class LeanReport:
    """What one lean bot did; latencies in seconds, the first unit's apart (the start-up burst)."""

    submitted: int = 0
    refusals: int = 0
    resends: int = 0
    error_times: list[float] = field(default_factory=list)  # wall clock, one per error
    connect_to_data: list[float] = field(default_factory=list)
    # the first unit's connect_to_data split where its WebSocket opened: opening the page (TCP connect, page GET,
    # TCP connect, WebSocket handshake) and hello to data
    first_open: float | None = None
    first_hello_to_data: float | None = None
    submit_to_ack: list[float] = field(default_factory=list)
    # wall clock when each connect_to_data and submit_to_ack ended (the latency timeline of load_e2e)
    data_at: list[float] = field(default_factory=list)
    ack_at: list[float] = field(default_factory=list)
    acknowledged_keys: list[str] = field(default_factory=list)
    first_hello: float | None = None  # wall clock
    last_ack: float | None = None  # wall clock
    ended_on_refusal: bool = False


@dataclass
class _Pending:
    agent_id: int
    unit_id: int
    submit_key: bytes
    outputs: bytes
    first_sent: float | None = None


class _PageGet(asyncio.Protocol):
    """GET the page and read it to the end (the server closes: `Connection: close`); only the status is looked at."""

    def __init__(self, request: bytes, done: asyncio.Future[bool]) -> None:
        self.request = request
        self.done = done
        self.status: bytes | None = None
        self.head = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport, though not an asyncio class on uvloop: no isinstance
        cast(asyncio.WriteTransport, transport).write(self.request)

    def data_received(self, data: bytes) -> None:
        if self.status is None:
            self.head += data
            end = self.head.find(b"\r\n")
            if end >= 0:
                self.status = self.head[:end]
                self.head = b""

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(self.status is not None and b" 200 " in self.status + b" ")


class _Socket(asyncio.Protocol):
    """One WebSocket connection of a bot: the handshake, then frames to `bot.on_message`."""

    def __init__(self, bot: LeanBot) -> None:
        self.bot = bot
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = bot.loop.create_future()
        self.ended: asyncio.Future[int | None] = bot.loop.create_future()  # the close code received, or None
        self.upgraded = False
        self.buffer = bytearray()
        self.fragments: list[bytes] = []
        self.close_code: int | None = None
        self.alive = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # as in _PageGet
        self.transport.write(self.bot.handshake)

    def send(self, frame: bytes) -> None:
        if self.alive and self.transport is not None:
            self.transport.write(frame)

    def close(self, code: int = 1000) -> None:
        if self.transport is not None and not self.transport.is_closing():
            if self.alive:
                self.transport.write(client_frame(0x8, code.to_bytes(2, "big")))
            self.alive = False
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end])
            del buf[: end + 4]
            if not head.startswith(b"HTTP/1.1 101") or self.bot.accept not in head:
                if not self.opened.done():
                    self.opened.set_exception(OSError(f"WebSocket handshake refused: {head[:200]!r}"))
                self.close()
                return
            self.upgraded = self.alive = True
            self.opened.set_result(None)
        pos, size = 0, len(buf)
        while size - pos >= 2:
            first, second = buf[pos], buf[pos + 1]
            length, header = second & 0x7F, 2
            if length == 126:
                if size - pos < 4:
                    break
                length, header = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, header = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            end = pos + header + length
            if end > size:
                break
            payload = bytes(buf[pos + header : end])
            pos = end
            opcode = first & 0x0F
            if opcode >= 0x8:
                self._control(opcode, payload)
            elif not first & 0x80:  # a fragment: wait for the final one
                self.fragments.append(payload)
            elif self.fragments:
                self.fragments.append(payload)
                message, self.fragments = b"".join(self.fragments), []
                self.bot.on_message(self, message)
            elif opcode == 0x1:
                self.bot.on_message(self, payload)
            if not self.alive:
                break
        del buf[:pos]

    def _control(self, opcode: int, payload: bytes) -> None:
        if opcode == 0x9:  # ping
            self.send(client_frame(0xA, payload))
        elif opcode == 0x8:  # close: answer with the same code, then let the server end the TCP connection
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self.close(self.close_code)

    def connection_lost(self, exc: Exception | None) -> None:
        self.alive = False
        if not self.opened.done():
            self.opened.set_exception(OSError(f"connection lost during the handshake: {exc}"))
        if not self.ended.done():
            self.ended.set_result(self.close_code)


class LeanBot:
    """One worker page, as `SimulatedWorker` does it (see the module docstring), with `LeanReport` as its report."""

    def __init__(
        self,
        base_url: str,
        worker_name: str,
        answer: AnswerBytes,
        *,
        seed: int = 0,
        think_seconds: float = 0.0,
        key_prefix: str = "",
    ) -> None:
        self.loop = asyncio.get_running_loop()
        parts = urlsplit(base_url.rstrip("/") + "/")
        self.secure = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.secure else 80)
        self.worker_name = worker_name
        self.answer = answer
        self.rng = random.Random(seed)
        self.think_seconds = think_seconds
        self.report = LeanReport()
        params = {"worker_id": worker_name}
        host = parts.netloc.encode()
        self.page_request = (
            b"GET " + (parts.path + "?" + urlencode(params)).encode() + b" HTTP/1.1\r\nHost: " + host
        ) + b"\r\nConnection: close\r\n\r\n"
        # One key per bot: the RFC asks for a fresh random one per connection, to stop caches from replaying an
        # answer; nothing caches here, and a fixed key lets the expected Sec-WebSocket-Accept be computed once.
        # Any 16 bytes will do: a hash of the seed, as seeding a second generator cost ~10 µs of the opening per bot.
        key = base64.b64encode(hashlib.blake2b(b"key-%d" % seed, digest_size=16).digest())
        self.accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
        self.handshake = (
            b"GET " + parts.path.encode() + b"ws HTTP/1.1\r\nHost: " + host + b"\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self._hello_head = b'{"type":"hello","params":' + orjson.dumps(params) + b',"token":'
        self._key_head = f"{key_prefix}{seed:06d}-".encode()  # keys of 8 characters at least
        self._keys = 0
        self._next_id = 0
        self._waiting_id = 0
        self._waiting: Callable[[_Socket, dict[str, Any]], None] | None = None
        self._retry_delay = RETRY_FIRST_SECONDS
        self._token: bytes | None = None  # the agent token, JSON-encoded
        self._pending: _Pending | None = None
        self._started = 0.0
        self._opened = 0.0  # when the current WebSocket opened
        self._over = False
        self._socket: _Socket | None = None

    # ---- the connection loop (a coroutine per bot, awake only between connections) ---------------------

    async def run(self) -> LeanReport:
        idle, failures = 0.05, 0
        try:
            while not self._over:
                self._started = time.perf_counter()
                try:
                    await self._open()
                except (OSError, TimeoutError) as exc:
                    failures += 1
                    if failures >= GIVE_UP_AFTER_FAILURES:
                        log.info("bot %s gives up: the server is unreachable (%s)", self.worker_name, exc)
                        return self.report
                    self._error()
                    log.debug("bot %s cannot connect: %s", self.worker_name, exc)
                else:
                    failures = 0
                    socket = self._socket
                    assert socket is not None
                    self._send_hello(socket)
                    code = await socket.ended
                    if self._over:
                        break
                    if code == CLOSE_GOING_AWAY:
                        return self.report  # the server shut down: the run is over
                    self._error()
                    log.debug("bot %s lost its connection (close code %s)", self.worker_name, code)
                await asyncio.sleep(idle + self.rng.random() * idle)
                idle = min(idle * 2, 1.0)
            return self.report
        finally:
            if self._socket is not None:
                self._socket.close()

    async def _open(self) -> None:
        context = _tls_context() if self.secure else None
        got: asyncio.Future[bool] = self.loop.create_future()
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            await self.loop.create_connection(
                lambda: _PageGet(self.page_request, got), self.host, self.port, ssl=context
            )
            if not await got:
                raise OSError(f"GET of the page for {self.worker_name} was not answered 200")
            _transport, socket = await self.loop.create_connection(
                lambda: _Socket(self), self.host, self.port, ssl=context
            )
            self._socket = socket
            await socket.opened
            self._opened = time.perf_counter()

    def _error(self) -> None:
        self.report.error_times.append(time.time())

    def _finish(self, socket: _Socket) -> None:
        self._over = True
        socket.close()

    # ---- requests -----------------------------------------------------------------------------------

    def _request(self, socket: _Socket, body: bytes, on_answer: Callable[[_Socket, dict[str, Any]], None]) -> None:
        """Send `body` (a JSON object without its closing brace) with the next id; `on_answer` gets the answer."""
        self._next_id += 1
        self._waiting_id = self._next_id
        self._waiting = on_answer
        socket.send(client_frame(0x1, body + b',"id":' + str(self._next_id).encode() + b"}"))

    def on_message(self, socket: _Socket, payload: bytes) -> None:
        if socket is not self._socket:
            return
        reply = orjson.loads(payload)
        if reply.get("id") != self._waiting_id or self._waiting is None:
            return  # pushes (status, live) are not answers; a bot has nothing to do with them
        on_answer, self._waiting = self._waiting, None
        if reply.get("type") == "error" and reply.get("code") == "unavailable":
            # The operator is away: the same request again after a backoff, as SimulatedWorker does.
            self.report.resends += 1
            delay = self._retry_delay
            self._retry_delay = min(delay * 2, RETRY_MAX_SECONDS)
            self.loop.call_later(delay / 2 + self.rng.random() * delay / 2, self._resend, socket, on_answer)
            return
        self._retry_delay = RETRY_FIRST_SECONDS
        on_answer(socket, reply)

    def _resend(self, socket: _Socket, on_answer: Callable[[_Socket, dict[str, Any]], None]) -> None:
        if socket is not self._socket or not socket.alive:
            return
        if on_answer == self._on_hello_answer:
            self._send_hello(socket)
        elif self._pending is not None:
            self._send_submit(socket, self._pending)

    def _send_hello(self, socket: _Socket) -> None:
        if self.report.first_hello is None:
            self.report.first_hello = time.time()
        token = self._token if self._token is not None else b"null"
        self._request(socket, self._hello_head + token, self._on_hello_answer)

    def _send_submit(self, socket: _Socket, pending: _Pending) -> None:
        if pending.first_sent is None:
            pending.first_sent = time.perf_counter()
        body = b'{"type":"submit","submit_key":"' + pending.submit_key + b'","outputs":' + pending.outputs
        self._request(socket, body + b',"uploads":[]', self._on_submit_answer)

    def _forget_unit(self, why: str) -> None:
        if self._pending is not None:
            self._error()
            log.info("bot %s drops its answer to unit %d: %s", self.worker_name, self._pending.unit_id, why)
        self._pending = None
        self._token = None

    # ---- answers ------------------------------------------------------------------------------------

    def _on_hello_answer(self, socket: _Socket, reply: dict[str, Any]) -> None:
        kind = reply.get("type")
        if kind == "refused":
            self.report.refusals += 1
            self._forget_unit("the server refused the bot")
            if reply.get("reason") == "no_units":
                self.loop.call_later(0.2 + self.rng.random() * 0.3, self._resend, socket, self._on_hello_answer)
                return
            self.report.ended_on_refusal = True
            self._finish(socket)
            return
        if kind == "preview":
            self._error()
            log.error("simulated worker %s was shown the preview", self.worker_name)
            self._finish(socket)
            return
        if kind == "expired":
            self._forget_unit(f"its attempt is over ({reply.get('status')})")
            self._send_hello(socket)
            return
        if kind != "assigned":
            self._error()
            self.loop.call_later(0.2, self._resend, socket, self._on_hello_answer)
            return
        pending = self._pending
        if pending is not None and pending.agent_id != reply["agent_id"]:
            self._forget_unit("the unit was given to someone else while the bot was away")
            pending = None
        self._token = orjson.dumps(reply["token"])
        if pending is not None:
            self.report.resends += 1  # the same submit again, on a new socket
            self._send_submit(socket, pending)
            return
        now = time.perf_counter()
        report = self.report
        if not report.connect_to_data:
            report.first_open = self._opened - self._started
            report.first_hello_to_data = now - self._opened
        report.connect_to_data.append(now - self._started)
        report.data_at.append(time.time())
        if self.think_seconds:
            pause = self.think_seconds * (0.5 + self.rng.random())
            self.loop.call_later(pause, self._answer_unit, socket, reply)
        else:
            self._answer_unit(socket, reply)

    def _answer_unit(self, socket: _Socket, reply: dict[str, Any]) -> None:
        if socket is not self._socket or not socket.alive:
            return  # the socket went while the bot was thinking: the reconnect says hello with the token
        if reply.get("submitted"):
            self._token = None  # done already: the next hello asks for a new unit
            self._started = time.perf_counter()
            self._send_hello(socket)
            return
        self._keys += 1
        pending = _Pending(
            agent_id=reply["agent_id"],
            unit_id=reply["unit_id"],
            # the page's time in milliseconds first, as mephisto-task.js makes its keys
            submit_key=time_prefix().encode() + self._key_head + str(self._keys).encode(),
            outputs=self.answer(reply["init_data"], self.rng, bool(reply.get("is_onboarding"))),
        )
        self._pending = pending
        self._send_submit(socket, pending)

    def _on_submit_answer(self, socket: _Socket, reply: dict[str, Any]) -> None:
        pending = self._pending
        assert pending is not None
        if reply.get("type") == "error" and reply.get("code") == "not_assigned":
            self._send_hello(socket)  # the operator does not know this socket: hello with the token, then resend
            return
        self._pending = None
        if reply.get("type") != "submitted":
            self._error()
            log.info("bot %s submit refused: %s", self.worker_name, reply)
            if reply.get("code") in _UNIT_LOST:
                self._token = None
            self._send_hello(socket)
            return
        self._token = None
        now = time.perf_counter()
        assert pending.first_sent is not None
        self.report.submit_to_ack.append(now - pending.first_sent)
        self.report.submitted += 1
        self.report.acknowledged_keys.append(pending.submit_key.decode())
        self.report.last_ack = time.time()
        self.report.ack_at.append(self.report.last_ack)
        self._started = now
        self._send_hello(socket)


def process_key_prefix() -> str:
    """A submit-key prefix unique to this process and run (keys are `time + prefix + bot seed + '-' + count`)."""
    return base64.urlsafe_b64encode(os.urandom(6)).decode() + "-"
