"""Worker page WebSockets (`/ws`): check each frame, answer what the router answers, relay the rest.

Called by the connection as frames arrive (no task per socket); while the operator channel is congested a
socket that sent something is paused (`pause_reading`) until the channel drains, so TCP pushes back on pages.
"""

from __future__ import annotations

from typing import Any

from mephisto_core.router.channel import OperatorChannel
from mephisto_core.router.http_server import WsConnection
from mephisto_core.router.page_messages import (
    HEARTBEAT,
    HELLO,
    SUBMIT,
    BadMessage,
    error_frame,
    heartbeat_ack_frame,
    parse_page_text,
    parse_upload_frame,
    run_over_frame,
    stored_answer_frame,
)
from mephisto_core.router.run_over import PageAnswers
from mephisto_core.router.worker_registry import WorkerRegistry
from mephisto_core.router.ws_frames import CLOSE_INVALID_DATA, CLOSE_MESSAGE_TOO_BIG

#: the close code `mephisto-task.js` closes its socket with when it gives up on it and reconnects (heartbeats went
#: unanswered): a page that closes with it has not left, and may come back for answers it did not read
PAGE_RECONNECTING_CLOSE_CODE = 4001

_UNAVAILABLE = "The task server is reconnecting to its operator; please wait, this page retries by itself."


def _peer_ip(socket: WsConnection) -> str:
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
        #: sockets whose hello after the run ended matched answers its operator left (conn id -> those answers)
        self._late_pages: dict[int, PageAnswers] = {}

    def on_open(self, conn: WsConnection) -> None:
        """A worker socket opened: number it and tell the operator."""
        conn.conn_id = self._registry.add(conn)
        self._channel.worker_opened(conn.conn_id, _peer_ip(conn))

    def on_close(self, conn: WsConnection) -> None:
        """A worker socket ended (either end, or the network)."""
        self._registry.remove(conn.conn_id)
        self._channel.forget_reader(conn)
        if self._late_pages:
            self._late_pages.pop(conn.conn_id, None)
        left = conn.closed_by_peer and conn.close_code != PAGE_RECONNECTING_CLOSE_CODE
        self._channel.worker_closed(conn.conn_id, left=left)

    def on_text(self, conn: WsConnection, data: bytes) -> None:
        """A text message (its UTF-8 bytes)."""
        if len(data) > self._max_message_bytes:
            conn.close(CLOSE_MESSAGE_TOO_BIG, f"a text message may be at most {self._max_message_bytes} bytes")
            return
        try:
            message = parse_page_text(data)
        except BadMessage as exc:
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                conn.close(CLOSE_INVALID_DATA, "a text message must be UTF-8")
                return
            self._registry.send_to(conn, error_frame("bad_message", exc.message, exc.request_id))
            return
        channel = self._channel
        if message.type == HEARTBEAT:
            assert message.id is not None  # parse_page_text requires it for heartbeats
            self._registry.send_to(conn, heartbeat_ack_frame(message.id, channel.connected))
        elif channel.connected:
            channel.relay_text(conn.conn_id, data, message.body)
            if channel.congested:
                channel.pause_reader(conn)
        else:
            self._answer_without_operator(conn, message.type, message.id, message.body)

    def on_binary(self, conn: WsConnection, frame: bytes) -> None:
        """An upload frame."""
        try:
            header = parse_upload_frame(frame)
        except BadMessage as exc:
            self._registry.send_to(conn, error_frame("bad_message", exc.message, exc.request_id))
            return
        if len(frame) - header.file_offset > self._max_upload_bytes:
            conn.close(CLOSE_MESSAGE_TOO_BIG, f"an uploaded file may be at most {self._max_upload_bytes} bytes")
            return
        channel = self._channel
        if channel.connected:
            channel.relay_upload(conn.conn_id, frame)
            if channel.congested:
                channel.pause_reader(conn)
        else:
            self._answer_without_operator(conn, "upload", header.id)

    def _answer_without_operator(
        self, conn: WsConnection, message_type: str, request_id: int | None, body: dict[str, Any] | None = None
    ) -> None:
        """No operator is connected: `run_over` once the last one said the run ended, else `unavailable` (the page
        retries until an operator is back). A page the operator left answers for (its last submission, which it may
        not have read) gets those instead: its hello, then its resent submission."""
        channel = self._channel
        if not channel.run_over:
            frame = error_frame("unavailable", _UNAVAILABLE, request_id)
        elif message_type == HELLO and body is not None and (kept := channel.answers_after_run_over(body.get("token"))):
            self._late_pages[conn.conn_id] = kept
            frame = stored_answer_frame(kept.hello, request_id)
        elif (
            message_type == SUBMIT
            and body is not None
            and (kept := self._late_pages.get(conn.conn_id)) is not None
            and body.get("submit_key") == kept.submit_key
        ):
            frame = stored_answer_frame(kept.submitted, request_id)
        else:
            frame = run_over_frame(message_type, request_id)
        self._registry.send_to(conn, frame)
