"""Kept-alive connections: a page's requests on one connection when the client asks for it, as browsers do;
every other client gets its answer and the end of the connection, as before."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from router_build_files import APP_JS, INDEX_HTML
from router_helpers import TIMEOUT, running_router

from mephisto_core.router import RouterServer, http_server
from mephisto_core.router.static_files import StaticFiles

KEEP = "Connection: keep-alive\r\n"


def _get(target: str, headers: str = KEEP, version: str = "HTTP/1.1") -> bytes:
    return f"GET {target} {version}\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode("latin-1")


async def _answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One answer read off the connection: status, headers (lower-case names) and its Content-Length's body."""
    async with asyncio.timeout(TIMEOUT):
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers["content-length"]))
    return int(lines[0].split(" ")[1]), headers, body


@asynccontextmanager
async def _connection(server: RouterServer) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A raw connection to the router, closed afterwards."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        yield reader, writer
    finally:
        writer.close()


async def _at_end(reader: asyncio.StreamReader, within: float = TIMEOUT) -> bool:
    """Whether the router ends the connection (end of file) within `within` seconds, nothing else arriving."""
    try:
        async with asyncio.timeout(within):
            return await reader.read(1) == b""
    except TimeoutError:
        return False


async def test_a_page_and_its_files_come_over_one_connection_that_then_stays_open(build_dir: Path) -> None:
    async with running_router(build_dir) as server, _connection(server) as (reader, writer):
        writer.write(_get("/?worker_id=alice"))
        page = await _answer(reader)
        writer.write(_get("/sub/app.js"))
        script = await _answer(reader)
        still_open = not await _at_end(reader, within=0.3)
    assert (page[0], page[2], script[0], script[2]) == (200, INDEX_HTML, 200, APP_JS)
    assert page[1]["connection"] == "keep-alive" and page[1]["keep-alive"] == "timeout=10"
    assert still_open


async def test_requests_sent_together_are_answered_in_their_order(
    build_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_lookup = StaticFiles.lookup

    def slow(self: StaticFiles, target: str) -> object:
        time.sleep(0.2)  # app.js is read from the disk (in a thread) while the next request is already there
        return real_lookup(self, target)

    async with running_router(build_dir) as server:
        monkeypatch.setattr(StaticFiles, "lookup", slow)
        async with _connection(server) as (reader, writer):
            writer.write(_get("/sub/app.js") + _get("/") + _get("/sub/app.js", "Connection: close\r\n"))
            answers = [await _answer(reader) for _ in range(3)]
            ended = await _at_end(reader)
    assert [(status, body) for status, _, body in answers] == [(200, APP_JS), (200, INDEX_HTML), (200, APP_JS)]
    assert answers[2][1]["connection"] == "close" and ended


@pytest.mark.parametrize(
    ("headers", "version"),
    [
        ("", "HTTP/1.1"),
        ("Connection: close\r\n", "HTTP/1.1"),
        ("Connection: keep-alive, close\r\n", "HTTP/1.1"),
        (KEEP, "HTTP/1.0"),
    ],
    ids=["nothing-said", "close", "keep-alive-and-close", "http-1.0"],
)
async def test_other_clients_get_their_answer_and_the_end_of_the_connection(
    build_dir: Path, headers: str, version: str
) -> None:
    async with running_router(build_dir) as server, _connection(server) as (reader, writer):
        writer.write(_get("/", headers, version))
        status, answer_headers, body = await _answer(reader)
        ended = await _at_end(reader)
    assert (status, body, answer_headers["connection"]) == (200, INDEX_HTML, "close")
    assert ended


async def test_a_request_with_a_body_ends_the_connection_so_nothing_hides_in_a_body(build_dir: Path) -> None:
    smuggled = _get("/sub/app.js")
    async with running_router(build_dir) as server, _connection(server) as (reader, writer):
        writer.write(
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n{KEEP}Content-Length: {len(smuggled)}\r\n\r\n".encode() + smuggled
        )
        status, headers, _ = await _answer(reader)
        ended = await _at_end(reader)
    assert (status, headers["connection"]) == (400, "close")
    assert ended  # the request inside the body was never answered


async def test_an_idle_kept_alive_connection_is_ended_after_the_open_timeout_not_reset(
    build_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_server, "OPEN_TIMEOUT_SECONDS", 0.3)
    async with running_router(build_dir) as server, _connection(server) as (reader, writer):
        writer.write(_get("/"))
        status, headers, _ = await _answer(reader)
        ended = await _at_end(reader, within=3.0)  # a reset would raise ConnectionResetError here
    assert (status, headers["keep-alive"]) == (200, "timeout=0")
    assert ended


async def test_a_page_may_open_its_websocket_on_the_connection_it_got_the_page_on(build_dir: Path) -> None:
    async with running_router(build_dir) as server, _connection(server) as (reader, writer):
        writer.write(_get("/?worker_id=alice"))
        page = await _answer(reader)
        writer.write(
            _get(
                "/ws",
                "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
            )
        )
        async with asyncio.timeout(TIMEOUT):
            switched = await reader.readuntil(b"\r\n\r\n")
    assert page[0] == 200
    assert switched.startswith(b"HTTP/1.1 101 ") and b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in switched


async def test_answers_wait_for_a_client_that_does_not_read_them_instead_of_filling_memory(build_dir: Path) -> None:
    # 300 requests of a 200 KB file in 20 KB: answered all at once, the router would hold 60 MB for a client
    # that reads none of it. It answers as the client reads, every one of them in the end.
    (build_dir / "big.js").write_bytes(b"//" + b"x" * 200_000 + b"\n")
    async with running_router(build_dir) as server, _connection(server) as (reader, writer):
        writer.write(_get("/big.js") * 299 + _get("/big.js", "Connection: close\r\n"))
        await asyncio.sleep(0.5)  # the client reads nothing meanwhile
        held = [c.transport.get_write_buffer_size() for c in server._server.connections if c.transport is not None]
        received = 0
        async with asyncio.timeout(TIMEOUT):
            while chunk := await reader.read(2**20):
                received += len(chunk)
    assert held and max(held) < 2 * 2**20, held
    assert received > 300 * 200_000  # every answer, once the client read
