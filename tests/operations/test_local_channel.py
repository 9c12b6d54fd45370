"""The operator's in-process channel: a real router on this event loop, no channel socket, same interface."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from mephisto_core.data_model import Database
from mephisto_core.operations.run.local_channel import LocalOperatorChannel
from mephisto_core.operations.run.operator import Operator
from mephisto_core.operations.run.simulate import run_crowd
from mephisto_core.router import RouterServer
from mephisto_core.settings import Settings
from mephisto_core.task_config import load_task_config

TIMEOUT = 10.0


def _build(tmp_path: Path) -> Path:
    build = tmp_path / "build"
    build.mkdir()
    (build / "index.html").write_text("<!doctype html><title>local channel</title>")
    return build


class Recorder:
    """The operator's callbacks: records envelopes and uploads, and what `on_connected` saw."""

    def __init__(self) -> None:
        self.envelopes: list[dict[str, Any]] = []
        self.uploads: list[tuple[int, bytes]] = []
        self.seen_when_connected: int | None = None
        self.arrived = asyncio.Event()

    async def on_envelope(self, envelope: dict[str, Any]) -> None:
        self.envelopes.append(envelope)
        self.arrived.set()

    async def on_upload(self, conn: int, frame: bytes) -> None:
        self.uploads.append((conn, frame))
        self.arrived.set()

    async def on_connected(self) -> None:
        await asyncio.sleep(0.05)  # yields to the loop: the router's hello must still wait
        self.seen_when_connected = len(self.envelopes)

    async def wait_for_msg(self) -> dict[str, Any]:
        while True:
            found = [e for e in self.envelopes if "msg" in e]
            if found:
                return found[0]
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), TIMEOUT)


def test_hello_arrives_after_on_connected_and_answers_reach_the_page(tmp_path: Path) -> None:
    async def scenario() -> None:
        server = RouterServer(_build(tmp_path), "secret")
        await server.start()
        recorder = Recorder()
        channel = LocalOperatorChannel(
            server.local_link, recorder.on_envelope, recorder.on_upload, on_connected=recorder.on_connected
        )
        try:
            assert not channel.connected
            await channel.start()
            assert channel.connected and server.operator_connected
            assert recorder.seen_when_connected == 0
            async with connect(f"ws://127.0.0.1:{server.port}/ws") as page:
                await page.send('{"type":"hello","id":1,"params":{"worker_id":"ann"}}')
                envelope = await recorder.wait_for_msg()
                assert recorder.envelopes[0]["event"] == "hello"
                assert envelope["msg"] == {"type": "hello", "id": 1, "params": {"worker_id": "ann"}}
                channel.send({"conn": envelope["conn"], "msg": {"type": "refused", "id": 1, "reason": "run_over"}})
                reply = await asyncio.wait_for(page.recv(), TIMEOUT)
                assert reply == '{"type":"refused","id":1,"reason":"run_over"}'
        finally:
            await channel.stop()
            await channel.stop()  # a second stop does nothing
            assert not channel.connected and not server.operator_connected
            await server.stop()

    asyncio.run(scenario())


def test_send_before_start_is_an_error_and_the_channel_ends_with_the_router(tmp_path: Path) -> None:
    async def scenario() -> None:
        server = RouterServer(_build(tmp_path), "secret")
        await server.start()
        recorder = Recorder()
        channel = LocalOperatorChannel(server.local_link, recorder.on_envelope, recorder.on_upload)
        with pytest.raises(RuntimeError, match="not started"):
            channel.send({"conn": 1, "msg": {"type": "status"}})
        await channel.start()
        with pytest.raises(RuntimeError, match="already started"):
            await channel.start()
        await server.stop()
        assert not channel.connected
        channel.send({"conn": 1, "msg": {"type": "status", "status": "late"}})  # dropped, as over a lost socket
        await channel.stop()

    asyncio.run(scenario())


@pytest.mark.usefixtures("test_types")
def test_operator_with_an_in_process_router_uses_the_local_channel(
    database: Database, mephisto_settings: Settings, task_file: Any
) -> None:
    config = load_task_config(task_file(rows=4), ["architect.mode=in_process"])

    async def scenario() -> tuple[Any, Any, object]:
        operator = Operator(mephisto_settings, database)
        run = asyncio.create_task(operator.run(config))
        await asyncio.wait_for(operator.ready.wait(), 20)
        assert operator.ctx is not None and operator.io is not None
        channel = operator.io.channel
        report = await asyncio.wait_for(run_crowd(operator.stats.worker_url, operator.ctx.blueprint, 2), 60)
        return await asyncio.wait_for(run, 30), report, channel

    stats, report, channel = asyncio.run(scenario())
    assert isinstance(channel, LocalOperatorChannel)
    assert report.submitted == 4 and report.errors == 0
    assert stats.counts == {"completed": 4}
