"""The operator channel: one authenticated WebSocket that carries every page's traffic to the operator.

Page messages go up as envelopes, batched: each text frame is a JSON array of everything queued since the
previous frame. The writer wakes as soon as the event loop is free after something is queued and sends
what has accumulated, so batches grow on their own exactly when the operator or the network is slower
than the pages. Operator envelopes come down and are delivered to worker sockets without waiting.

When the router runs on the operator's own event loop (the local architect's default), the operator may open a
local session instead (`open_local`): the same queue, back-pressure and `hello`, but envelopes stay Python
objects handed to the operator's callbacks, and operator envelopes are encoded once, for the page's socket.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from mephisto_core.router.build_receiver import BuildReceiver
from mephisto_core.router.build_store import BuildStore
from mephisto_core.router.http_server import WsConnection
from mephisto_core.router.run_over import RUN_OVER_EVENT, PageAnswers, RunOver
from mephisto_core.router.shards import Shard
from mephisto_core.router.versions import PROTOCOL_VERSION
from mephisto_core.router.worker_registry import WorkerRegistry, is_sendable_close_code

if TYPE_CHECKING:  # the abstractions import pydantic: a router process starts faster without it
    from mephisto_core.abstractions.architect import EnvelopeHandler, UploadHandler

logger = logging.getLogger(__name__)

# Above this many queued bytes, worker sockets stop being read until the queue drains below the low
# mark: TCP then slows the pages down instead of the router's memory growing.
QUEUE_HIGH_WATER = 16 * 2**20
QUEUE_LOW_WATER = 4 * 2**20
# A batch stops growing at about this many characters; one larger envelope still goes alone.
MAX_BATCH_CHARS = 2**20
# The channel carries every worker's traffic, so it may buffer more than one worker socket would.
CHANNEL_WRITE_BUFFER = 4 * 2**20
# Sent to a channel that a newer authenticated channel replaced.
REPLACED_CLOSE_CODE = 4000
# What an open/close event counts for against the high-water mark in a local session (about its JSON size).
_EVENT_SIZE = 48

# A local session queues (size, connection id, envelope or upload frame); a socket session queues the UTF-8 JSON
# of envelopes (bytes), batched into one text frame, and uploads (bytearray), each its own binary frame.
_LocalItem = tuple[int, int, dict[str, Any] | bytes]


def dumps(value: object) -> bytes:
    """Compact JSON (UTF-8) of `value`; what orjson cannot hold (integers beyond 64 bits, keys that are not
    strings) the standard way."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(eq=False)
class _Session:
    """One connected operator (a socket, or a local session on this event loop) and its writer task."""

    socket: WsConnection | None = None
    local: LocalSession | None = None
    writer: asyncio.Task[None] | None = field(default=None)


class LocalSession:
    """An operator on the router's own event loop (see `OperatorChannel.open_local`)."""

    def __init__(self, channel: OperatorChannel, on_envelope: EnvelopeHandler, on_upload: UploadHandler) -> None:
        self._channel = channel
        self.on_envelope = on_envelope
        self.on_upload = on_upload
        self._open = True

    @property
    def is_open(self) -> bool:
        """False once closed by either end or replaced by a newer operator channel."""
        return self._open

    def send(self, envelope: dict[str, Any]) -> None:
        """Deliver an operator envelope to its worker socket now; dropped once the session is closed."""
        if self._open:
            self._channel.deliver(envelope)
        else:
            # As over a closed socket: the page asks again once the operator is back.
            logger.debug("dropping an envelope sent on a closed local channel session")

    def close(self) -> None:
        """End the session, dropping what is queued for the operator."""
        self._channel.end_local(self)

    def mark_closed(self) -> None:
        """Called by the channel when the session ends."""
        self._open = False


