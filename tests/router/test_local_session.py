"""The in-process link: an operator on the router's own event loop, with no channel socket in between."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from router_helpers import (
    TIMEOUT,
    FakeOperator,
    ask,
    hello,
    recv_json,
    running_router,
    send_json,
    upload_frame,
    worker_socket,
)

from mephisto_core.router import LocalSession, RouterServer
from mephisto_core.router import channel as channel_module


class LocalOperator:
    """Records what a local session delivers; optionally holds every delivery until `release()`."""

    def __init__(self, hold: bool = False) -> None:
        self.envelopes: list[dict[str, Any]] = []
        self.uploads: list[tuple[int, bytes]] = []
        self._gate = asyncio.Event()
        if not hold:
            self._gate.set()
        self._changed = asyncio.Condition()
        self.session: LocalSession | None = None

    def open(self, server: RouterServer) -> LocalSession:
        self.session = server.local_link.open_local(self.on_envelope, self.on_upload)
        return self.session

    def release(self) -> None:
        self._gate.set()

    def messages(self) -> list[dict[str, Any]]:
        return [e["msg"] for e in self.envelopes if "msg" in e]

    async def on_envelope(self, envelope: dict[str, Any]) -> None:
        await self._gate.wait()
        self.envelopes.append(envelope)
        async with self._changed:
            self._changed.notify_all()

    async def on_upload(self, conn: int, frame: bytes) -> None:
        await self._gate.wait()
        self.uploads.append((conn, frame))
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), TIMEOUT)


async def test_local_session_starts_with_the_routers_hello(build_dir: Path) -> None:
    async with running_router(build_dir) as server, worker_socket(server), worker_socket(server):
        await asyncio.sleep(0.05)  # let the router register both sockets
        operator = LocalOperator()
        session = operator.open(server)
        await operator.wait_for(lambda: bool(operator.envelopes))
        first = operator.envelopes[0]
        assert first["event"] == "hello" and first["router_id"] == server.router_id
        assert len(first["conns"]) == 2
        assert session.is_open and server.operator_connected


async def test_page_message_arrives_as_an_object_and_the_answer_reaches_the_page(build_dir: Path) -> None:
    async with running_router(build_dir) as server:
        operator = LocalOperator()
        session = operator.open(server)
        async with worker_socket(server) as page:
            await send_json(page, hello(3, worker_id="alice"))
            await operator.wait_for(lambda: bool(operator.messages()))
            opened = [e for e in operator.envelopes if e.get("event") == "open"]
            assert len(opened) == 1 and opened[0]["ip"] == "127.0.0.1"
            conn = opened[0]["conn"]
            assert operator.messages() == [hello(3, worker_id="alice")]
            session.send({"conn": conn, "msg": {"type": "assigned", "id": 3, "unit_id": "u1"}})
            assert await recv_json(page) == {"type": "assigned", "id": 3, "unit_id": "u1"}
        await operator.wait_for(lambda: any(e.get("event") == "close" for e in operator.envelopes))
        assert operator.envelopes[-1] == {"conn": conn, "event": "close", "left": True}  # closed by the page


async def test_upload_frame_goes_to_on_upload_unchanged(build_dir: Path) -> None:
    async with running_router(build_dir) as server, worker_socket(server) as page:
        operator = LocalOperator()
        operator.open(server)
        header = {"type": "upload", "id": 4, "upload_id": "up-12345678", "field": "f", "name": "a.bin"}
        frame = upload_frame({**header, "content_type": "application/octet-stream"}, b"\x00\x01payload")
        await page.send(frame)
        await operator.wait_for(lambda: bool(operator.uploads))
        conns = operator.envelopes[0]["conns"]
        assert operator.uploads == [(conns[0], frame)]


async def test_operator_close_envelope_closes_the_page(build_dir: Path) -> None:
    async with running_router(build_dir) as server:
        operator = LocalOperator()
        session = operator.open(server)
        async with worker_socket(server) as page:
            await operator.wait_for(lambda: any(e.get("event") == "open" for e in operator.envelopes))
            conn = operator.envelopes[-1]["conn"]
            session.send({"conn": conn, "close": 4001, "reason": "blocked"})
            await asyncio.wait_for(page.wait_closed(), TIMEOUT)
            assert page.close_code == 4001 and page.close_reason == "blocked"


async def test_envelopes_that_json_cannot_hold_are_dropped_and_later_ones_still_arrive(build_dir: Path) -> None:
    async with running_router(build_dir) as server:
        operator = LocalOperator()
        session = operator.open(server)
        async with worker_socket(server) as page:
            await operator.wait_for(lambda: any(e.get("event") == "open" for e in operator.envelopes))
            conn = operator.envelopes[-1]["conn"]
            session.send({"conn": conn, "msg": {"type": "assigned", "bad": {1, 2}}})
            session.send({"conn": "1", "msg": {"type": "assigned"}})
            session.send({"conn": conn, "msg": {"type": "status", "status": "ok"}})
            assert await recv_json(page) == {"type": "status", "status": "ok"}


async def test_closed_session_leaves_pages_unavailable_and_drops_sends(build_dir: Path) -> None:
    async with running_router(build_dir) as server, worker_socket(server) as page:
        operator = LocalOperator()
        session = operator.open(server)
        await operator.wait_for(lambda: bool(operator.envelopes))
        conn = operator.envelopes[0]["conns"][0]
        session.close()
        assert not session.is_open and not server.operator_connected
        session.send({"conn": conn, "msg": {"type": "status", "status": "late"}})
        answer = await ask(page, hello(5, worker_id="bob"))
        assert (answer["type"], answer["code"], answer["id"]) == ("error", "unavailable", 5)
        assert operator.messages() == []


async def test_full_queue_stops_reading_pages_until_the_operator_catches_up(build_dir: Path, monkeypatch: Any) -> None:
    # Small marks so a few messages congest the queue; the operator holds every delivery meanwhile.
    monkeypatch.setattr(channel_module, "QUEUE_HIGH_WATER", 2_000)
    monkeypatch.setattr(channel_module, "QUEUE_LOW_WATER", 500)
    padding = "x" * 400
    async with running_router(build_dir) as server, worker_socket(server) as page:
        operator = LocalOperator(hold=True)
        operator.open(server)
        for request_id in range(1, 21):
            await send_json(page, {"type": "live", "data": {"n": request_id, "pad": padding}})
        await asyncio.sleep(0.2)
        assert server.local_link.congested
        operator.release()
        await operator.wait_for(lambda: len(operator.messages()) == 20)
        assert [m["data"]["n"] for m in operator.messages()] == list(range(1, 21))
        assert not server.local_link.congested


async def test_socket_operator_replaces_a_local_session(build_dir: Path) -> None:
    async with running_router(build_dir) as server:
        operator = LocalOperator()
        session = operator.open(server)
        async with FakeOperator(server.channel_url) as remote:
            assert not session.is_open
            assert remote.router_hello["event"] == "hello"
            async with worker_socket(server) as page:
                answer = await ask(page, hello(1, worker_id="carol"))
                assert answer["type"] == "assigned"
        assert operator.messages() == []


async def test_stopping_the_router_ends_the_local_session(build_dir: Path) -> None:
    server = RouterServer(build_dir, "secret")
    await server.start()
    operator = LocalOperator()
    session = operator.open(server)
    await server.stop()
    assert not session.is_open


async def test_page_text_is_decoded_once_for_a_local_session(build_dir: Path, monkeypatch: Any) -> None:
    decoded: list[str] = []
    real_loads = json.loads

    def counting_loads(text: Any, *args: Any, **kwargs: Any) -> Any:
        decoded.append(text)
        return real_loads(text, *args, **kwargs)

    async with running_router(build_dir) as server, worker_socket(server) as page:
        operator = LocalOperator()
        operator.open(server)
        monkeypatch.setattr(channel_module.json, "loads", counting_loads)
        monkeypatch.setattr(channel_module, "orjson", _CountingOrjson(decoded))
        await send_json(page, hello(8, worker_id="dave"))
        await operator.wait_for(lambda: bool(operator.messages()))
    assert operator.messages()[0]["params"] == {"worker_id": "dave"}
    assert decoded == []  # the router's own check decoded it; the channel reused that object


class _CountingOrjson:
    """orjson as the channel module sees it, recording what it decodes."""

    def __init__(self, decoded: list[Any]) -> None:
        self._decoded = decoded

    def loads(self, text: Any) -> Any:
        self._decoded.append(text)
        return orjson.loads(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(orjson, name)
