"""Test-side parties of the worker protocol: a fake operator, worker sockets and a raw HTTP client.

The fake operator is a real WebSocket client of the router's channel that answers the way
docs/protocol.md says the real operator does, and records everything it receives.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from mephisto_core.router import RouterServer

SECRET = "test-channel-secret"
TIMEOUT = 10.0

T = TypeVar("T")


@asynccontextmanager
async def running_router(build_dir: Path, **kwargs: Any) -> AsyncIterator[RouterServer]:
    """A started router on 127.0.0.1 and a free port, stopped afterwards."""
    server = RouterServer(build_dir, SECRET, **kwargs)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@asynccontextmanager
async def worker_socket(server: RouterServer, **kwargs: Any) -> AsyncIterator[ClientConnection]:
    """A worker page's WebSocket to the router."""
    async with connect(f"ws://127.0.0.1:{server.port}/ws", max_size=None, **kwargs) as socket:
        yield socket


async def send_json(socket: ClientConnection, message: object) -> None:
    """Send one JSON text frame."""
    await socket.send(json.dumps(message))


async def recv_json(socket: ClientConnection) -> Any:
    """Receive one text frame as JSON (fails the test after TIMEOUT)."""
    async with asyncio.timeout(TIMEOUT):
        frame = await socket.recv()
    assert isinstance(frame, str), f"expected a text frame, got {len(frame)} bytes of binary"
    return json.loads(frame)


async def ask(socket: ClientConnection, message: object) -> Any:
    """Send a request and return the next frame."""
    await send_json(socket, message)
    return await recv_json(socket)


#: the header of a small upload with request id 3 (the third request of the tests that send one of each kind)
UPLOAD_HEADER: dict[str, Any] = {
    "type": "upload",
    "id": 3,
    "upload_id": "u1",
    "field": "f",
    "name": "a.txt",
    "content_type": "text/plain",
}


def upload_frame(header: dict[str, Any], data: bytes) -> bytes:
    """A worker's binary upload frame: 4-byte big-endian header length, JSON header, file bytes."""
    header_bytes = json.dumps(header).encode()
    return len(header_bytes).to_bytes(4, "big") + header_bytes + data


def hello(request_id: int = 1, token: str | None = None, **params: str) -> dict[str, Any]:
    """A page's `hello`."""
    return {"type": "hello", "id": request_id, "params": params, "token": token, "client_version": "test"}


@dataclass
class _Agent:
    agent_id: str
    unit_id: str
    token: str


@dataclass
class RecordedUpload:
    """An upload as the operator received it."""

    conn: int
    header: dict[str, Any]
    data: bytes
    raw_frame: bytes


