"""Routers sharing one worker port: their connection ids, their channels' hellos, and the operator's sharded
channel sending each envelope to the router that holds its socket (two real routers, real sockets)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from router_helpers import SECRET, TIMEOUT, recv_json, send_json
from websockets.asyncio.client import ClientConnection, connect

from mephisto_core.operations.run.channel import OperatorChannel
from mephisto_core.operations.run.sharded_channel import ShardedChannel
from mephisto_core.router import RouterServer
from mephisto_core.router.__main__ import main as router_main
from mephisto_core.router.shards import Shard, parse_shard, shard_of_hello


def test_routers_of_a_port_number_their_sockets_apart() -> None:
    ids = [list(zip(range(4), Shard(index, 3).connection_ids(), strict=False)) for index in range(3)]
    assert [[conn for _, conn in row] for row in ids] == [[1, 4, 7, 10], [2, 5, 8, 11], [3, 6, 9, 12]]
    assert all(Shard(0, 3).owner_of(conn) == index for index, row in enumerate(ids) for _, conn in row)
    assert list(zip(range(3), Shard().connection_ids(), strict=False)) == [(0, 1), (1, 2), (2, 3)]


def test_shards_are_parsed_and_checked() -> None:
    assert parse_shard("1/4") == Shard(1, 4) and parse_shard(" 0 / 1 ") == Shard()
    for bad, message in (("1-4", "expected K/N"), ("4/4", "not between 0 and 3"), ("0/0", "at least 1")):
        with pytest.raises(ValueError, match=message):
            parse_shard(bad)
    assert shard_of_hello(None) == Shard()  # a router from before shards, or one alone
    assert shard_of_hello([2, 3]) == Shard(2, 3)
    for malformed in ([3, 3], [1], "0/1", [True, 2], [0, 1.0]):
        assert shard_of_hello(malformed) is None


def test_the_router_command_refuses_a_malformed_shard(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exited:
        router_main(["--build-dir", str(tmp_path), "--shard", "2/2"])
    assert exited.value.code == 2
    assert "--shard: router index 2 is not between 0 and 1" in capsys.readouterr().err


class _Operator:
    """What the operator's handlers would get: every envelope, by the router's shard for channel hellos."""

    def __init__(self) -> None:
        self.envelopes: list[dict[str, Any]] = []
        self.changed = asyncio.Event()

    async def on_envelope(self, envelope: dict[str, Any]) -> None:
        self.envelopes.append(envelope)
        self.changed.set()

    async def on_upload(self, conn: int, frame: bytes) -> None:
        raise AssertionError("no upload was sent")

    async def wait_for(self, predicate: Any) -> list[dict[str, Any]]:
        async with asyncio.timeout(TIMEOUT):
            while not (found := [e for e in self.envelopes if predicate(e)]):
                self.changed.clear()
                await self.changed.wait()
        return found


def _worker_of(envelope: dict[str, Any]) -> object:
    """The worker_id of a page's hello relayed in `envelope` (None for anything else)."""
    msg = envelope.get("msg")
    return msg.get("params", {}).get("worker_id") if isinstance(msg, dict) else None


async def _worker_saying(port: int, stack: contextlib.AsyncExitStack, text: str) -> ClientConnection:
    socket = await stack.enter_async_context(connect(f"ws://127.0.0.1:{port}/ws"))
    await send_json(socket, {"type": "hello", "id": 1, "params": {"worker_id": text}})
    return socket


