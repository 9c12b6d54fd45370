"""A lean WebSocket client (RFC 6455) for the operator's channel: one asyncio.Protocol, no task of its own.

The router's end is our own asyncio server (`router.http_server`); this is its client counterpart, built on the same
helpers (`router.ws_frames`). It does what the channel needs and no more: the opening handshake with extra headers
(the bearer secret), masked frames as clients must send, whole text and binary messages (fragments are joined),
ping and pong both ways, the close handshake, TLS through the event loop. Received messages are queued and taken
in batches by one reader (`receive`), so a read of many frames costs one wake-up; reading pauses while the queue
is long. Sending writes a whole frame to the transport at once; `send` also waits while the transport's buffer is
over its high-water mark.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import ssl
import urllib.request
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.frames import Close

from mephisto_core.router.ws_frames import (
    CLOSE_ABNORMAL,
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
    close_payload,
    mask_frame,
    parse_close,
    read_header,
)

__all__ = ["ChannelClosed", "ChannelConnection", "HandshakeRefused", "connect_channel"]

#: Messages queued for the reader before reading the socket pauses (TCP then pushes back on the router).
MAX_QUEUED_MESSAGES = 256
#: Largest response head accepted in the opening handshake.
MAX_HEAD_BYTES = 16 * 2**10

_HANDSHAKE, _OPEN, _CLOSING, _CLOSED = range(4)


class ChannelClosed(ConnectionClosed):
    """The channel's WebSocket closed; `close_code` and `close_reason` are the router's close frame's (1006: none).

    A `websockets` ConnectionClosed, so code written for that client (the build push) handles it as before.
    """

    def __init__(self, code: int, reason: str) -> None:
        received = Close(code, reason) if code not in (CLOSE_ABNORMAL, CLOSE_NO_STATUS) else None
        super().__init__(received, None)
        self.close_code = code
        self.close_reason = reason

    def __str__(self) -> str:
        reason = f": {self.close_reason}" if self.close_reason else ""
        if self.close_code == CLOSE_ABNORMAL:
            return f"the connection closed without a close frame{reason}"
        return f"the router closed the channel ({self.close_code}{reason})"


class HandshakeRefused(Exception):
    """The server answered the opening handshake with something other than 101 (or with a broken 101)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


def _masked(opcode: int, payload: bytes | bytearray | memoryview) -> bytes:
    """One whole masked frame (a client's) with a fresh random mask, in one bytes object."""
    return mask_frame(opcode, payload, os.urandom(4))


