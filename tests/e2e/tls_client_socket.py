"""A wss:// connection for websockets' threaded (sync) client that is safe to read in one thread and write in another.

The sync client reads its socket in a thread of its own while the caller's thread writes. With `ssl=` that socket
is a `ssl.SSLSocket`, and CPython does not serialise the two threads' calls into the one OpenSSL connection: under
TLS 1.3, when the server's session tickets (sent just after the handshake) are being read while the opening
request is written, the write can wait for data that never comes. Seen here: a capture of a hung test showed the
client's TLS Finished and then nothing from it for 12 s, until the router's open timeout closed the connection
(about 1 in 30 runs of `test_standalone_router_late_answer.py` on a loaded machine; 3 in 500 connections in a
plain reader-thread-plus-sendall loop against a TLS 1.3 server). Browsers and the product's own asyncio clients
run TLS in one thread and are not affected.

Here TLS runs over memory BIOs, each of its steps under a lock; only the blocking network reads and writes happen
outside it. Records are taken from the network one at a time, as OpenSSL does, so the client's `select` on the
socket still tells when there is more to read.
"""

from __future__ import annotations

import socket
import ssl
import threading
from typing import Any
from urllib.parse import urlsplit

from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

_RECORD_HEADER = 5  # content type, version, length (RFC 8446 section 5.1)


class ThreadSafeTLSSocket:
    """The socket methods websockets' sync client uses (`recv`, `send`, `sendall`; the rest go to the TCP socket),
    over one TLS client connection whose steps are serialised."""

    def __init__(self, sock: socket.socket, context: ssl.SSLContext, server_hostname: str) -> None:
        self.tcp = sock
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_hostname=server_hostname)
        self._state_lock = threading.Lock()  # around each call into the TLS object
        self._send_lock = threading.Lock()  # records leave in the order they were made
        while True:  # the handshake, before any second thread exists
            try:
                self._tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                self._feed()
        self._flush()

    def _flush(self) -> None:
        if not self._outgoing.pending:
            return  # the reader does not wait for a writer blocked on a full network buffer for nothing
        with self._send_lock:
            with self._state_lock:
                data = self._outgoing.read()
            if data:
                self.tcp.sendall(data)

    def _feed(self) -> None:
        """Move one TLS record from the network into the memory BIO (as OpenSSL reads a socket: no further), so
        what is not read yet stays in the kernel, where the client's `select` sees it."""
        header = self._read_exactly(_RECORD_HEADER)
        length = int.from_bytes(header[3:5], "big") if len(header) == _RECORD_HEADER else 0
        body = self._read_exactly(length)
        with self._state_lock:
            self._incoming.write(header + body)
            if len(header) < _RECORD_HEADER or len(body) < length:
                self._incoming.write_eof()  # the connection ended, between records or within one

    def _read_exactly(self, size: int) -> bytes:
        """`size` bytes from the network, or fewer when the connection ends first."""
        data = b""
        while len(data) < size:
            more = self.tcp.recv(size - len(data))
            if not more:
                break
            data += more
        return data

    def recv(self, bufsize: int) -> bytes:
        """Up to `bufsize` bytes of application data, waiting for a record if none is in; b"" at the end."""
        while True:
            try:
                with self._state_lock:
                    data = self._tls.read(bufsize)
            except ssl.SSLWantReadError:
                self._flush()  # reading may have made records to send (a key update's answer)
                self._feed()
                continue
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""
            self._flush()
            return data

    def sendall(self, data: Any) -> None:
        """Encrypt and send all of `data` (a memory BIO never asks to wait for writing)."""
        with self._send_lock:
            with self._state_lock:
                self._tls.write(data)
                records = self._outgoing.read()
            self.tcp.sendall(records)

    def send(self, data: Any) -> int:
        self.sendall(data)
        return len(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tcp, name)


def connect_wss(url: str, context: ssl.SSLContext, **kwargs: Any) -> ClientConnection:
    """`websockets.sync.client.connect(url, ssl=context, **kwargs)` with a `ThreadSafeTLSSocket` (see above)."""
    parts = urlsplit(url)
    assert parts.scheme == "wss" and parts.hostname is not None, url
    timeout = kwargs.get("open_timeout", 10)
    tcp = socket.create_connection((parts.hostname, parts.port or 443), timeout=timeout)
    try:
        tcp.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
        tls = ThreadSafeTLSSocket(tcp, context, parts.hostname)
        tcp.settimeout(None)
    except BaseException:
        tcp.close()
        raise
    # websockets wraps the socket in TLS itself only for wss:// addresses: it is given the ws:// one, same host.
    return ws_connect("ws" + url[3:], sock=tls, **kwargs)  # type: ignore[arg-type]
