"""The router's HTTP/1.1 and WebSocket server on `asyncio.Protocol`: one protocol object per connection.

No task runs per connection or per message: bytes arrive in `buffer_updated`, complete frames are handed to the
connection's `MessageHandler` there and then, and every frame sent is one `transport.write`. One periodic timer
for the whole server pings open sockets (a peer that does not answer within the timeout is dropped), and ends
handshakes and close handshakes that take too long.

What a connection may be asked (`route`): a plain HTTP request gets an `HttpResponse` (or a coroutine making one,
for answers that read files) and the connection closes after it, unless the request asked to keep it alive
(`Connection: keep-alive`, as browsers send): then it waits for the page's next request (its scripts, styles,
images) instead of making the browser open a connection (and, over TLS, a handshake) for each, until it has been
idle for the open timeout; a WebSocket request is accepted with a
`WsAccept` naming the handler and the largest message the socket may send. Limits on the request head answer
414/431 as before; a request with a body gets its answer and the body is read and dropped until the client is
done. See docs/protocol.md for what the router speaks over it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Coroutine
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Protocol

from mephisto_core.router.ws_frames import (
    CLOSE_ABNORMAL,
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL_ERROR,
    CLOSE_MESSAGE_TOO_BIG,
    CLOSE_NO_STATUS,
    CLOSE_PROTOCOL_ERROR,
    MAX_CONTROL_PAYLOAD,
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    accept_key,
    apply_mask,
    close_payload,
    frame_header,
    is_valid_key,
    parse_close,
    read_header,
)

logger = logging.getLogger(__name__)

# Limits on a request head (those websockets had): one line, the number of headers, the whole head.
MAX_LINE_BYTES = 8192
MAX_HEADERS = 128
MAX_HEAD_BYTES = 64 * 1024
# How long a connection may take to send its request head (and, with TLS, its TLS handshake before that), and a
# close handshake to finish.
OPEN_TIMEOUT_SECONDS = 10.0
CLOSE_TIMEOUT_SECONDS = 10.0

# What one read may take (asyncio's own reads take up to 256 KiB).
RECV_BUFFER_BYTES = 256 * 1024

# Connection states.
_HTTP = 0  # reading the request head
_BUSY = 1  # answering a plain HTTP request; anything received meanwhile is dropped
_OPEN = 2  # WebSocket open
_CLOSING = 3  # WebSocket close frame sent; waiting for the peer's
_CLOSED = 4


@dataclass(slots=True)
class HttpRequest:
    """A request head: method, target (path and query, as sent) and headers (values decoded as Latin-1)."""

    method: str
    path: str
    headers: list[tuple[str, str]]

    def get_all(self, name: str) -> list[str]:
        """Every value of header `name` (case-insensitive)."""
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]

    def get(self, name: str) -> str | None:
        """The first value of header `name`, or None."""
        values = self.get_all(name)
        return values[0] if values else None


@dataclass(slots=True)
class HttpResponse:
    """An answer to a plain HTTP request; `body` is sent as it is (empty for HEAD)."""

    status_code: int
    reason_phrase: str
    headers: list[tuple[str, str]]
    body: bytes = b""

    def get(self, name: str) -> str | None:
        """The first value of header `name` (case-insensitive), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def serialize(self, keep_alive_seconds: float | None = None) -> bytes:
        """The status line, headers and body as sent on the wire, with what becomes of the connection: closed after
        this answer, or with `keep_alive_seconds` kept for the next request (that long when idle). The connection
        is the server's to decide, so no response carries its own `Connection` header."""
        lines = [f"HTTP/1.1 {self.status_code} {self.reason_phrase}"]
        lines.extend(f"{key}: {value}" for key, value in self.headers)
        if keep_alive_seconds is None:
            lines.append("Connection: close")  # saying so keeps clients from waiting for more
        else:
            lines += ["Connection: keep-alive", f"Keep-Alive: timeout={int(keep_alive_seconds)}"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + self.body


def plain_response(status: HTTPStatus, text: str, headers: tuple[tuple[str, str], ...] = ()) -> HttpResponse:
    """A short plain-text answer that closes the connection (handshake failures)."""
    body = text.encode("utf-8")
    base = [
        ("Content-Length", str(len(body))),
        ("Content-Type", "text/plain; charset=utf-8"),
    ]
    return HttpResponse(status.value, status.phrase, base + list(headers), body)


class MessageHandler(Protocol):
    """What a WebSocket connection tells its owner. Called on the event loop; none may block.

    `on_text` gets the raw payload of a text message: the handler checks its UTF-8 (and may `fail` with 1007).
    """

    def on_open(self, conn: WsConnection) -> None: ...

    def on_text(self, conn: WsConnection, data: bytes) -> None: ...

    def on_binary(self, conn: WsConnection, data: bytes) -> None: ...

    def on_close(self, conn: WsConnection) -> None: ...


@dataclass(slots=True)
class WsAccept:
    """`route`'s answer for a WebSocket request: upgrade (if the handshake is valid) and hand frames to `handler`.

    `max_size` is the largest message the peer may send (None: unlimited); a larger one closes with 1009.
    """

    handler: MessageHandler
    max_size: int | None


RouteResult = HttpResponse | WsAccept | Coroutine[Any, Any, HttpResponse]


class App(Protocol):
    """The server's application: decides what each request gets."""

    def route(self, conn: WsConnection, request: HttpRequest, has_body: bool) -> RouteResult: ...


@dataclass(eq=False)
class _ServerState:
    app: App
    ping_interval: float
    ping_timeout: float
    open_timeout: float
    close_timeout: float
    connections: set[WsConnection] = field(default_factory=set)
    recv_view: memoryview = field(default_factory=lambda: memoryview(bytearray(RECV_BUFFER_BYTES)))
    all_closed: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class WsConnection(asyncio.BufferedProtocol):
    """One client connection: its request head, then (after an upgrade) its WebSocket frames."""

    def __init__(self, state: _ServerState) -> None:
        self._server = state
        self._loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.remote_address: Any = None
        self.conn_id = 0  # set by a handler that numbers its sockets
        self.handler: MessageHandler | None = None
        self.max_size: int | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        #: whether the peer started the close handshake (not lost, not closed by this side)
        self.closed_by_peer = False
        self._state = _HTTP
        self._buf = bytearray()
        self._deadline = self._loop.time() + state.open_timeout
        self._skip = 0  # bytes of a refused frame still to drop
        self._frag_opcode: int | None = None
        self._fragments: list[bytes] = []
        self._frag_size = 0
        self._reading_paused = False
        self._processing = False
        self._write_paused = False
        self._writable: asyncio.Future[None] | None = None
        self._ping_sent: float | None = None
        self._last_ping = 0.0
        self._body_left: int | None = None  # of a request body being dropped, when its length is known
        self._answered = False
        self._keep_alive = False  # the request being answered asked for the connection to stay open
        self._served = 0  # requests answered on this connection

    # State seen by handlers.

    @property
    def open(self) -> bool:
        """Whether the WebSocket is open (frames sent now reach the peer)."""
        return self._state == _OPEN

    @property
    def reading_paused(self) -> bool:
        """Whether `pause_reading` holds this connection's incoming frames."""
        return self._reading_paused

    # asyncio.Protocol.

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports have the methods of asyncio.Transport without deriving from it.
        self.transport = transport  # type: ignore[assignment]
        self.remote_address = transport.get_extra_info("peername")
        self._server.connections.add(self)
        self._server.all_closed.clear()

    def connection_lost(self, exc: Exception | None) -> None:
        was_socket = self._state in (_OPEN, _CLOSING)
        self._state = _CLOSED
        if self.close_code is None:
            self.close_code = CLOSE_ABNORMAL
        self._buf = bytearray()
        self._fragments = []
        connections = self._server.connections
        connections.discard(self)
        if not connections:
            self._server.all_closed.set()
        waiter = self._writable
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if was_socket and self.handler is not None:
            handler, self.handler = self.handler, None
            try:
                handler.on_close(self)
            except Exception:
                logger.exception("a WebSocket handler failed on close")

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        waiter = self._writable
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self._state == _HTTP and self._buf:
            self._read_heads()  # the kept-alive requests held while the client was not reading the answers

    def eof_received(self) -> bool | None:
        return None  # close the transport: neither side of this protocol half-closes

    def get_buffer(self, sizehint: int) -> memoryview:
        # Every connection reads into the server's one buffer and takes what it received out at once (below),
        # so no read allocates and an idle connection holds no buffer.
        return self._server.recv_view

    def buffer_updated(self, nbytes: int) -> None:
        data = self._server.recv_view[:nbytes]
        state = self._state
        if state in (_OPEN, _CLOSING):
            if self._skip:
                if nbytes <= self._skip:
                    self._skip -= nbytes
                    return
                data = data[self._skip :]
                self._skip = 0
            if self._buf or self._processing:
                self._buf += data
                self._process()
            else:
                self._process(data)  # straight from the read buffer; only an incomplete frame's bytes are kept
        elif state == _HTTP:
            self._buf += data
            if self._write_paused and len(self._buf) > MAX_HEAD_BYTES:
                self._hang_up()  # requests piling up ahead of answers the client does not read
                return
            self._read_heads()
        elif state == _BUSY:
            if self._keep_alive:  # the next request, sent before this one's answer was ready: kept for then
                self._buf += data
                if len(self._buf) > MAX_HEAD_BYTES:
                    self._hang_up()
            else:
                self._drop_body(len(data))

    # Sending.

    def send_text(self, payload: bytes) -> bool:
        """Send one text frame (`payload` is UTF-8); False if the socket is not open."""
        if self._state != _OPEN:
            return False
        assert self.transport is not None
        self.transport.write(frame_header(OP_TEXT, len(payload)) + payload)
        return True

    def send_binary(self, payload: bytes | bytearray) -> bool:
        """Send one binary frame; False if the socket is not open."""
        if self._state != _OPEN:
            return False
        assert self.transport is not None
        self.transport.write(frame_header(OP_BINARY, len(payload)) + payload)
        return True

    @property
    def writable(self) -> bool:
        """False while the transport's buffer is over its high-water mark (see `wait_writable`)."""
        return not self._write_paused

    async def wait_writable(self) -> None:
        """Wait until the transport's buffer drains below its low-water mark (or the connection closes)."""
        while self._write_paused and self._state != _CLOSED:
            waiter = self._writable
            if waiter is None or waiter.done():
                waiter = self._writable = self._loop.create_future()
            await waiter

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the close handshake; the connection ends when the peer answers (or after the close timeout)."""
        if self._state == _OPEN:
            assert self.transport is not None
            payload = close_payload(code, reason)
            self.transport.write(frame_header(OP_CLOSE, len(payload)) + payload)
            self._state = _CLOSING
            self._deadline = self._loop.time() + self._server.close_timeout
            if self.close_code is None:
                self.close_code, self.close_reason = code, reason
        elif self._state in (_HTTP, _BUSY) and self.transport is not None:
            self.transport.close()

    def fail(self, code: int, reason: str) -> None:
        """Close because the peer broke a rule: stop handing over its frames and start the close handshake."""
        self.close(code, reason)

    def abort(self) -> None:
        """Drop the connection at once, discarding whatever waits to be sent."""
        if self.transport is not None:
            self.transport.abort()

    def pause_reading(self) -> None:
        """Stop reading this socket (TCP then pushes back on the peer) until `resume_reading`."""
        if not self._reading_paused and self._state != _CLOSED:
            self._reading_paused = True
            assert self.transport is not None
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        """Read again, handling the frames that arrived before the pause first."""
        if self._reading_paused:
            self._reading_paused = False
            if self._state == _CLOSED:
                return
            assert self.transport is not None
            self.transport.resume_reading()
            if self._buf:
                self._process()

    # Frames.

    def _process(self, received: memoryview | None = None) -> None:
        if self._processing:
            return
        self._processing = True
        buf: bytearray | memoryview = self._buf if received is None else received
        pos = 0
        try:
            while not self._reading_paused:
                state = self._state
                if state != _OPEN and state != _CLOSING:
                    return
                available = len(buf) - pos
                if available < 2:
                    break
                header, length = read_header(buf, pos, available, 4)
                if not header:
                    break
                first = buf[pos]
                second = buf[pos + 1]
                opcode = first & 0x0F
                if first & 0x70 or not second & 0x80 or length >> 63:
                    what = "reserved bits set" if first & 0x70 else "a frame that is not masked"
                    self._protocol_error(what)
                    return
                if opcode >= 8:
                    if opcode not in (OP_CLOSE, OP_PING, OP_PONG):
                        self._protocol_error(f"unknown opcode {opcode}")
                        return
                    if not first & 0x80 or length > MAX_CONTROL_PAYLOAD:
                        self._protocol_error("a fragmented or oversized control frame")
                        return
                elif opcode > OP_BINARY:
                    self._protocol_error(f"unknown opcode {opcode}")
                    return
                else:
                    limit = self.max_size
                    if limit is not None and self._frag_size + length > limit:
                        # Drop the frame's payload unread, then handle what follows (the peer's close frame).
                        left = len(buf) - pos - header
                        self._skip = max(0, length - left)
                        pos = min(len(buf), pos + header + length)
                        self._frag_opcode, self._fragments, self._frag_size = None, [], 0
                        self.fail(CLOSE_MESSAGE_TOO_BIG, f"a message may be at most {limit} bytes")
                        continue
                end = pos + header + length
                if len(buf) < end:
                    break
                mask = bytes(buf[pos + header - 4 : pos + header])
                payload = apply_mask(buf[pos + header : end], mask) if length else b""
                pos = end
                if opcode in (OP_TEXT, OP_BINARY):
                    if self._frag_opcode is not None:
                        self._protocol_error("a new message before the previous one's last fragment")
                        return
                    if first & 0x80:
                        self._deliver(opcode, payload)
                    else:
                        self._frag_opcode, self._fragments, self._frag_size = opcode, [payload], length
                elif opcode == OP_CONTINUATION:
                    if self._frag_opcode is None:
                        self._protocol_error("a continuation frame without a message to continue")
                        return
                    self._fragments.append(payload)
                    self._frag_size += length
                    if first & 0x80:
                        message = b"".join(self._fragments)
                        opcode = self._frag_opcode
                        self._frag_opcode, self._fragments, self._frag_size = None, [], 0
                        self._deliver(opcode, message)
                elif opcode == OP_PING:
                    if self._state == _OPEN:
                        assert self.transport is not None
                        self.transport.write(frame_header(OP_PONG, length) + payload)
                elif opcode == OP_PONG:
                    self._ping_sent = None
                else:
                    self._on_close_frame(payload)
                    return
        finally:
            self._processing = False
            if received is None:
                if pos >= len(self._buf):
                    self._buf = bytearray()  # a fresh one: an emptied bytearray may keep a large message's memory
                elif pos:
                    del self._buf[:pos]
            elif pos < len(received):
                self._buf += received[pos:]

    def _deliver(self, opcode: int, payload: bytes) -> None:
        handler = self.handler
        if self._state != _OPEN or handler is None:
            return  # after our close frame, data is dropped
        try:
            if opcode == OP_TEXT:
                handler.on_text(self, payload)
            else:
                handler.on_binary(self, payload)
        except Exception:
            logger.exception("a WebSocket handler failed on a message from %s", self.remote_address)
            self.fail(CLOSE_INTERNAL_ERROR, "internal error")

    def _on_close_frame(self, payload: bytes) -> None:
        assert self.transport is not None
        try:
            code, reason = parse_close(payload)
        except ValueError:
            self._protocol_error("an invalid close frame")
            return
        if self._state == _OPEN:
            echo = b"" if code == CLOSE_NO_STATUS else payload[:2]
            self.transport.write(frame_header(OP_CLOSE, len(echo)) + echo)
            self._state = _CLOSING
            self.close_code, self.close_reason = code, reason
            self.closed_by_peer = True
        # The server closes the TCP connection first (RFC 6455 section 7.1.1).
        self.transport.close()

    def _protocol_error(self, what: str) -> None:
        if self._state == _OPEN:
            self.close(CLOSE_PROTOCOL_ERROR, what)
        # Frames are out of step now: nothing after this can be read. The close frame goes out, then the end.
        self._skip = 2**62
        self._buf.clear()
        assert self.transport is not None
        self.transport.close()

    # Keepalive, called by the server's timer.

    def _tick(self, now: float) -> None:
        state = self._state
        if state == _OPEN:
            sent = self._ping_sent
            if sent is not None:
                if now - sent > self._server.ping_timeout:
                    logger.info("dropping %s: no answer to a ping within the timeout", self.remote_address)
                    self.close(CLOSE_INTERNAL_ERROR, "keepalive ping timeout")
                    self.abort()
            elif now - self._last_ping >= self._server.ping_interval:
                assert self.transport is not None
                self.transport.write(frame_header(OP_PING, 4) + os.urandom(4))
                self._ping_sent = self._last_ping = now
        elif state != _CLOSED and now > self._deadline:
            if state == _HTTP and self._served and not self._buf:
                assert self.transport is not None
                self.transport.close()  # a kept-alive connection left idle: ended as usual, not reset
            else:
                self.abort()

    # HTTP.

    def _read_heads(self) -> None:
        """Answer the requests received whole, one after the other (a kept-alive connection may hold several),
        while the client reads the answers: none is made while the transport's buffer is full."""
        while self._state == _HTTP and self._buf and not self._write_paused and self._read_head():
            pass

    def _read_head(self) -> bool:
        """Answer the request at the start of the buffer; False while its head is not complete yet."""
        buf = self._buf
        self._keep_alive = False  # until this request asks for it
        if not 0x41 <= buf[0] <= 0x5A:  # a method starts with an upper-case letter; this is not HTTP (say TLS)
            self._hang_up()
            return True
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > MAX_HEAD_BYTES:
                self._answer(
                    plain_response(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "The request head is too large.\n")
                )
            elif buf.find(b"\r\n") < 0 and len(buf) > MAX_LINE_BYTES:
                self._answer(plain_response(HTTPStatus.REQUEST_URI_TOO_LONG, "The request line is too long.\n"))
            return False
        head = bytes(buf[:end])
        rest = bytes(buf[end + 4 :])
        self._buf = bytearray()
        lines = head.split(b"\r\n")
        request_line = lines[0]
        if len(request_line) > MAX_LINE_BYTES:
            self._answer(plain_response(HTTPStatus.REQUEST_URI_TOO_LONG, "The request line is too long.\n"))
            return True
        if len(lines) - 1 > MAX_HEADERS:
            self._answer(plain_response(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many request headers.\n"))
            return True
        parts = request_line.split(b" ")
        if len(parts) != 3 or parts[2] not in (b"HTTP/1.1", b"HTTP/1.0"):
            self._hang_up()  # not HTTP
            return True
        try:
            method = parts[0].decode("ascii")
            target = parts[1].decode("ascii")
        except UnicodeDecodeError:
            self._answer(
                plain_response(HTTPStatus.BAD_REQUEST, "The request line is not ASCII; percent-encode the URL.\n")
            )
            return True
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            if len(line) > MAX_LINE_BYTES:
                self._answer(
                    plain_response(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "A request header is too long.\n")
                )
                return True
            name, colon, value = line.partition(b":")
            if not colon or not name or name != name.strip() or b" " in name:
                self._answer(plain_response(HTTPStatus.BAD_REQUEST, "A request header is malformed.\n"))
                return True
            headers.append((name.decode("latin-1"), value.strip(b" \t").decode("latin-1")))
        request = HttpRequest(method, target, headers)
        lengths = request.get_all("Content-Length")
        has_body = request.get("Transfer-Encoding") is not None or not set(lengths) <= {"0"}
        if has_body:
            length = lengths[0] if len(lengths) == 1 else ""
            # A length that is not plain ASCII digits (or absurdly long) is not counted: dropped until the end.
            known = length.isascii() and length.isdigit() and len(length) <= 18
            self._body_left = int(length) if known else None
        result = self._server.app.route(self, request, has_body)
        if isinstance(result, WsAccept):
            if has_body:  # the app refuses bodies itself; never upgrade with one
                self._answer(plain_response(HTTPStatus.BAD_REQUEST, "A GET request carries no body.\n"), True)
                return True
            self._upgrade(request, result, rest)
            return True
        self._state = _BUSY
        # Only on request: a client that says nothing gets the answer and the end of the connection, as before.
        # Never after a body, so no request can hide inside another's body.
        self._keep_alive = not has_body and parts[2] == b"HTTP/1.1" and _asks_keep_alive(request)
        if self._keep_alive:
            self._buf = bytearray(rest)  # the next request, if the client sent it already
        else:
            self._drop_body(len(rest))
        if isinstance(result, HttpResponse):
            self._answer(result, has_body)
        else:
            task = self._loop.create_task(self._answer_later(result, has_body))
            self._server.tasks.add(task)
            task.add_done_callback(self._server.tasks.discard)
        return True

    async def _answer_later(self, pending: Coroutine[Any, Any, HttpResponse], has_body: bool) -> None:
        try:
            response = await pending
        except Exception:
            logger.exception("answering an HTTP request failed")
            response = plain_response(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal server error.\n")
        if self._state != _CLOSED:
            self._answer(response, has_body)
            self._read_heads()  # what a kept-alive client sent meanwhile

    def _answer(self, response: HttpResponse, has_body: bool = False) -> None:
        """Send an HTTP answer and end the connection (after the client's body, if it is sending one), or, when
        the request asked to keep it alive, wait for the next request."""
        transport = self.transport
        assert transport is not None
        self._state = _BUSY
        self._answered = True
        if self._keep_alive:
            transport.write(response.serialize(keep_alive_seconds=self._server.open_timeout))
            self._served += 1
            self._keep_alive = self._answered = False
            self._state = _HTTP
            self._deadline = self._loop.time() + self._server.open_timeout  # idle this long: closed
            return
        transport.write(response.serialize())
        if has_body and (self._body_left is None or self._body_left > 0):
            # Closing now would reset a connection whose client is still sending: it might never read the
            # answer. Read and drop the body until it ends, the client hangs up, or the open timeout passes.
            self._deadline = self._loop.time() + self._server.open_timeout
            if transport.can_write_eof():
                transport.write_eof()
            return
        transport.close()

    def _drop_body(self, received: int) -> None:
        if self._body_left is None:
            return
        self._body_left -= received
        if self._body_left <= 0 and self._answered and self.transport is not None:
            self.transport.close()

    def _hang_up(self) -> None:
        assert self.transport is not None
        self._state = _BUSY
        self._keep_alive = False  # an answer still being made ends the connection, not reopens it
        self.transport.close()

    def _upgrade(self, request: HttpRequest, accept: WsAccept, rest: bytes) -> None:
        failure = handshake_failure(request)
        if failure is not None:
            self._answer(failure)
            return
        key = request.get("Sec-WebSocket-Key")
        assert key is not None and self.transport is not None
        self.transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_key(key).encode("ascii") + b"\r\n\r\n"
        )
        self._state = _OPEN
        self.handler = accept.handler
        self.max_size = accept.max_size
        self._last_ping = self._loop.time()
        accept.handler.on_open(self)
        if rest and self._state == _OPEN:
            self._buf += rest
            self._process()


def _tokens(values: list[str]) -> set[str]:
    return {token.strip().lower() for value in values for token in value.split(",")}


def _asks_keep_alive(request: HttpRequest) -> bool:
    """Whether the request asks for its connection to stay open (`Connection: keep-alive`, as browsers send)."""
    tokens = _tokens(request.get_all("Connection"))
    return "keep-alive" in tokens and "close" not in tokens


def handshake_failure(request: HttpRequest) -> HttpResponse | None:
    """Why `request` is not a valid WebSocket opening handshake (RFC 6455 section 4.2.1), or None if it is."""
    if "websocket" not in _tokens(request.get_all("Upgrade")):
        return plain_response(
            HTTPStatus.UPGRADE_REQUIRED,
            "Failed to open a WebSocket connection: missing 'Upgrade: websocket' header.\n\n"
            "You cannot access a WebSocket server directly with a browser. You need a WebSocket client.\n",
            (("Upgrade", "websocket"),),
        )
    if "upgrade" not in _tokens(request.get_all("Connection")):
        return plain_response(
            HTTPStatus.UPGRADE_REQUIRED,
            "Failed to open a WebSocket connection: missing 'Connection: Upgrade' header.\n",
            (("Upgrade", "websocket"),),
        )
    versions = request.get_all("Sec-WebSocket-Version")
    if versions != ["13"]:
        return plain_response(
            HTTPStatus.UPGRADE_REQUIRED,
            "Failed to open a WebSocket connection: only Sec-WebSocket-Version 13 is supported.\n",
            (("Sec-WebSocket-Version", "13"),),
        )
    keys = request.get_all("Sec-WebSocket-Key")
    if len(keys) != 1 or not is_valid_key(keys[0]):
        return plain_response(
            HTTPStatus.BAD_REQUEST, "Failed to open a WebSocket connection: invalid Sec-WebSocket-Key header.\n"
        )
    return None


#: Connections the kernel queues before the router accepts them (a burst of simultaneous page loads).
LISTEN_BACKLOG = 4096


class WsServer:
    """A listening socket serving `app`; see the module docstring. Use `start`, then `close` and `wait_closed`."""

    def __init__(
        self,
        app: App,
        *,
        ping_interval: float,
        ping_timeout: float,
        open_timeout: float | None = None,
        close_timeout: float | None = None,
    ) -> None:
        """`open_timeout` and `close_timeout` default to the module's limits, read when the server is made."""
        open_timeout = OPEN_TIMEOUT_SECONDS if open_timeout is None else open_timeout
        close_timeout = CLOSE_TIMEOUT_SECONDS if close_timeout is None else close_timeout
        self._state = _ServerState(app, ping_interval, ping_timeout, open_timeout, close_timeout)
        self._server: asyncio.Server | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._tick_seconds = max(0.01, min(ping_interval, ping_timeout, open_timeout, close_timeout) / 4)

    async def start(
        self, host: str, port: int, ssl_context: ssl.SSLContext | None = None, *, reuse_port: bool = False
    ) -> int:
        """Bind and listen; the bound port. With `reuse_port` (SO_REUSEPORT) other processes of this user that
        set it too may listen on the same port, and the kernel spreads new connections over them."""
        loop = asyncio.get_running_loop()
        state = self._state
        # asyncio's default backlog of 100 drops the SYNs of a study's opening burst (every worker of a batch
        # arriving within a second): the kernel caps this at net.core.somaxconn.
        # A TLS handshake gets the time a request head gets, not asyncio's 60 s: a client that connects and never
        # finishes it is dropped as soon as one that never sends its head (asyncio refuses the limit without TLS).
        # Likewise a closing TLS connection waits for the client's close_notify as long as a WebSocket's closing
        # handshake, not asyncio's 30 s.
        self._server = await loop.create_server(
            lambda: WsConnection(state),
            host,
            port,
            ssl=ssl_context,
            backlog=LISTEN_BACKLOG,
            reuse_port=reuse_port or None,
            ssl_handshake_timeout=state.open_timeout if ssl_context is not None else None,
            ssl_shutdown_timeout=state.close_timeout if ssl_context is not None else None,
        )
        self._timer = loop.call_later(self._tick_seconds, self._tick)
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def connections(self) -> set[WsConnection]:
        """The connections open now (HTTP and WebSocket)."""
        return self._state.connections

    def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        for conn in list(self._state.connections):
            conn._tick(now)
        self._timer = loop.call_later(self._tick_seconds, self._tick)

    async def close(self) -> None:
        """Stop listening, close every connection (1001 for sockets), and wait until they are gone."""
        if self._server is None:
            return
        self._server.close()
        for conn in list(self._state.connections):
            if conn.open:
                conn.close(CLOSE_GOING_AWAY, "server shutting down")
            else:
                conn.abort()
        if self._state.connections:
            try:
                await asyncio.wait_for(self._state.all_closed.wait(), self._state.close_timeout)
            except TimeoutError:
                for conn in list(self._state.connections):
                    conn.abort()
        if self._timer is not None:
            self._timer.cancel()
        for task in list(self._state.tasks):
            task.cancel()
        await self._server.wait_closed()