@dataclass
class FakeOperator:
    """A test operator on the router's channel.

    With `answer=True` it answers `hello` (assigned, or `refuse_reason`), uploads (`upload_ack`), `submit`
    (`submitted`) and echoes `live`; with `answer=False` it only records. With `drop_first_submit` it
    answers the first `submit` by closing that worker's socket instead (a network failure mid-submit).
    """

    channel_url: str
    secret: str = SECRET
    answer: bool = True
    init_data: Any = field(default_factory=lambda: {"text": "Is this a cat?", "index": 7})
    refuse_reason: str | None = None
    drop_first_submit: bool = False
    frames: list[list[Any]] = field(default_factory=list)
    envelopes: list[dict[str, Any]] = field(default_factory=list)
    uploads: list[RecordedUpload] = field(default_factory=list)
    socket: ClientConnection | None = None
    _agents: dict[str, _Agent] = field(default_factory=dict)
    _changed: asyncio.Condition | None = None
    _reader: asyncio.Task[None] | None = None

    @property
    def router_hello(self) -> dict[str, Any]:
        """The router's first envelope."""
        return self.envelopes[0]

    def messages(self, type_: str | None = None) -> list[dict[str, Any]]:
        """Page messages received (envelopes with `msg`), optionally of one type."""
        found = [e["msg"] for e in self.envelopes if "msg" in e]
        return [m for m in found if type_ is None or m.get("type") == type_]

    def events(self, event: str) -> list[dict[str, Any]]:
        """Envelopes of one `event` kind (open, close, hello)."""
        return [e for e in self.envelopes if e.get("event") == event]

    async def __aenter__(self) -> FakeOperator:
        self._changed = asyncio.Condition()
        self.socket = await connect(
            self.channel_url, additional_headers={"Authorization": f"Bearer {self.secret}"}, max_size=None
        )
        self._reader = asyncio.get_running_loop().create_task(self._read())
        await self.wait_for(lambda: bool(self.envelopes))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.socket is not None and self._reader is not None
        await self.socket.close()
        await self._reader

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
        """Wait until `predicate()` holds (checked after every frame received)."""
        assert self._changed is not None
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)

    async def send(self, *envelopes: dict[str, Any]) -> None:
        """Send envelopes to the router in one frame."""
        assert self.socket is not None
        await self.socket.send(json.dumps(list(envelopes)))

    async def _read(self) -> None:
        assert self.socket is not None and self._changed is not None
        try:
            async for frame in self.socket:
                if isinstance(frame, bytes):
                    await self._on_upload(frame)
                else:
                    batch = json.loads(frame)
                    assert isinstance(batch, list), f"the router sent a frame that is not an array: {frame!r}"
                    self.frames.append(batch)
                    for envelope in batch:
                        self.envelopes.append(envelope)
                        if self.answer and "msg" in envelope:
                            await self._answer(envelope["conn"], envelope["msg"])
                async with self._changed:
                    self._changed.notify_all()
        except ConnectionClosed:
            return

    async def _on_upload(self, frame: bytes) -> None:
        conn = int.from_bytes(frame[:8], "big")
        inner = frame[8:]
        header_length = int.from_bytes(inner[:4], "big")
        header = json.loads(inner[4 : 4 + header_length])
        self.uploads.append(RecordedUpload(conn, header, inner[4 + header_length :], frame))
        if self.answer:
            reply = {"type": "upload_ack", "id": header["id"], "upload_id": header["upload_id"]}
            await self.send({"conn": conn, "msg": reply})

    async def _answer(self, conn: int, msg: dict[str, Any]) -> None:
        reply: dict[str, Any] | None = None
        if msg["type"] == "hello":
            reply = self._answer_hello(msg)
        elif msg["type"] == "submit" and self.drop_first_submit and len(self.messages("submit")) == 1:
            await self.send({"conn": conn, "close": 1012, "reason": "test: lost before the answer"})
        elif msg["type"] == "submit":
            known = {u.header["upload_id"] for u in self.uploads}
            missing = [u for u in msg["uploads"] if u not in known]
            if missing:
                reply = {"type": "error", "id": msg["id"], "code": "unknown_upload", "message": str(missing)}
            else:
                reply = {
                    "type": "submitted",
                    "id": msg["id"],
                    "submit_key": msg["submit_key"],
                    "next": "done",
                }
        elif msg["type"] == "live":
            reply = {"type": "live", "data": {"echo": msg["data"]}}
        if reply is not None:
            await self.send({"conn": conn, "msg": reply})

    def _answer_hello(self, msg: dict[str, Any]) -> dict[str, Any]:
        if self.refuse_reason is not None:
            return {
                "type": "refused",
                "id": msg["id"],
                "reason": self.refuse_reason,
                "message": "You have already done all the work you may do here.",
            }
        agent = self._agents.get(msg["token"] or "")
        if agent is None:
            number = len(self._agents) + 1
            agent = _Agent(f"agent-{number}", f"unit-{number}", f"token-{number}-{msg['params']}")
            self._agents[agent.token] = agent
        return {
            "type": "assigned",
            "id": msg["id"],
            "agent_id": agent.agent_id,
            "token": agent.token,
            "unit_id": agent.unit_id,
            "is_onboarding": False,
            "init_data": self.init_data,
            "submitted": False,
        }


@dataclass
class HttpAnswer:
    """A raw HTTP response; status 0 when the server closed the connection without one."""

    status: int
    headers: dict[str, str]
    body: bytes


async def http_request(port: int, target: str, method: str = "GET", extra: str = "") -> HttpAnswer:
    """Send one request byte-for-byte (no client-side path normalisation) and read the whole answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode("latin-1"))
        await writer.drain()
        async with asyncio.timeout(TIMEOUT):
            raw = await reader.read()
    finally:
        writer.close()
    if not raw:
        return HttpAnswer(0, {}, b"")  # the server hung up without answering
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return HttpAnswer(status, headers, body)


class BackgroundLoop:
    """An event loop in a thread, for tests whose main thread is busy with a synchronous API (playwright)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="router-test-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = TIMEOUT) -> T:
        """Run a coroutine on the background loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        """Stop the loop and its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(TIMEOUT)
        self.loop.close()
