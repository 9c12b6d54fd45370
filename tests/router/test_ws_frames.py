"""The router's own WebSocket server, byte by byte: a raw client over a real socket sends exactly the frames a test
wants (fragments, unmasked or malformed frames, pings, close frames) and reads what the router answers."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from router_helpers import TIMEOUT, FakeOperator, hello, recv_json, running_router, send_json, worker_socket

from mephisto_core.router import RouterServer
from mephisto_core.router import channel as channel_module
from mephisto_core.router import server as server_module
from mephisto_core.router.ws_frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    _apply_mask_python,
    accept_key,
    apply_mask,
    close_payload,
    encode_frame,
    mask_frame,
    parse_close,
    read_header,
)


class RawSocket:
    """A WebSocket client that sends raw frames and parses the server's (unmasked) frames itself."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def send(self, opcode: int, payload: bytes, *, fin: bool = True, masked: bool = True, rsv: int = 0) -> None:
        if masked:
            frame = bytearray(mask_frame(opcode, payload, os.urandom(4), fin))
        else:
            frame = bytearray(encode_frame(opcode, payload))
            if not fin:
                frame[0] &= 0x7F
        frame[0] |= rsv << 4
        self.writer.write(bytes(frame))

    async def recv(self) -> tuple[int, bytes]:
        """The next frame's opcode and payload; (-1, b"") when the router closed the connection."""
        async with asyncio.timeout(TIMEOUT):
            try:
                head = await self.reader.readexactly(2)
            except asyncio.IncompleteReadError:
                return -1, b""
            length = head[1] & 0x7F
            assert not head[1] & 0x80, "server frames are never masked"
            if length == 126:
                (length,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
            return head[0] & 0x0F, await self.reader.readexactly(length)

    async def recv_data(self) -> tuple[int, bytes]:
        """The next frame that is not a ping (pings are answered)."""
        while True:
            opcode, payload = await self.recv()
            if opcode == OP_PING:
                self.send(OP_PONG, payload)
                continue
            return opcode, payload

    async def closed_with(self) -> int:
        """Read until the router's close frame; its code (answering it as a client does)."""
        while True:
            opcode, payload = await self.recv()
            if opcode == -1:
                return -1
            if opcode == OP_CLOSE:
                code, _ = parse_close(payload)
                self.send(OP_CLOSE, payload[:2])
                return code

    async def at_eof(self) -> bool:
        async with asyncio.timeout(TIMEOUT):
            return await self.reader.read() == b""


def handshake(key: str = "dGhlIHNhbXBsZSBub25jZQ==", path: str = "/ws", **overrides: str | None) -> bytes:
    headers: dict[str, str | None] = {
        "Host": "127.0.0.1",
        "Upgrade": "websocket",
        "Connection": "keep-alive, Upgrade",
        "Sec-WebSocket-Key": key,
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits",
    }
    headers.update(overrides)
    lines = [f"GET {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items() if v is not None]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def exchange_head(server: RouterServer, request: bytes) -> tuple[bytes, asyncio.StreamReader, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(request)
    async with asyncio.timeout(TIMEOUT):
        head = await reader.readuntil(b"\r\n\r\n")
    return head, reader, writer


@asynccontextmanager
async def raw_socket(server: RouterServer) -> AsyncIterator[RawSocket]:
    key = base64.b64encode(os.urandom(16)).decode()
    head, reader, writer = await exchange_head(server, handshake(key))
    assert head.startswith(b"HTTP/1.1 101 "), head
    assert f"Sec-WebSocket-Accept: {accept_key(key)}".encode() in head
    assert b"Sec-WebSocket-Extensions" not in head  # no compression is negotiated
    try:
        yield RawSocket(reader, writer)
    finally:
        writer.close()


def test_the_accept_key_of_rfc_6455() -> None:
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize("length", [0, 1, 3, 4, 5, 125, 126, 1000, 65535, 65536, 70001])
def test_masking_and_frame_lengths(length: int) -> None:
    data = os.urandom(length)
    mask = os.urandom(4)
    assert _apply_mask_python(data, mask) == apply_mask(data, mask)
    assert apply_mask(apply_mask(data, mask), mask) == data
    frame = encode_frame(OP_BINARY, data)
    assert frame.endswith(data) and frame[0] == 0x82
    assert len(frame) - length == (2 if length < 126 else 4 if length < 65536 else 10)


@pytest.mark.parametrize("length", [0, 125, 126, 65535, 65536, 70001])
def test_a_frame_header_is_read_once_it_has_all_arrived(length: int) -> None:
    payload = bytes(length)
    for frame, mask_bytes in ((encode_frame(OP_BINARY, payload), 0), (mask_frame(OP_BINARY, payload, b"abcd"), 4)):
        header = len(frame) - length
        framed = b"xy" + frame  # read from an offset, as within a buffer of several frames
        assert read_header(framed, 2, len(frame), mask_bytes) == (header, length)
        for arrived in range(2, header):
            assert read_header(framed, 2, arrived, mask_bytes) == (0, 0)


def test_close_payloads_cut_long_reasons_on_a_character_boundary() -> None:
    payload = close_payload(4000, "é" * 100)
    assert len(payload) <= 125
    assert parse_close(payload) == (4000, "é" * 61)
    assert close_payload(None) == b""
    with pytest.raises(ValueError):
        parse_close(b"\x03\xe8\xff")  # a reason that is not UTF-8
    with pytest.raises(ValueError):
        parse_close(struct.pack("!H", 1005))  # a code no frame may carry


async def test_a_fragmented_message_with_a_ping_between_arrives_whole(build_dir: Path) -> None:
    async with running_router(build_dir) as server, FakeOperator(server.channel_url) as operator:
        async with raw_socket(server) as page:
            text = json.dumps(hello(1, worker_id="frag")).encode()
            page.send(OP_TEXT, text[:5], fin=False)
            page.send(OP_CONTINUATION, text[5:9], fin=False)
            page.send(OP_PING, b"between")  # control frames may come between fragments
            page.send(OP_CONTINUATION, text[9:])
            assert await page.recv() == (OP_PONG, b"between")
            opcode, payload = await page.recv_data()
        assert opcode == OP_TEXT and json.loads(payload)["type"] == "assigned"
        assert operator.messages("hello")[0]["params"] == {"worker_id": "frag"}


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        ([(OP_TEXT, b'{"type":"live","data":1}', {"masked": False})], 1002),
        ([(OP_TEXT, b'{"type":"live","data":1}', {"rsv": 4})], 1002),
        ([(OP_CONTINUATION, b"x", {})], 1002),
        ([(OP_TEXT, b"{", {"fin": False}), (OP_TEXT, b"}", {})], 1002),
        ([(0x3, b"", {})], 1002),
        ([(OP_PING, b"p", {"fin": False})], 1002),
        ([(OP_PING, b"p" * 126, {})], 1002),
        ([(OP_TEXT, b'{"type":"live","data":"\xff"}', {})], 1007),
        ([(OP_CLOSE, b"\x03", {})], 1002),
    ],
    ids=[
        "unmasked",
        "reserved-bit",
        "lone-continuation",
        "new-message-mid-fragments",
        "unknown-opcode",
        "fragmented-ping",
        "oversize-ping",
        "text-not-utf8",
        "one-byte-close",
    ],
)
async def test_frames_that_break_the_protocol_close_that_socket(
    build_dir: Path, frames: list[tuple[int, bytes, dict[str, Any]]], code: int
) -> None:
    async with (
        running_router(build_dir) as server,
        FakeOperator(server.channel_url) as operator,
        worker_socket(server) as bystander,
    ):
        async with raw_socket(server) as page:
            for opcode, payload, options in frames:
                page.send(opcode, payload, **options)
            assert await page.closed_with() == code
            assert await page.at_eof()
        await operator.wait_for(lambda: len(operator.events("close")) == 1)
        await send_json(bystander, {"type": "heartbeat", "id": 1})
        assert (await recv_json(bystander))["type"] == "heartbeat_ack"


