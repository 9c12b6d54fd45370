"""The open worker sockets, by connection id, and how the router writes to them without ever waiting."""

from __future__ import annotations

import logging

from mephisto_core.router.http_server import WsConnection
from mephisto_core.router.shards import Shard
from mephisto_core.router.ws_frames import MAX_CLOSE_REASON_BYTES, is_sendable_close_code

logger = logging.getLogger(__name__)

__all__ = ["WorkerRegistry", "is_sendable_close_code"]


def _truncate_reason(reason: str) -> str:
    # A close frame has room for 123 bytes of reason; cut on a character boundary.
    return reason.encode("utf-8")[:MAX_CLOSE_REASON_BYTES].decode("utf-8", "ignore")


class WorkerRegistry:
    """Connection ids for worker sockets and non-blocking delivery to them.

    Writes never wait for a slow page: a frame goes straight into the socket's transport buffer, and a
    socket whose buffer already holds more than `max_buffered_bytes` (the page stopped reading) is dropped
    instead, so one stuck browser can neither stall the operator channel nor grow the router's memory.
    """

    def __init__(self, max_buffered_bytes: int, shard: Shard | None = None) -> None:
        self._max_buffered_bytes = max_buffered_bytes
        self._sockets: dict[int, WsConnection] = {}
        # Ids are never reused during the router's lifetime, so a late message cannot reach a new socket; a
        # router sharing its port with others takes every count-th id (router.shards).
        self._next_id = (shard or Shard()).connection_ids()

    def add(self, socket: WsConnection) -> int:
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

    def send(self, conn_id: int, text: bytes) -> bool:
        """Queue a text frame (UTF-8) for a socket without waiting; False if the socket is gone or was dropped."""
        socket = self._sockets.get(conn_id)
        if socket is None:
            return False
        return self.send_to(socket, text)

    def send_to(self, socket: WsConnection, text: bytes) -> bool:
        """Queue a text frame (UTF-8) on `socket` without waiting; drop the socket if it stopped reading."""
        if not socket.open:
            return False
        transport = socket.transport
        assert transport is not None
        buffered = transport.get_write_buffer_size()
        if buffered > self._max_buffered_bytes:
            logger.warning(
                "dropping worker socket %s: %d bytes wait to be read (limit %d)",
                socket.remote_address,
                buffered,
                self._max_buffered_bytes,
            )
            # abort() frees the buffer at once; a close handshake would wait behind the unread data.
            socket.abort()
            return False
        return socket.send_text(text)

    def close(self, conn_id: int, code: int, reason: str) -> bool:
        """Start closing a socket with `code` and `reason`; False if it is not open."""
        socket = self._sockets.get(conn_id)
        if socket is None:
            return False
        socket.close(code, _truncate_reason(reason))
        return True
