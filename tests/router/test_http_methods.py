"""Methods other than GET, and requests with a body, get an HTTP answer from a real router (http.client).

The router is a WebSocket server; its HTTP library hangs up on any request that carries a body. These tests
send what browsers, curl and monitors send and check the answer docs/protocol.md promises.
"""

from __future__ import annotations

import asyncio
import http.client
import socket
from pathlib import Path

import pytest
from router_build_files import INDEX_HTML
from router_helpers import TIMEOUT, http_request, running_router


def _request(
    port: int, method: str, target: str = "/", body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def _raw_exchange(port: int, request: bytes) -> bytes:
    """Send raw bytes and read everything the router answers until it closes (to see bytes http.client hides)."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("method", ["OPTIONS", "POST", "PUT", "DELETE", "PATCH", "BREW"])
async def test_other_methods_are_405_with_allow(build_dir: Path, method: str) -> None:
    async with running_router(build_dir) as server:
        status, headers, body = await asyncio.to_thread(_request, server.port, method)
    assert status == 405
    assert headers["allow"] == "GET, HEAD"
    assert method.encode() in body


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"answer=42", {"Content-Type": "application/x-www-form-urlencoded"}),
        (b"x" * (3 * 2**20), {"Content-Type": "application/octet-stream"}),
        (iter([b"chunk one", b"chunk two"]), {"Transfer-Encoding": "chunked"}),
    ],
    ids=["form", "3MiB", "chunked"],
)
async def test_a_post_with_a_body_is_405_not_a_hang_up(build_dir: Path, body: object, headers: dict[str, str]) -> None:
    async with running_router(build_dir) as server:
        status, answer_headers, text = await asyncio.to_thread(
            _request,
            server.port,
            "POST",
            "/?worker_id=alice",
            body,  # type: ignore[arg-type]
            headers,
        )
        still_serving = await http_request(server.port, "/")
    assert status == 405, text
    assert answer_headers["allow"] == "GET, HEAD"
    assert still_serving.status == 200 and still_serving.body == INDEX_HTML


async def test_a_get_with_a_body_is_400(build_dir: Path) -> None:
    async with running_router(build_dir) as server:
        status, _, text = await asyncio.to_thread(_request, server.port, "GET", "/", b"{}")
        socket_path = await asyncio.to_thread(_request, server.port, "GET", "/ws", b"{}")
    assert status == 400 and b"carries no body" in text
    assert socket_path[0] == 400


@pytest.mark.parametrize("request_line", [b"GET /\xff\xfe\xc0\xaf HTTP/1.1", b"G\xc9T / HTTP/1.1"])
async def test_a_request_line_that_is_not_ascii_is_400(build_dir: Path, request_line: bytes) -> None:
    async with running_router(build_dir) as server:
        raw = await asyncio.to_thread(_raw_exchange, server.port, request_line + b"\r\nHost: 127.0.0.1\r\n\r\n")
        still_serving = await http_request(server.port, "/")
    assert raw.startswith(b"HTTP/1.1 400 "), raw[:200]
    assert b"not ASCII" in raw
    assert still_serving.status == 200


@pytest.mark.parametrize("target", ["/", "/?worker_id=alice", "/mephisto-task.js", "/_health", "/missing.html"])
async def test_head_answers_like_get_without_the_body(build_dir: Path, target: str) -> None:
    async with running_router(build_dir) as server:
        got = await asyncio.to_thread(_request, server.port, "GET", target)
        head = await asyncio.to_thread(_request, server.port, "HEAD", target)
        raw = await asyncio.to_thread(
            _raw_exchange, server.port, f"HEAD {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
        )
    assert head[0] == got[0]
    assert head[1]["content-length"] == str(len(got[2]))
    assert head[1]["content-type"] == got[1]["content-type"]
    # Nothing follows the headers on the wire (http.client would not show stray body bytes).
    assert raw.endswith(b"\r\n\r\n") and raw.count(b"\r\n\r\n") == 1


@pytest.mark.parametrize("length", ["9" * 5000, "\u00b2", "-1", "12, 12"])
async def test_odd_content_lengths_get_an_answer(build_dir: Path, length: str) -> None:
    async with running_router(build_dir) as server:
        request = f"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {length}\r\n\r\nbody".encode("latin-1")
        raw = await asyncio.to_thread(_raw_exchange, server.port, request)
        still_serving = await http_request(server.port, "/")
    assert raw.startswith(b"HTTP/1.1 405 "), raw[:200]
    assert still_serving.status == 200
