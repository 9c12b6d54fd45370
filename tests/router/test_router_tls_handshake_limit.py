"""A client that opens a TCP connection to a TLS router and never finishes the TLS handshake is dropped at the
router's own limit on opening a connection (`OPEN_TIMEOUT_SECONDS`), not after asyncio's default 60 s; one that never
answers the router's TLS close is let go at its limit on closing (`CLOSE_TIMEOUT_SECONDS`), not after 30 s."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
import urllib.request
from pathlib import Path

import pytest
from router_helpers import running_router

from mephisto_core.router import http_server
from mephisto_core.router.standalone import tls_context
from mephisto_core.testing.standalone_router import make_self_signed_certificate

LIMIT = 0.5


def _idle_until_dropped(port: int, send: bytes) -> float:
    """Connect, send `send` (maybe nothing), and wait for the server to end the connection; seconds waited."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        if send:
            sock.sendall(send)
        started = time.monotonic()
        try:
            received = sock.recv(1024)
        except ConnectionResetError:  # an abort rather than a close: dropped all the same
            received = b""
        assert received == b""  # the handshake's first reply never comes: only the close
        return time.monotonic() - started


@pytest.mark.parametrize("send", [b"", b"\x16\x03\x01\x02\x00\x01"], ids=["nothing", "half-a-client-hello"])
async def test_a_stalled_tls_handshake_is_dropped_at_the_routers_open_limit(
    build_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, send: bytes
) -> None:
    monkeypatch.setattr(http_server, "OPEN_TIMEOUT_SECONDS", LIMIT)  # read when the router's server is made
    certificate = make_self_signed_certificate(tmp_path / "tls")
    async with running_router(build_dir, ssl_context=tls_context(certificate.cert, certificate.key)) as server:
        waited = await asyncio.to_thread(_idle_until_dropped, server.port, send)
        assert waited < LIMIT + 2.0, waited  # asyncio's default would hold it 60 s (recv would time out at 10)

        # A client that does its handshake within the limit is served as before.
        def fetch() -> tuple[int, bytes]:
            context = ssl.create_default_context(cafile=str(certificate.cert))
            with urllib.request.urlopen(f"https://127.0.0.1:{server.port}/", context=context, timeout=10) as page:
                return page.status, page.read()

        status, body = await asyncio.to_thread(fetch)
        assert status == 200 and body.startswith(b"<")


async def test_a_client_that_never_answers_the_tls_close_is_let_go_at_the_routers_close_limit(
    build_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_server, "CLOSE_TIMEOUT_SECONDS", LIMIT)  # read when the router's server is made
    certificate = make_self_signed_certificate(tmp_path / "tls")
    context = ssl.create_default_context(cafile=str(certificate.cert))
    async with running_router(build_dir, ssl_context=tls_context(certificate.cert, certificate.key)) as server:

        def get_page() -> tuple[ssl.SSLSocket, bytes]:
            raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            tls = context.wrap_socket(raw, server_hostname="127.0.0.1")
            tls.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return tls, tls.recv(65536)

        tls, answer = await asyncio.to_thread(get_page)
        try:
            assert answer.startswith(b"HTTP/1.1 200")
            # The page is answered and the router closes; this client keeps its socket and never sends its
            # close_notify: the router's end of the connection goes at the close limit.
            started = time.monotonic()
            while server._server.connections and time.monotonic() - started < 10:
                await asyncio.sleep(0.05)
            waited = time.monotonic() - started
            assert not server._server.connections
            assert waited < LIMIT + 2.0, waited  # asyncio's default would hold it 30 s
        finally:
            tls.close()
