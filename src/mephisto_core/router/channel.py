"""The operator channel: one authenticated WebSocket that carries every page's traffic to the operator.

Page messages go up as envelopes, batched: each text frame is a JSON array of everything queued since the
previous frame. The writer wakes as soon as the event loop is free after something is queued and sends
what has accumulated, so batches grow on their own exactly when the operator or the network is slower
than the pages. Operator envelopes come down and are delivered to worker sockets without waiting.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from dataclasses import dataclass, field

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from mephisto_core.router.worker_registry import WorkerRegistry, is_sendable_close_code

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


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(eq=False)
class _Session:
    """One connected operator socket and its writer task."""

    socket: ServerConnection
    writer: asyncio.Task[None] | None = field(default=None)


class OperatorChannel:
    """The router's end of the operator channel (see docs/protocol.md, "Operator channel")."""

    def __init__(self, router_id: str, workers: WorkerRegistry) -> None:
        self._router_id = router_id
        self._workers = workers
        self._session: _Session | None = None
        self._outbox: deque[str | bytes] = deque()
        self._outbox_size = 0
        self._wakeup = asyncio.Event()
        self._uncongested = asyncio.Event()
        self._uncongested.set()
        self._closing: set[asyncio.Task[None]] = set()

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

    # Page -> operator.

    def worker_opened(self, conn_id: int, ip: str) -> None:
        """Tell the operator a worker socket opened."""
        if self._session is not None:
            self._enqueue(json.dumps({"conn": conn_id, "event": "open", "ip": ip}, separators=(",", ":")))

    def worker_closed(self, conn_id: int) -> None:
        """Tell the operator a worker socket closed."""
        if self._session is not None:
            self._enqueue(f'{{"conn":{conn_id},"event":"close"}}')

    def relay_text(self, conn_id: int, text: str) -> None:
        """Relay a checked page message; `text` is the page's own JSON, embedded without re-encoding."""
        self._enqueue(f'{{"conn":{conn_id},"msg":{text}}}')

    def relay_upload(self, conn_id: int, frame: bytes) -> None:
        """Relay a checked upload frame, prefixed with the 8-byte big-endian connection id."""
        self._enqueue(conn_id.to_bytes(8, "big") + frame)

    def _enqueue(self, item: str | bytes) -> None:
        self._outbox.append(item)
        self._outbox_size += len(item)
        if self._outbox_size > QUEUE_HIGH_WATER:
            self._uncongested.clear()
        self._wakeup.set()

    def _drop_outbox(self) -> None:
        if self._outbox:
            # Pages retry: an unanswered request is sent again after `unavailable` or a reconnect.
            logger.warning("dropping %d messages queued for a closed operator channel", len(self._outbox))
        self._outbox.clear()
        self._outbox_size = 0
        self._uncongested.set()

    def _next_frame(self) -> str | bytes:
        first = self._outbox.popleft()
        size = len(first)
        if isinstance(first, bytes):
            frame: str | bytes = first
        else:
            batch = [first]
            while self._outbox and size < MAX_BATCH_CHARS:
                item = self._outbox[0]
                if not isinstance(item, str):
                    break  # an upload goes in its own binary frame, in order
                self._outbox.popleft()
                batch.append(item)
                size += len(item)
            frame = "[" + ",".join(batch) + "]"
        self._outbox_size -= size
        if self._outbox_size <= QUEUE_LOW_WATER:
            self._uncongested.set()
        return frame

    async def _write_loop(self, session: _Session) -> None:
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                while self._outbox and self._session is session:
                    # send() waits only when the socket's buffer is full; meanwhile the next batch grows.
                    await session.socket.send(self._next_frame())
        except ConnectionClosed:
            return

    # Operator -> page.

    def _on_operator_frame(self, frame: str | bytes) -> None:
        if isinstance(frame, bytes):
            logger.warning("ignoring a %d-byte binary frame from the operator (text only)", len(frame))
            return
        try:
            batch = json.loads(frame)
        except (ValueError, RecursionError) as exc:
            logger.warning("ignoring an operator frame that is not JSON: %s", exc)
            return
        if not isinstance(batch, list):
            logger.warning("ignoring an operator frame that is not a JSON array of envelopes")
            return
        for envelope in batch:
            self._on_envelope(envelope)

    def _on_envelope(self, envelope: object) -> None:
        if not isinstance(envelope, dict) or not _is_int(envelope.get("conn")):
            logger.warning("ignoring an operator envelope without an integer 'conn': %.200r", envelope)
            return
        conn_id: int = envelope["conn"]
        if "msg" in envelope:
            message = envelope["msg"]
            if not isinstance(message, dict):
                logger.warning("ignoring an envelope for conn %d whose 'msg' is not an object", conn_id)
                return
            # A closed socket's messages are dropped: the page will reconnect and ask again.
            self._workers.send(conn_id, json.dumps(message, separators=(",", ":")))
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

    async def serve(self, socket: ServerConnection) -> None:
        """Run one authenticated operator connection until it closes; a newer one replaces it."""
        previous = self._session
        session = _Session(socket)
        self._session = session
        self._drop_outbox()
        if previous is not None:
            logger.warning("a new operator channel replaces the one from %s", previous.socket.remote_address)
            self._retire(previous)
        socket.transport.set_write_buffer_limits(high=CHANNEL_WRITE_BUFFER)
        # First envelope: who we are and which sockets are open, so a restarted operator can reconcile.
        hello = {"event": "hello", "router_id": self._router_id, "conns": self._workers.open_ids()}
        self._enqueue(json.dumps(hello, separators=(",", ":")))
        session.writer = asyncio.get_running_loop().create_task(self._write_loop(session))
        try:
            async for frame in socket:
                self._on_operator_frame(frame)
        except ConnectionClosed:
            pass  # The operator went away; pages get `unavailable` until it is back.
        finally:
            session.writer.cancel()
            if self._session is session:
                self._session = None
                self._drop_outbox()

    def _retire(self, session: _Session) -> None:
        if session.writer is not None:
            session.writer.cancel()
        task = asyncio.get_running_loop().create_task(
            session.socket.close(REPLACED_CLOSE_CODE, "replaced by a newer operator channel")
        )
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
