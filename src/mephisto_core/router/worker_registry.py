"""The open worker sockets, by connection id, and how the router writes to them without ever waiting."""

from __future__ import annotations

import asyncio
import itertools
import logging

from websockets.asyncio.server import ServerConnection, broadcast
from websockets.frames import EXTERNAL_CLOSE_CODES
from websockets.protocol import State

logger = logging.getLogger(__name__)

_MAX_CLOSE_REASON_BYTES = 123


def is_sendable_close_code(code: int) -> bool:
    """Whether `code` may be sent in a WebSocket close frame."""
    return code in EXTERNAL_CLOSE_CODES or 3000 <= code <= 4999


def _truncate_reason(reason: str) -> str:
    # A close frame has room for 123 bytes of reason; cut on a character boundary.
    return reason.encode("utf-8")[:_MAX_CLOSE_REASON_BYTES].decode("utf-8", "ignore")


class WorkerRegistry:
    """Connection ids for worker sockets and non-blocking delivery to them.

    Writes never wait for a slow page: a frame goes straight into the socket's transport buffer, and a
    socket whose buffer already holds more than `max_buffered_bytes` (the page stopped reading) is dropped
    instead, so one stuck browser can neither stall the operator channel nor grow the router's memory.
    """

    def __init__(self, max_buffered_bytes: int) -> None:
        self._max_buffered_bytes = max_buffered_bytes
        self._sockets: dict[int, ServerConnection] = {}
        # Ids are never reused during the router's lifetime, so a late message cannot reach a new socket.
        self._next_id = itertools.count(1)
        # Close handshakes run as tasks; keep references so they are not garbage-collected mid-way.
        self._closing: set[asyncio.Task[None]] = set()

    def add(self, socket: ServerConnection) -> int:
        """Register a newly opened socket and return its connection id."""
        conn_id = next(self._next_id)
        self._sockets[conn_id] = socket
        return conn_id

    def remove(self, conn_id: int) -> None:
        """Forget a socket that closed."""
        self._sockets.pop(conn_id, None)

    def open_ids(self) -> list[int]:
        """The ids of the sockets open now."""
        return list(self._sockets)

    def __len__(self) -> int:
        return len(self._sockets)

    def send(self, conn_id: int, text: str) -> bool:
        """Queue a text frame for a socket without waiting; False if the socket is gone or was dropped."""
        socket = self._sockets.get(conn_id)
        if socket is None:
            return False
        return self.send_to(socket, text)

    def send_to(self, socket: ServerConnection, text: str) -> bool:
        """Queue a text frame on `socket` without waiting; drop the socket if it stopped reading."""
        if socket.protocol.state is not State.OPEN:
            return False
        buffered = socket.transport.get_write_buffer_size()
        if buffered > self._max_buffered_bytes:
            logger.warning(
                "dropping worker socket %s: %d bytes wait to be read (limit %d)",
                socket.remote_address,
                buffered,
                self._max_buffered_bytes,
            )
            # abort() frees the buffer at once; a close handshake would wait behind the unread data.
            socket.transport.abort()
            return False
        # broadcast() writes synchronously and never waits for the buffer to drain, unlike send().
        broadcast([socket], text)
        return True

    def close(self, conn_id: int, code: int, reason: str) -> bool:
        """Start closing a socket with `code` and `reason`; False if it is not open."""
        socket = self._sockets.get(conn_id)
        if socket is None:
            return False
        task = asyncio.get_running_loop().create_task(socket.close(code, _truncate_reason(reason)))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        return True