class ChannelConnection(asyncio.Protocol):
    """One client WebSocket. Made by `connect_channel`; read with `receive`, written with `send_*` or `send`."""

    def __init__(self, key: str, request: bytes, ping_interval: float | None, ping_timeout: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._key = key
        self._request = request
        self.transport: asyncio.Transport | None = None
        self._state = _HANDSHAKE
        self._buf = bytearray()
        self._opened: asyncio.Future[None] = self._loop.create_future()
        self._lost: asyncio.Future[None] = self._loop.create_future()
        self._reading_done = False  # after a close frame or a protocol error: what follows is not read
        self._inbox: list[tuple[bool, bytes]] = []
        self._waiter: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._write_paused = False
        self._writable: asyncio.Future[None] | None = None
        self._frag_opcode: int | None = None
        self._fragments: list[bytes] = []
        self.close_code: int | None = None
        self.close_reason = ""
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._ping_handle: asyncio.TimerHandle | None = None
        self._ping_sent: float | None = None
        #: pings sent by `round_trip`, by payload, until their pong
        self._pongs: dict[bytes, asyncio.Future[bool]] = {}

    # asyncio.Protocol.

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports do not derive from it
        transport.write(self._request)  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        self._state = _CLOSED
        self._reading_done = True
        if self.close_code is None:
            self.close_code = CLOSE_ABNORMAL
        if self._ping_handle is not None:
            self._ping_handle.cancel()
        if not self._opened.done():
            self._opened.set_exception(ConnectionError(f"the connection closed during the handshake: {exc}"))
        if not self._lost.done():
            self._lost.set_result(None)
        for waiter in (self._waiter, self._writable):
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        for pong in self._pongs.values():
            if not pong.done():
                pong.set_result(False)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        waiter = self._writable
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def eof_received(self) -> bool | None:
        return None

    def data_received(self, data: bytes) -> None:
        if self._state == _HANDSHAKE:
            self._buf += data
            self._read_response()
        elif not self._reading_done:
            if self._buf:
                self._buf += data
                self._parse(self._buf)
            else:
                self._parse(data)

    # State.

    @property
    def open(self) -> bool:
        """Whether frames sent now reach the router."""
        return self._state == _OPEN

    @property
    def writable(self) -> bool:
        """False while the transport's buffer is over its high-water mark."""
        return not self._write_paused

    # Reading.

    async def receive(self) -> list[tuple[bool, bytes]]:
        """Every message received since the last call, oldest first, as (is_binary, payload); waits for one.

        Raises ChannelClosed once the connection is closed and everything before the close has been taken.
        """
        while not self._inbox:
            if self._state == _CLOSED:
                raise ChannelClosed(self.close_code or CLOSE_ABNORMAL, self.close_reason)
            waiter = self._waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        batch, self._inbox = self._inbox, []
        if self._reading_paused and self._state != _CLOSED:
            self._reading_paused = False
            assert self.transport is not None
            self.transport.resume_reading()
        return batch

    # Writing.

    def send_text(self, payload: bytes) -> bool:
        """Write one text frame (`payload` is UTF-8); False when the socket is not open."""
        if self._state != _OPEN:
            return False
        assert self.transport is not None
        self.transport.write(_masked(OP_TEXT, payload))
        return True

    def send_binary(self, payload: bytes | bytearray | memoryview) -> bool:
        """Write one binary frame; False when the socket is not open."""
        if self._state != _OPEN:
            return False
        assert self.transport is not None
        self.transport.write(_masked(OP_BINARY, payload))
        return True

    async def send(self, message: str | bytes | bytearray | memoryview) -> None:
        """Send a text (str) or binary message, then wait while the transport's buffer is full.

        Raises ChannelClosed when the socket is not open.
        """
        if self._state != _OPEN:
            raise ChannelClosed(self.close_code or CLOSE_ABNORMAL, self.close_reason)
        if isinstance(message, str):
            self.send_text(message.encode("utf-8"))
        else:
            self.send_binary(message)
        await self.wait_writable()

    async def wait_writable(self) -> None:
        """Wait until the transport's buffer drains below its low-water mark (or the connection closes)."""
        while self._write_paused and self._state != _CLOSED:
            waiter = self._writable
            if waiter is None or waiter.done():
                waiter = self._writable = self._loop.create_future()
            await waiter

    async def round_trip(self) -> bool:
        """Ping and wait for the pong: True once it came, so the router has read every frame written before (it
        answers a ping after the frames ahead of it); False when the socket closed first. The caller bounds the wait.
        """
        if self._state != _OPEN:
            return False
        assert self.transport is not None
        payload = os.urandom(4)
        pong: asyncio.Future[bool] = self._loop.create_future()
        self._pongs[payload] = pong
        self.transport.write(_masked(OP_PING, payload))
        try:
            return await pong
        finally:
            self._pongs.pop(payload, None)

    async def close(self, code: int = 1000, reason: str = "", timeout: float = 5.0) -> None:
        """The close handshake: send a close frame and wait (at most `timeout`) for the router to end the TCP."""
        if self._state == _OPEN:
            assert self.transport is not None
            self.transport.write(_masked(OP_CLOSE, close_payload(code, reason)))
            self._state = _CLOSING
        if self._state == _CLOSED or self.transport is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._lost), timeout)
        except TimeoutError:
            pass
        finally:
            if self._state != _CLOSED:
                self.transport.abort()

    def abort(self) -> None:
        """Drop the connection at once."""
        if self.transport is not None:
            self.transport.abort()

    # Handshake.

    def _read_response(self) -> None:
        buf = self._buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > MAX_HEAD_BYTES:
                self._refuse(0, "the handshake response head is too large")
            return
        head = bytes(buf[:end]).decode("latin-1")
        rest = bytes(buf[end + 4 :])
        self._buf = bytearray()
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            self._refuse(0, f"not an HTTP response: {lines[0][:100]!r}")
            return
        status = int(parts[1])
        if status != 101:
            self._refuse(status, f"server rejected WebSocket connection: HTTP {status}")
            return
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("upgrade", "").lower() != "websocket" or "upgrade" not in headers.get("connection", "").lower():
            self._refuse(status, "the server's 101 response does not upgrade to WebSocket")
            return
        if headers.get("sec-websocket-accept") != accept_key(self._key):
            self._refuse(status, "the server's Sec-WebSocket-Accept does not match the key")
            return
        if headers.get("sec-websocket-extensions"):
            self._refuse(status, "the server negotiated an extension nobody asked for")
            return
        self._state = _OPEN
        self._opened.set_result(None)
        if self._ping_interval is not None:
            self._ping_handle = self._loop.call_later(self._ping_interval, self._keepalive)
        if rest:
            self._buf += rest
            self._parse(self._buf)

    def _refuse(self, status: int, detail: str) -> None:
        if not self._opened.done():
            self._opened.set_exception(HandshakeRefused(status, detail))
        self._state = _CLOSED
        assert self.transport is not None
        self.transport.close()

    # Frames (the router's are unmasked).

    def _parse(self, buf: bytes | bytearray) -> None:
        pos = 0
        size = len(buf)
        inbox = self._inbox
        received = False
        try:
            while not self._reading_done:
                available = size - pos
                if available < 2:
                    break
                header, length = read_header(buf, pos, available, 0)
                if not header:
                    break
                first = buf[pos]
                second = buf[pos + 1]
                end = pos + header + length
                if size < end:
                    break
                opcode = first & 0x0F
                if first & 0x70 or second & 0x80:
                    self._protocol_error("reserved bits set" if first & 0x70 else "a masked frame from the server")
                    return
                payload = bytes(buf[pos + header : end])
                pos = end
                if opcode in (OP_TEXT, OP_BINARY):
                    if self._frag_opcode is not None:
                        self._protocol_error("a new message before the previous one's last fragment")
                        return
                    if first & 0x80:
                        if self._state == _OPEN:
                            inbox.append((opcode == OP_BINARY, payload))
                            received = True
                    else:
                        self._frag_opcode, self._fragments = opcode, [payload]
                elif opcode == OP_CONTINUATION:
                    if self._frag_opcode is None:
                        self._protocol_error("a continuation frame without a message to continue")
                        return
                    self._fragments.append(payload)
                    if first & 0x80:
                        message = b"".join(self._fragments)
                        binary = self._frag_opcode == OP_BINARY
                        self._frag_opcode, self._fragments = None, []
                        if self._state == _OPEN:
                            inbox.append((binary, message))
                            received = True
                elif opcode >= 8 and (not first & 0x80 or length > MAX_CONTROL_PAYLOAD):
                    self._protocol_error("a fragmented or oversized control frame")
                    return
                elif opcode == OP_PING:
                    if self._state == _OPEN:
                        assert self.transport is not None
                        self.transport.write(_masked(OP_PONG, payload))
                elif opcode == OP_PONG:
                    self._ping_sent = None
                    if self._pongs and (pong := self._pongs.pop(bytes(payload), None)) is not None:
                        pong.set_result(True)
                elif opcode == OP_CLOSE:
                    self._on_close_frame(payload)
                    return
                else:
                    self._protocol_error(f"unknown opcode {opcode}")
                    return
        finally:
            if self._reading_done:
                self._buf = bytearray()
            elif buf is self._buf:
                if pos >= size:
                    self._buf = bytearray()
                elif pos:
                    del self._buf[:pos]
            elif pos < size:
                self._buf += buf[pos:]
            if received:
                waiter = self._waiter
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
                if len(inbox) >= MAX_QUEUED_MESSAGES and not self._reading_paused and self._state != _CLOSED:
                    self._reading_paused = True
                    assert self.transport is not None
                    self.transport.pause_reading()

    def _on_close_frame(self, payload: bytes) -> None:
        try:
            code, reason = parse_close(payload)
        except ValueError:
            self._protocol_error("an invalid close frame")
            return
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
        if self._state == _OPEN:
            assert self.transport is not None
            self.transport.write(_masked(OP_CLOSE, b"" if code == CLOSE_NO_STATUS else payload[:2]))
            self._state = _CLOSING
        # The server closes the TCP connection first (RFC 6455 section 7.1.1); a stuck one is dropped by `close`
        # or by the keepalive below.
        self._reading_done = True

    def _protocol_error(self, what: str) -> None:
        if self._state == _OPEN:
            assert self.transport is not None
            self.transport.write(_masked(OP_CLOSE, close_payload(CLOSE_PROTOCOL_ERROR, what)))
        self._state = _CLOSING
        if self.close_code is None:
            self.close_code, self.close_reason = CLOSE_PROTOCOL_ERROR, what
        self._reading_done = True
        assert self.transport is not None
        self.transport.close()

    def _keepalive(self) -> None:
        self._ping_handle = None
        if self._state == _CLOSED:
            return
        now = self._loop.time()
        assert self._ping_interval is not None
        left = self._ping_timeout if self._ping_sent is None else self._ping_sent + self._ping_timeout - now
        if self._state == _CLOSING or left <= 0.001:
            # No pong in time (or a close handshake the router never finished): the router or the path is gone.
            if self.close_code is None:
                self.close_code, self.close_reason = CLOSE_ABNORMAL, "keepalive ping timeout"
            self.abort()
            return
        if self._ping_sent is None:
            assert self.transport is not None
            self.transport.write(_masked(OP_PING, os.urandom(4)))
            self._ping_sent = now
        # The next ping after `ping_interval`, or the end of the wait for this one's pong, whichever comes first.
        self._ping_handle = self._loop.call_later(min(self._ping_interval, left), self._keepalive)


