"""The operator channel's lean WebSocket client against a strict server (`websockets`): handshake, frames, close."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from mephisto_core.operations.run.channel_client import ChannelClosed, HandshakeRefused, connect_channel
from mephisto_core.router.ws_frames import accept_key


async def _with_server(handler: Any, body: Any, **kwargs: Any) -> Any:
    async with serve(handler, "127.0.0.1", 0, max_size=None, **kwargs) as server:
        port = server.sockets[0].getsockname()[1]
        return await body(f"ws://127.0.0.1:{port}/_channel?x=1")


def test_echo_of_text_and_binary_messages_of_every_length_keeps_their_order() -> None:
    seen_headers: list[Headers] = []

    async def echo(socket: ServerConnection) -> None:
        assert socket.request is not None
        seen_headers.append(socket.request.headers)
        async for message in socket:
            await socket.send(message)

    async def body(url: str) -> list[tuple[bool, bytes]]:
        conn = await connect_channel(url, {"Authorization": "Bearer s3cret"})
        sizes = [0, 1, 125, 126, 65535, 65536, 300_000]
        for size in sizes:
            assert conn.send_text(b"t" * size)
            assert conn.send_binary(bytes([size % 251]) * size)
        got: list[tuple[bool, bytes]] = []
        while len(got) < 2 * len(sizes):
            got += await conn.receive()
        await conn.close()
        expected = [m for size in sizes for m in ((False, b"t" * size), (True, bytes([size % 251]) * size))]
        assert got == expected
        return got

    asyncio.run(_with_server(echo, body))
    assert seen_headers[0]["Authorization"] == "Bearer s3cret"


def test_fragmented_messages_are_joined_and_pings_are_answered() -> None:
    async def handler(socket: ServerConnection) -> None:
        pong = await socket.ping(b"abcd")
        await asyncio.wait_for(pong, 10)  # the client answered
        await socket.send(["one ", "two ", "three"])  # three fragments
        await socket.send([b"\x01", b"\x02"])
        await socket.wait_closed()

    async def body(url: str) -> list[tuple[bool, bytes]]:
        conn = await connect_channel(url)
        got: list[tuple[bool, bytes]] = []
        while len(got) < 2:
            got += await conn.receive()
        await conn.close()
        return got

    assert asyncio.run(_with_server(handler, body)) == [(False, b"one two three"), (True, b"\x01\x02")]


def test_the_servers_close_code_reaches_the_reader_after_the_messages_before_it() -> None:
    async def handler(socket: ServerConnection) -> None:
        await socket.send("last words")
        await socket.close(4000, "replaced")

    async def body(url: str) -> tuple[list[tuple[bool, bytes]], ChannelClosed]:
        conn = await connect_channel(url)
        got = await conn.receive()
        with pytest.raises(ChannelClosed) as closed:
            while True:
                got += await conn.receive()
        assert not conn.open and not conn.send_text(b"[]")
        return got, closed.value

    got, closed = asyncio.run(_with_server(handler, body))
    assert got == [(False, b"last words")]
    assert (closed.close_code, closed.close_reason) == (4000, "replaced")
    assert closed.rcvd is not None and closed.rcvd.code == 4000  # as websockets' own ConnectionClosed says it


def test_a_refused_handshake_names_the_http_status() -> None:
    def refuse(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(401, "no\n")

    async def body(url: str) -> HandshakeRefused:
        with pytest.raises(HandshakeRefused) as refused:
            await connect_channel(url)
        return refused.value

    assert asyncio.run(_with_server(lambda _: None, body, process_request=refuse)).status == 401


def test_nothing_listening_is_an_oserror() -> None:
    async def body() -> None:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        with pytest.raises(OSError):
            await connect_channel(f"ws://127.0.0.1:{port}/_channel")

    asyncio.run(body())


def test_a_server_that_stops_answering_pings_is_dropped() -> None:
    async def body() -> ChannelClosed:
        async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            key = next(
                line.split(":", 1)[1].strip() for line in head.split("\r\n") if line.startswith("Sec-WebSocket-Key")
            )
            writer.write(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n".encode()
            )
            await reader.read()  # reads the pings, never answers them

        server = await asyncio.start_server(mute, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            conn = await connect_channel(f"ws://127.0.0.1:{port}/_channel", ping_interval=0.05, ping_timeout=0.2)
            with pytest.raises(ChannelClosed) as closed:
                await asyncio.wait_for(conn.receive(), 30)  # a hang guard only
            return closed.value

    closed = asyncio.run(body())
    assert closed.close_code == 1006 and "keepalive" in closed.close_reason


def test_an_http_proxy_from_the_environment_is_used_through_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    tunnels: list[bytes] = []

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        tunnels.append(head.split(b"\r\n", 1)[0])
        host, _, port = head.split(b" ")[1].decode().rpartition(":")
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def echo(socket: ServerConnection) -> None:
        async for message in socket:
            await socket.send(message)

    async def body(url: str) -> list[tuple[bool, bytes]]:
        server = await asyncio.start_server(proxy, "127.0.0.1", 0)
        for name in ("no_proxy", "NO_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
        async with server:
            conn = await connect_channel(url)
            conn.send_text(b"through the proxy")
            got = await conn.receive()
            await conn.close()
            return got

    assert asyncio.run(_with_server(echo, body)) == [(False, b"through the proxy")]
    assert len(tunnels) == 1 and tunnels[0].startswith(b"CONNECT 127.0.0.1:")