def test_a_sharded_channel_sends_each_envelope_to_the_router_holding_its_socket(build_dir: Path) -> None:
    async def scenario() -> None:
        first = RouterServer(build_dir, SECRET, shard=Shard(0, 2), reuse_port=True, channel_port=0)
        await first.start()
        second = RouterServer(build_dir, SECRET, port=first.port, shard=Shard(1, 2), reuse_port=True, channel_port=0)
        await second.start()
        operator = _Operator()
        channel = ShardedChannel(
            [OperatorChannel(r.channel_url, SECRET, operator.on_envelope, operator.on_upload) for r in (first, second)]
        )
        try:
            await channel.start(TIMEOUT)
            # start() returns once each channel is up, and a router's hello is the first thing on its channel
            await operator.wait_for(lambda e: e.get("event") == "hello" and e["shard"] == [1, 2])
            shards = sorted(e["shard"] for e in operator.envelopes if e.get("event") == "hello")
            assert shards == [[0, 2], [1, 2]]
            async with contextlib.AsyncExitStack() as stack:
                # Sockets opened until each router holds one (the kernel picks the router of each connection).
                held: dict[int, tuple[ClientConnection, int]] = {}  # router index -> a socket of it, its conn id
                for attempt in range(200):
                    name = f"w{attempt}"
                    socket = await _worker_saying(first.port, stack, name)
                    [relayed] = await operator.wait_for(lambda e, n=name: _worker_of(e) == n)
                    held.setdefault(Shard(0, 2).owner_of(relayed["conn"]), (socket, relayed["conn"]))
                    if len(held) == 2:
                        break
                assert set(held) == {0, 1}, "the kernel gave every connection to one router"
                # Each answer goes down the channel of the router that holds the page's socket.
                for index, (_, conn) in held.items():
                    channel.send({"conn": conn, "msg": {"type": "answer", "to": index}})
                for index, (socket, _) in held.items():
                    assert (await recv_json(socket))["to"] == index
                # An envelope for no socket goes to every router; both have it once delivered() says so.
                channel.send({"event": "run_over"})
                assert await channel.delivered(TIMEOUT)
                assert channel.connected
                await channel.stop()
                for socket, _ in held.values():  # ... and each router, its operator gone, answers pages itself
                    await send_json(socket, {"type": "hello", "id": 2, "params": {"worker_id": "late"}})
                    assert (await recv_json(socket))["reason"] == "run_over"
        finally:
            await channel.stop()
            await first.stop()
            await second.stop()

    asyncio.run(scenario())


def test_a_sharded_channel_that_cannot_reach_every_router_fails_to_start_and_closes_the_rest(build_dir: Path) -> None:
    async def scenario() -> tuple[bool, str]:
        router = RouterServer(build_dir, SECRET, shard=Shard(0, 2), reuse_port=True, channel_port=0)
        await router.start()
        operator = _Operator()
        reachable = OperatorChannel(router.channel_url, SECRET, operator.on_envelope, operator.on_upload)
        # no router listens on the channel port of the second: a port just freed
        gone = RouterServer(build_dir, SECRET, channel_port=0)
        await gone.start()
        dead_url = gone.channel_url
        await gone.stop()
        channel = ShardedChannel(
            [reachable, OperatorChannel(dead_url, SECRET, operator.on_envelope, operator.on_upload)]
        )
        try:
            with pytest.raises(ConnectionError) as failed:
                await channel.start(1.0)
            return reachable.connected, str(failed.value)
        finally:
            await router.stop()

    still_connected, message = asyncio.run(scenario())
    assert not still_connected
    assert "could not open the router channel" in message


def test_a_lone_router_says_it_is_shard_0_of_1(build_dir: Path) -> None:
    async def scenario() -> dict[str, Any]:
        router = RouterServer(build_dir, SECRET)
        await router.start()
        try:
            headers = {"Authorization": f"Bearer {SECRET}"}
            async with connect(router.channel_url, additional_headers=headers) as channel:
                async with asyncio.timeout(TIMEOUT):
                    frame = await channel.recv()
            return dict(json.loads(frame)[0])
        finally:
            await router.stop()

    hello = asyncio.run(scenario())
    assert hello["event"] == "hello" and hello["shard"] == [0, 1]


def test_a_router_that_cannot_bind_the_worker_port_closes_its_channel_port(build_dir: Path) -> None:
    async def scenario() -> int:
        holder = RouterServer(build_dir, SECRET)  # on the port without SO_REUSEPORT: nobody may share it
        await holder.start()
        router = RouterServer(build_dir, SECRET, port=holder.port, shard=Shard(1, 2), reuse_port=True, channel_port=0)
        try:
            with pytest.raises(OSError):
                await router.start()
            channel_port = int(router.channel_url.rsplit(":", 1)[1].split("/")[0])
        finally:
            await holder.stop()
        return channel_port

    channel_port = asyncio.run(scenario())
    # the channel port was let go: a new listener can take it
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", channel_port))
