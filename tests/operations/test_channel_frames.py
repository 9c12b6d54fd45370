"""The operator's socket channel splits a burst of answers into frames of bounded size, in order."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from mephisto_core.operations.run import channel as channel_module
from mephisto_core.operations.run.channel import OperatorChannel


async def nothing(*_: Any) -> None:
    return None


async def frames_for(envelopes: list[dict[str, Any]], expected_envelopes: int) -> list[str]:
    """Start a channel to a bare WebSocket server, send `envelopes` in one loop turn, return the frames seen."""
    frames: list[str] = []
    received = 0
    done = asyncio.Event()

    async def router(socket: ServerConnection) -> None:
        nonlocal received
        async for frame in socket:
            assert isinstance(frame, str)
            frames.append(frame)
            received += len(json.loads(frame))
            if received >= expected_envelopes:
                done.set()

    async with serve(router, "127.0.0.1", 0, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        channel = OperatorChannel(f"ws://127.0.0.1:{port}/channel", "secret", nothing, nothing)
        await channel.start()
        try:
            for envelope in envelopes:
                channel.send(envelope)
            await asyncio.wait_for(done.wait(), 10)
        finally:
            await channel.stop()
    return frames


def page(conn: int, chars: int) -> dict[str, Any]:
    return {"conn": conn, "msg": {"type": "assigned", "page": "x" * chars}}


def test_a_burst_is_split_into_frames_under_the_cap_and_keeps_its_order() -> None:
    cap = channel_module.MAX_FRAME_CHARS
    envelopes = [page(conn, cap // 3) for conn in range(7)]
    frames = asyncio.run(frames_for(envelopes, len(envelopes)))
    assert len(frames) >= 3
    assert all(len(frame) <= cap for frame in frames), [len(frame) for frame in frames]
    assert [e for frame in frames for e in json.loads(frame)] == envelopes


def test_an_envelope_above_the_cap_still_goes_alone() -> None:
    cap = channel_module.MAX_FRAME_CHARS
    envelopes = [page(1, 10), page(2, cap + 10), page(3, 10)]
    frames = asyncio.run(frames_for(envelopes, 3))
    assert [[e["conn"] for e in json.loads(frame)] for frame in frames] == [[1], [2], [3]]


def test_small_answers_share_one_frame() -> None:
    envelopes = [page(conn, 100) for conn in range(50)]
    frames = asyncio.run(frames_for(envelopes, 50))
    assert len(frames) == 1 and json.loads(frames[0]) == envelopes