class OperatorChannel:
    """The router's end of the operator channel (see docs/protocol.md, "Operator channel")."""

    def __init__(
        self,
        router_id: str,
        workers: WorkerRegistry,
        builds: BuildStore | None = None,
        *,
        on_build_served: Callable[[], Awaitable[None]] | None = None,
        run_over: RunOver | None = None,
        shard: Shard | None = None,
    ) -> None:
        self._router_id = router_id
        self._shard = shard or Shard()
        self._run_over = run_over if run_over is not None else RunOver()
        self._workers = workers
        self._builds = builds if builds is not None else BuildStore()
        self._on_build_served = on_build_served
        self._install_lock = asyncio.Lock()
        self._session: _Session | None = None
        # Frames (str | bytes) for a socket session, `_LocalItem`s for a local one: `serve` and `open_local`
        # empty it when a session starts, so the two kinds never mix.
        self._outbox: deque[Any] = deque()
        self._outbox_size = 0
        self._wakeup = asyncio.Event()
        self._uncongested = asyncio.Event()
        self._uncongested.set()
        # Worker sockets paused while the queue was over its high-water mark; read again once it drains.
        self._paused: set[WsConnection] = set()

    @property
    def connected(self) -> bool:
        """Whether an operator is connected now."""
        return self._session is not None

    @property
    def congested(self) -> bool:
        """Whether the outgoing queue is over its high-water mark (workers should wait before reading)."""
        return not self._uncongested.is_set()

    async def wait_uncongested(self) -> None:
        """Wait until the outgoing queue drains below its low-water mark or the operator goes away."""
        await self._uncongested.wait()

    def pause_reader(self, conn: WsConnection) -> None:
        """Stop reading a worker socket until the queue drains (TCP then slows that page down)."""
        conn.pause_reading()
        self._paused.add(conn)

    def forget_reader(self, conn: WsConnection) -> None:
        """A worker socket closed: nothing to resume."""
        self._paused.discard(conn)

    def _set_uncongested(self) -> None:
        self._uncongested.set()
        if self._paused:
            paused = list(self._paused)
            self._paused.clear()
            for conn in paused:
                conn.resume_reading()

    # Page -> operator.

    def worker_opened(self, conn_id: int, ip: str) -> None:
        """Tell the operator a worker socket opened."""
        session = self._session
        if session is None:
            return
        if session.local is not None:
            self._enqueue((_EVENT_SIZE, conn_id, {"conn": conn_id, "event": "open", "ip": ip}), _EVENT_SIZE)
        else:
            self._enqueue_frame(b'{"conn":%d,"event":"open","ip":%s}' % (conn_id, orjson.dumps(ip)))

    def worker_closed(self, conn_id: int, *, left: bool = False) -> None:
        """Tell the operator a worker socket closed; `left` when the page closed it itself (it does not come back
        for an answer sent before), not when it was lost or closed by the router."""
        session = self._session
        if session is None:
            return
        if session.local is not None:
            event = {"conn": conn_id, "event": "close", "left": True} if left else {"conn": conn_id, "event": "close"}
            self._enqueue((_EVENT_SIZE, conn_id, event), _EVENT_SIZE)
        elif left:
            self._enqueue_frame(b'{"conn":%d,"event":"close","left":true}' % conn_id)
        else:
            self._enqueue_frame(b'{"conn":%d,"event":"close"}' % conn_id)

    def relay_text(self, conn_id: int, text: bytes, message: dict[str, Any] | None = None) -> None:
        """Relay a checked page message: `text` is the page's own JSON (UTF-8), embedded in a frame without
        re-encoding; `message` is the same text already decoded, handed as it is to a local session."""
        session = self._session
        if session is not None and session.local is not None:
            body = message if message is not None else json.loads(text)  # exact: every integer as sent
            self._enqueue((len(text), conn_id, {"conn": conn_id, "msg": body}), len(text))
        else:
            self._enqueue_frame(b'{"conn":%d,"msg":%s}' % (conn_id, text))

    def relay_upload(self, conn_id: int, frame: bytes) -> None:
        """Relay a checked upload frame (over a socket: prefixed with the 8-byte big-endian connection id)."""
        session = self._session
        if session is not None and session.local is not None:
            self._enqueue((len(frame), conn_id, frame), len(frame))
        else:
            upload = bytearray(conn_id.to_bytes(8, "big"))
            upload += frame
            self._enqueue_frame(upload)

    def _enqueue_frame(self, item: bytes | bytearray) -> None:
        self._enqueue(item, len(item))

    def _enqueue(self, item: bytes | bytearray | _LocalItem, size: int) -> None:
        self._outbox.append(item)
        self._outbox_size += size
        if self._outbox_size > QUEUE_HIGH_WATER:
            self._uncongested.clear()
        self._wakeup.set()

    def _drop_outbox(self) -> None:
        if self._outbox:
            # Pages retry: an unanswered request is sent again after `unavailable` or a reconnect.
            logger.warning("dropping %d messages queued for a closed operator channel", len(self._outbox))
        self._outbox.clear()
        self._outbox_size = 0
        self._set_uncongested()

    def _send_next_frame(self, socket: WsConnection) -> None:
        first = self._outbox.popleft()
        size = len(first)
        if isinstance(first, bytearray):
            socket.send_binary(first)  # an upload, in its own binary frame
        else:
            batch = [first]
            while self._outbox and size < MAX_BATCH_CHARS:
                item = self._outbox[0]
                if isinstance(item, bytearray):
                    break  # an upload goes in its own binary frame, in order
                self._outbox.popleft()
                batch.append(item)
                size += len(item)
            socket.send_text(b"[" + b",".join(batch) + b"]")
        self._outbox_size -= size
        if self._outbox_size <= QUEUE_LOW_WATER and not self._uncongested.is_set():
            self._set_uncongested()

    async def _write_loop(self, socket: WsConnection, session: _Session) -> None:
        while socket.open:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._outbox and self._session is session and socket.open:
                if not socket.writable:
                    # Only a full socket buffer waits; meanwhile the next batch grows.
                    await socket.wait_writable()
                    continue
                self._send_next_frame(socket)

    async def _local_write_loop(self, local: LocalSession, session: _Session) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._outbox and self._session is session:
                size, conn_id, payload = self._outbox.popleft()
                self._outbox_size -= size
                if self._outbox_size <= QUEUE_LOW_WATER and not self._uncongested.is_set():
                    self._set_uncongested()
                # Awaited one at a time, in order, like frames read off the socket: a slow operator
                # leaves the queue growing here, and past the high-water mark the pages wait.
                try:
                    if isinstance(payload, bytes):
                        await local.on_upload(conn_id, payload)
                    else:
                        await local.on_envelope(payload)
                except Exception:
                    # An operator bug; over a socket it would cost the connection. Keep the channel and the trace.
                    logger.exception("the operator failed on an envelope from connection %d", conn_id)

    # Operator -> page.

    def _on_operator_text(self, frame: bytes, receiver: BuildReceiver | None = None) -> None:
        # orjson reads an integer beyond 64 bits as the nearest float: the same number to a page, whose JSON.parse
        # reads every number as a double anyway. What orjson refuses gets the standard decoder's verdict.
        try:
            batch = orjson.loads(frame)
        except orjson.JSONDecodeError:
            try:
                batch = json.loads(frame.decode("utf-8"))
            except (ValueError, RecursionError) as exc:
                logger.warning("ignoring an operator frame that is not JSON: %s", exc)
                return
        if not isinstance(batch, list):
            logger.warning("ignoring an operator frame that is not a JSON array of envelopes")
            return
        for envelope in batch:
            if receiver is not None and isinstance(envelope, dict) and "build" in envelope:
                receiver.on_envelope(envelope)
            else:
                self.deliver(envelope)

    @property
    def run_over(self) -> bool:
        """Whether the operator said the run is over (and no operator connected since)."""
        return self._run_over.is_set

    def answers_after_run_over(self, token: object) -> PageAnswers | None:
        """What the operator left for the page holding `token` as the run ended (None: nothing, or not over)."""
        return self._run_over.answers_for(token)

    def deliver(self, envelope: object) -> None:
        """Deliver one operator envelope to its worker socket (or close it), checked as if it came as JSON; or
        note that the run is over (`{"event": "run_over"}`)."""
        if isinstance(envelope, dict) and envelope.get("event") == RUN_OVER_EVENT and "conn" not in envelope:
            self._run_over.set(envelope.get("answers"))
            return
        if not isinstance(envelope, dict) or not _is_int(envelope.get("conn")):
            logger.warning("ignoring an operator envelope without an integer 'conn': %.200r", envelope)
            return
        conn_id: int = envelope["conn"]
        if "msg" in envelope:
            message = envelope["msg"]
            if not isinstance(message, dict):
                logger.warning("ignoring an envelope for conn %d whose 'msg' is not an object", conn_id)
                return
            try:
                text = dumps(message)
            except (TypeError, ValueError) as exc:  # only a local session can hand over what JSON cannot hold
                logger.error("ignoring an envelope for conn %d that is not JSON: %s", conn_id, exc)
                return
            # A closed socket's messages are dropped: the page will reconnect and ask again.
            self._workers.send(conn_id, text)
        elif "close" in envelope:
            code = envelope["close"]
            reason = envelope.get("reason", "")
            if not _is_int(code) or not is_sendable_close_code(code) or not isinstance(reason, str):
                logger.warning("ignoring a close envelope for conn %d with code %.50r", conn_id, code)
                return
            self._workers.close(conn_id, code, reason)
        else:
            logger.warning("ignoring an envelope for conn %d with neither 'msg' nor 'close'", conn_id)

    # The channel's lifetime.

    def _hello(self) -> dict[str, Any]:
        # First envelope: who we are and which sockets are open, so a restarted operator can reconcile; which
        # build we serve, so an operator that pushes builds knows whether to push.
        return {
            "event": "hello",
            "router_id": self._router_id,
            "conns": self._workers.open_ids(),
            "shard": self._shard.as_list(),
            "protocol": PROTOCOL_VERSION,
            "build": self._builds.digest,
        }

    def _begin(self, session: _Session, replaced_by: str) -> None:
        previous = self._session
        self._session = session
        self._run_over.clear()
        self._drop_outbox()
        if previous is not None:
            logger.warning("a new operator channel (%s) replaces %s", replaced_by, _describe(previous))
            self._retire(previous)

    def open_local(self, on_envelope: EnvelopeHandler, on_upload: UploadHandler) -> LocalSession:
        """Connect an operator that runs on this event loop: page traffic goes to its callbacks as objects.

        Must be called on the router's event loop. The router's `hello` is the first envelope delivered; a
        newer session (local or socket) replaces this one.
        """
        local = LocalSession(self, on_envelope, on_upload)
        session = _Session(local=local)
        self._begin(session, "in this process")
        self._enqueue((_EVENT_SIZE, 0, self._hello()), _EVENT_SIZE)
        session.writer = asyncio.get_running_loop().create_task(
            self._local_write_loop(local, session), name="mephisto-router-local-channel"
        )
        return local

    def end_local(self, local: LocalSession) -> None:
        """End a local session (its operator stopped); nothing happens if it already ended."""
        session = self._session
        if session is not None and session.local is local:
            self._session = None
            self._drop_outbox()
            self._retire(session)
        local.mark_closed()

    def close_local(self) -> None:
        """End the local session if one is open (the router stops)."""
        session = self._session
        if session is not None and session.local is not None:
            self.end_local(session.local)

    def socket_handler(self) -> ChannelSocket:
        """The handler of one authenticated operator connection (a newer one replaces it when it opens)."""
        return ChannelSocket(self)

    def begin_socket(self, socket: WsConnection) -> _Session:
        """A socket session starts: it replaces any other and gets the router's `hello` first."""
        session = _Session(socket)
        self._begin(session, f"from {socket.remote_address}")
        transport = socket.transport
        assert transport is not None
        transport.set_write_buffer_limits(high=CHANNEL_WRITE_BUFFER)
        self._enqueue_frame(dumps(self._hello()))
        session.writer = asyncio.get_running_loop().create_task(self._write_loop(socket, session))
        return session

    def send_event(self, session: _Session, event: dict[str, Any]) -> None:
        """Queue a router event for the operator of `session`, unless a newer channel replaced it."""
        if self._session is session:  # a replaced or closed channel's operator is gone
            self._enqueue_frame(dumps(event))

    def end_socket(self, session: _Session) -> None:
        """A socket session's connection ended: pages get `unavailable` until an operator is back."""
        if session.writer is not None:
            session.writer.cancel()
        if self._session is session:
            self._session = None
            self._drop_outbox()

    def _retire(self, session: _Session) -> None:
        if session.writer is not None:
            session.writer.cancel()
        if session.local is not None:
            session.local.mark_closed()
        if session.socket is None:
            return
        session.socket.close(REPLACED_CLOSE_CODE, "replaced by a newer operator channel")


class ChannelSocket:
    """The `MessageHandler` of one operator connection: batches of envelopes and build pushes come in."""

    def __init__(self, channel: OperatorChannel) -> None:
        self._channel = channel
        self._session: _Session | None = None
        self._receiver: BuildReceiver | None = None

    def on_open(self, conn: WsConnection) -> None:
        channel = self._channel
        session = self._session = channel.begin_socket(conn)
        self._receiver = BuildReceiver(
            channel._builds,
            channel._install_lock,
            lambda event: channel.send_event(session, event),
            on_served=channel._on_build_served,
        )

    def on_text(self, conn: WsConnection, data: bytes) -> None:
        # The decoder checks the UTF-8 (the trusted operator's frames are not checked twice).
        self._channel._on_operator_text(data, self._receiver)

    def on_binary(self, conn: WsConnection, data: bytes) -> None:
        assert self._receiver is not None
        self._receiver.on_chunk(data)  # binary frames from the operator are build pushes only

    def on_close(self, conn: WsConnection) -> None:
        if self._session is not None:
            self._channel.end_socket(self._session)


def _describe(session: _Session) -> str:
    if session.socket is not None:
        return f"the one from {session.socket.remote_address}"
    return "the one in this process"
