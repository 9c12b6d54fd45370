"""The operator channel: who may open it, and envelopes relayed both ways."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from router_helpers import (
    SECRET,
    TIMEOUT,
    FakeOperator,
    ask,
    hello,
    recv_json,
    running_router,
    send_json,
    worker_socket,
)
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-secret"},
        {"Authorization": SECRET},
        {"Authorization": f"Basic {SECRET}"},
        {"Authorization": f"Bearer {SECRET}x"},
        {"Authorization": "Bearer \u00e9t\u00e9"},
    ],
    ids=["no-header", "wrong-secret", "no-scheme", "basic", "longer", "non-ascii"],
)
async def test_channel_without_the_secret_is_refused_with_401(build_dir: Path, headers: dict[str, str]) -> None:
    async with running_router(build_dir) as server:
        with pytest.raises(InvalidStatus) as refused:
            await connect(server.channel_url, additional_headers=headers)
        assert refused.value.response.status_code == 401
        assert not server.operator_connected


async def test_channel_opens_with_a_hello_listing_open_worker_sockets(build_dir: Path) -> None:
    # Contexts enter left to right: the operator connects after both workers.
    async with (
        running_router(build_dir) as server,
        worker_socket(server),
        worker_socket(server),
        FakeOperator(server.channel_url) as operator,
    ):
        first = operator.router_hello
    assert first["event"] == "hello"
    assert first["router_id"] == server.router_id
    assert len(first["conns"]) == 2 and all(isinstance(c, int) for c in first["conns"])


async def test_worker_messages_reach_the_operator_and_answers_come_back(build_dir: Path) -> None:
    async with running_router(build_dir) as server, FakeOperator(server.channel_url) as operator:
        async with worker_socket(server) as page:
            answer = await ask(page, hello(1, worker_id="alice"))
            await operator.wait_for(lambda: bool(operator.events("open")))
            opened = operator.events("open")[0]
            conn = opened["conn"]
        await operator.wait_for(lambda: bool(operator.events("close")))
    assert opened["ip"] == "127.0.0.1"
    assert answer["type"] == "assigned" and answer["id"] == 1
    assert answer["init_data"] == {"text": "Is this a cat?", "index": 7}
    relayed = [e for e in operator.envelopes if "msg" in e]
    assert relayed == [{"conn": conn, "msg": hello(1, worker_id="alice")}]
    # The page closed its socket itself (a close frame), so the operator may take it as gone for good.
    assert operator.events("close") == [{"conn": conn, "event": "close", "left": True}]


async def test_messages_queued_together_travel_in_one_channel_frame(build_dir: Path) -> None:
    count = 50
    async with (
        running_router(build_dir) as server,
        FakeOperator(server.channel_url, answer=False) as operator,
        worker_socket(server) as page,
    ):
        # All frames in one TCP write, so the router reads them in one go and the writer sends one batch.
        for index in range(count):
            page.protocol.send_text(json.dumps({"type": "live", "data": index}).encode())
        page.send_data()
        await operator.wait_for(lambda: len(operator.messages("live")) == count)
    assert [m["data"] for m in operator.messages("live")] == list(range(count))
    frames_with_live = [f for f in operator.frames if any("msg" in e for e in f)]
    assert len(frames_with_live) < count


async def test_operator_close_envelope_closes_that_worker_socket(build_dir: Path) -> None:
    async with (
        running_router(build_dir) as server,
        FakeOperator(server.channel_url) as operator,
        worker_socket(server) as page,
        worker_socket(server) as other,
    ):
        await operator.wait_for(lambda: len(operator.events("open")) == 2)
        conn = operator.events("open")[0]["conn"]
        await operator.send({"conn": conn, "close": 4001, "reason": "the run ended"})
        async with asyncio.timeout(TIMEOUT):
            await page.wait_closed()
        assert page.close_code == 4001 and page.close_reason == "the run ended"
        assert (await ask(other, {"type": "heartbeat", "id": 5}))["type"] == "heartbeat_ack"


async def test_bad_operator_envelopes_are_skipped_and_good_ones_still_delivered(build_dir: Path) -> None:
    async with (
        running_router(build_dir) as server,
        FakeOperator(server.channel_url) as operator,
        worker_socket(server) as page,
    ):
        await operator.wait_for(lambda: bool(operator.events("open")))
        conn = operator.events("open")[0]["conn"]
        assert operator.socket is not None
        await operator.socket.send("not json")
        await operator.socket.send('{"an": "object, not an array"}')
        await operator.socket.send(b"\x00binary")
        await operator.send(
            {"msg": {"type": "live"}},  # no conn
            {"conn": "1", "msg": {}},  # conn not an int
            {"conn": conn, "msg": [1, 2]},  # msg not an object
            {"conn": conn, "close": 999},  # not a sendable close code
            {"conn": conn},  # neither msg nor close
            {"conn": 10**9, "msg": {"type": "live", "data": "nobody"}},  # no such socket
            {"conn": conn, "msg": {"type": "live", "data": "hello there"}},
        )
        pushed = await recv_json(page)
        assert pushed == {"type": "live", "data": "hello there"}
        assert server.operator_connected


async def test_second_channel_replaces_the_first(build_dir: Path) -> None:
    async with (
        running_router(build_dir) as server,
        worker_socket(server) as page,
        FakeOperator(server.channel_url) as first,
        FakeOperator(server.channel_url) as second,
    ):
        assert first.socket is not None
        async with asyncio.timeout(TIMEOUT):
            await first.socket.wait_closed()
        assert first.socket.close_code == 4000
        assert len(second.router_hello["conns"]) == 1
        answer = await ask(page, hello(3, worker_id="bob"))
        assert answer["type"] == "assigned"
        assert second.messages("hello") and not first.messages("hello")


async def test_pages_get_unavailable_after_the_operator_leaves(build_dir: Path) -> None:
    async with running_router(build_dir) as server, worker_socket(server) as page:
        async with FakeOperator(server.channel_url):
            assert (await ask(page, hello(1)))["type"] == "assigned"
        # The router notices the channel closing before the operator's close() returns.
        answer = await ask(page, hello(2))
    assert answer == {
        "type": "error",
        "code": "unavailable",
        "message": answer["message"],
        "id": 2,
    }


async def test_stop_closes_the_channel_and_worker_sockets(build_dir: Path) -> None:
    async with running_router(build_dir) as server:
        operator = FakeOperator(server.channel_url)
        await operator.__aenter__()
        async with worker_socket(server) as page:
            await server.stop()
            await server.stop()  # idempotent
            with pytest.raises(ConnectionClosed):
                await send_json(page, {"type": "heartbeat", "id": 1})
                await recv_json(page)
        assert operator.socket is not None and operator.socket.close_code == 1001
        await operator.__aexit__(None, None, None)