async def connect_channel(
    url: str,
    headers: Mapping[str, str] | None = None,
    *,
    ssl_context: ssl.SSLContext | None = None,
    open_timeout: float = 10.0,
    ping_interval: float | None = 10.0,
    ping_timeout: float = 20.0,
) -> ChannelConnection:
    """Open a WebSocket to a ws:// or wss:// `url` with extra request `headers`; return it once open.

    A proxy named by the environment (`https_proxy`, `http_proxy`, `no_proxy`; see `proxy_for`) is used through
    HTTP CONNECT when it is an http:// proxy (ConnectionError for another kind).

    Raises HandshakeRefused when the server answers with another status (its `status`, 401 for a wrong secret),
    OSError (ssl.SSLCertVerificationError among them) when the connection fails, TimeoutError after `open_timeout`.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"not a WebSocket URL: {url!r}")
    secure = parts.scheme == "wss"
    if secure and ssl_context is None:
        ssl_context = ssl.create_default_context()
    port = parts.port or (443 if secure else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    key = base64.b64encode(os.urandom(16)).decode("ascii")
    lines = [
        f"GET {target} HTTP/1.1",
        f"Host: {parts.netloc.rpartition('@')[2]}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    loop = asyncio.get_running_loop()
    protocol = ChannelConnection(key, request, ping_interval, ping_timeout)
    proxy = proxy_for(parts.hostname, port, secure)
    async with asyncio.timeout(open_timeout):
        try:
            tls = ssl_context if secure else None
            server_hostname = parts.hostname if secure else None
            if proxy is None:
                await loop.create_connection(
                    lambda: protocol, parts.hostname, port, ssl=tls, server_hostname=server_hostname
                )
            else:
                tunnel = await _tunnel(proxy, parts.hostname, port)
                await loop.create_connection(lambda: protocol, sock=tunnel, ssl=tls, server_hostname=server_hostname)
            await protocol._opened
        except BaseException:
            protocol.abort()
            raise
    return protocol


def proxy_for(host: str, port: int, secure: bool) -> str | None:
    """The proxy the environment (or the system) names for a ws:// or wss:// URL, as the `websockets` client
    picks it: `no_proxy` first, then the ws/wss, socks, https and (for ws://) http proxies in that order."""
    if urllib.request.proxy_bypass(f"{host}:{port}"):
        return None
    proxies = urllib.request.getproxies()
    for scheme in ("wss", "socks", "https") if secure else ("ws", "socks", "https", "http"):
        proxy = proxies.get(scheme)
        if proxy is not None:
            return "socks5h://" + proxy[7:] if scheme == "socks" and proxy.startswith("http://") else proxy
    return None


async def _tunnel(proxy: str, host: str, port: int) -> socket.socket:
    """A socket connected through the HTTP proxy `proxy` (CONNECT) to host:port."""
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if parts.scheme != "http" or not parts.hostname:
        raise ConnectionError(f"the proxy {parts.scheme}://{parts.hostname} is not supported: use an http:// proxy")
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(parts.hostname, parts.port or 80, type=socket.SOCK_STREAM)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setblocking(False)
        await loop.sock_connect(sock, address)
        target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
        if parts.username is not None:
            credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            lines.append(f"Proxy-Authorization: Basic {base64.b64encode(credentials).decode('ascii')}")
        await loop.sock_sendall(sock, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        head = b""
        while b"\r\n\r\n" not in head:  # nothing follows the proxy's answer before we speak
            chunk = await loop.sock_recv(sock, 1)
            if not chunk or len(head) > MAX_HEAD_BYTES:
                raise ConnectionError(f"the proxy {parts.hostname} closed the connection during CONNECT")
            head += chunk
        status = head.split(b" ", 2)[1] if head.count(b" ") >= 1 else b""
        if status != b"200":
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            raise ConnectionError(f"the proxy {parts.hostname} refused to connect to {target}: {line}")
        return sock
    except BaseException:
        sock.close()
        raise