async def test_fragments_over_the_limit_close_with_1009(build_dir: Path) -> None:
    async with running_router(build_dir, max_message_bytes=1000, max_upload_bytes=1000) as server:
        limit = 1000 + server_module.UPLOAD_FRAME_ALLOWANCE
        async with raw_socket(server) as page:
            page.send(OP_BINARY, b"x" * (limit // 2), fin=False)
            page.send(OP_CONTINUATION, b"x" * (limit // 2), fin=False)
            page.send(OP_CONTINUATION, b"x" * 10)  # one fragment too many
            assert await page.closed_with() == 1009
            assert await page.at_eof()


async def test_ping_is_answered_with_its_payload_and_close_is_echoed(build_dir: Path) -> None:
    async with running_router(build_dir) as server, FakeOperator(server.channel_url) as operator:
        async with raw_socket(server) as page:
            page.send(OP_PING, b"are you there")
            assert await page.recv() == (OP_PONG, b"are you there")
            page.send(OP_CLOSE, close_payload(1000, "bye"))
            opcode, payload = await page.recv()
            assert opcode == OP_CLOSE and parse_close(payload)[0] == 1000
            assert await page.at_eof()  # the server closes the TCP connection first
        await operator.wait_for(lambda: len(operator.events("close")) == 1)


async def test_operator_close_envelope_reaches_the_page_with_its_code(build_dir: Path) -> None:
    async with (
        running_router(build_dir) as server,
        FakeOperator(server.channel_url) as operator,
        raw_socket(server) as page,
    ):
        await operator.wait_for(lambda: len(operator.events("open")) == 1)
        conn = operator.events("open")[0]["conn"]
        await operator.send({"conn": conn, "close": 4321, "reason": "r" * 300})
        opcode, payload = await page.recv()
        assert opcode == OP_CLOSE and len(payload) <= 125
        assert parse_close(payload) == (4321, "r" * 123)
        page.send(OP_CLOSE, payload[:2])
        assert await page.at_eof()


@pytest.mark.parametrize(
    ("overrides", "status", "words"),
    [
        ({"Upgrade": None}, 426, b"Upgrade: websocket"),
        ({"Connection": "keep-alive"}, 426, b"Connection: Upgrade"),
        ({"Sec-WebSocket-Version": "8"}, 426, b"Sec-WebSocket-Version: 13"),
        ({"Sec-WebSocket-Key": None}, 400, b"Sec-WebSocket-Key"),
        ({"Sec-WebSocket-Key": "c2hvcnQ="}, 400, b"Sec-WebSocket-Key"),
    ],
    ids=["no-upgrade", "no-connection-upgrade", "version-8", "no-key", "short-key"],
)
async def test_invalid_handshakes_are_refused_with_a_reason(
    build_dir: Path, overrides: dict[str, str | None], status: int, words: bytes
) -> None:
    async with running_router(build_dir) as server:
        head, reader, writer = await exchange_head(server, handshake(**overrides))
        body = await reader.read()
        writer.close()
    assert head.startswith(f"HTTP/1.1 {status} ".encode()), head
    assert words in head + body


async def test_a_silent_peer_is_dropped_by_the_keepalive(build_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "PING_INTERVAL_SECONDS", 0.2)
    monkeypatch.setattr(server_module, "PING_TIMEOUT_SECONDS", 0.3)
    async with (
        running_router(build_dir) as server,
        FakeOperator(server.channel_url) as operator,
        worker_socket(server) as answering,  # websockets answers pings by itself
        raw_socket(server) as silent,
    ):
        await operator.wait_for(lambda: len(operator.events("open")) == 2)
        silent_conn = operator.events("open")[1]["conn"]
        assert (await silent.recv())[0] == OP_PING  # pinged, and never answers
        await operator.wait_for(lambda: bool(operator.events("close")))
        assert operator.events("close") == [{"conn": silent_conn, "event": "close"}]
        await asyncio.sleep(1.0)  # several ping intervals: the peer that answers stays
        await send_json(answering, {"type": "heartbeat", "id": 5})
        assert (await recv_json(answering))["id"] == 5
        assert len(operator.events("close")) == 1


async def test_pages_are_paused_while_the_channel_is_congested(
    build_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(channel_module, "QUEUE_HIGH_WATER", 0)  # every relayed message congests the queue
    async with running_router(build_dir) as server, FakeOperator(server.channel_url) as operator:
        channel = server.local_link
        paused: list[bool] = []
        original = channel.pause_reader

        def record(conn: Any) -> None:
            original(conn)
            paused.append(conn.reading_paused)

        monkeypatch.setattr(channel, "pause_reader", record)
        async with worker_socket(server) as page:
            for request_id in range(1, 4):
                await send_json(page, {"type": "live", "data": request_id})
            # Each message paused the page; the channel drained and read it again, so all arrive in order.
            await operator.wait_for(lambda: len(operator.messages("live")) == 3)
        assert [m["data"] for m in operator.messages("live")] == [1, 2, 3]
        assert paused and all(paused)
        assert not channel.congested
