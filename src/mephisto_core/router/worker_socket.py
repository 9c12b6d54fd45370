"""One worker page's WebSocket (`/ws`): check each frame, answer what the router answers, relay the rest."""

from __future__ import annotations

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode

from mephisto_core.router.channel import OperatorChannel
from mephisto_core.router.page_messages import (
    HEARTBEAT,
    BadMessage,
    error_frame,
    heartbeat_ack_frame,
    parse_page_text,
    parse_upload_frame,
)
from mephisto_core.router.worker_registry import WorkerRegistry

_UNAVAILABLE = "The task server is reconnecting to its operator; please wait, this page retries by itself."


def _peer_ip(socket: ServerConnection) -> str:
    address = socket.remote_address
    return str(address[0]) if isinstance(address, tuple) and address else ""


class WorkerSocketHandler:
    """Serves worker sockets: checks, heartbeats and `unavailable` here; every decision at the operator."""

    def __init__(
        self,
        registry: WorkerRegistry,
        channel: OperatorChannel,
        *,
        max_message_bytes: int,
        max_upload_bytes: int,
    ) -> None:
        self._registry = registry
        self._channel = channel
        self._max_message_bytes = max_message_bytes
        self._max_upload_bytes = max_upload_bytes

    async def serve(self, socket: ServerConnection) -> None:
        """Handle one worker socket from open to close."""
        conn_id = self._registry.add(socket)
        self._channel.worker_opened(conn_id, _peer_ip(socket))
        try:
            while True:
                if self._channel.congested:
                    # Stop reading so TCP pushes back on the pages until the operator catches up.
                    await self._channel.wait_uncongested()
                try:
                    frame = await socket.recv()
                except ConnectionClosed:
                    return
                if isinstance(frame, str):
                    too_big = self._on_text(conn_id, socket, frame)
                else:
                    too_big = self._on_binary(conn_id, socket, frame)
                if too_big is not None:
                    await socket.close(CloseCode.MESSAGE_TOO_BIG, too_big)
                    return
        finally:
            self._registry.remove(conn_id)
            self._channel.worker_closed(conn_id)

    def _text_too_big(self, text: str) -> bool:
        limit = self._max_message_bytes
        # A character is at most 4 UTF-8 bytes, so most frames are judged without encoding them.
        if len(text) > limit:
            return True
        return len(text) * 4 > limit and len(text.encode("utf-8")) > limit

    def _on_text(self, conn_id: int, socket: ServerConnection, text: str) -> str | None:
        """Handle a text frame; return a close reason if the frame is too large to accept."""
        if self._text_too_big(text):
            return f"a text message may be at most {self._max_message_bytes} bytes"
        try:
            message = parse_page_text(text)
        except BadMessage as exc:
            self._registry.send_to(socket, error_frame("bad_message", exc.message, exc.request_id))
            return None
        if message.type == HEARTBEAT:
            assert message.id is not None  # parse_page_text requires it for heartbeats
            self._registry.send_to(socket, heartbeat_ack_frame(message.id, self._channel.connected))
        elif self._channel.connected:
            self._channel.relay_text(conn_id, text, message.body)
        else:
            self._registry.send_to(socket, error_frame("unavailable", _UNAVAILABLE, message.id))
        return None

    def _on_binary(self, conn_id: int, socket: ServerConnection, frame: bytes) -> str | None:
        """Handle an upload frame; return a close reason if its file is over the upload limit."""
        try:
            header = parse_upload_frame(frame)
        except BadMessage as exc:
            self._registry.send_to(socket, error_frame("bad_message", exc.message, exc.request_id))
            return None
        if len(frame) - header.file_offset > self._max_upload_bytes:
            return f"an uploaded file may be at most {self._max_upload_bytes} bytes"
        if self._channel.connected:
            self._channel.relay_upload(conn_id, frame)
        else:
            self._registry.send_to(socket, error_frame("unavailable", _UNAVAILABLE, header.id))
        return None
