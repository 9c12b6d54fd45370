"""The simulated worker keeps the protocol's retry contract, as mephisto-task.js does: an `unavailable` answer or a
lost connection makes it send the same upload ids and submit_key again (after hello with its agent token), never a
new answer for the same unit."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from mephisto_core.abstractions import SimulatedAnswer
from mephisto_core.data_model import Agent, AgentFile, AgentStatus, Database, TaskRun
from mephisto_core.operations.run.operator import Operator
from mephisto_core.operations.run.simulate import BotReport, SimulatedWorker
from mephisto_core.settings import Settings
from mephisto_core.task_config import load_task_config

TOKEN = "token-of-the-first-unit"


def answer_with_a_file(_init: dict[str, Any], _rng: Any) -> SimulatedAnswer:
    return SimulatedAnswer({"answer": "yes"}, [("doc", "note.txt", "text/plain", b"hello")])


class Script:
    """A WebSocket peer playing router and operator for one bot; `answer` decides each reply (None: drop the socket).

    Every frame the bot sent is kept, in order, with the socket it came on.
    """

    def __init__(self, answer: Callable[[Script, dict[str, Any]], dict[str, Any] | None]) -> None:
        self.answer = answer
        self.received: list[tuple[int, dict[str, Any]]] = []
        self.sockets = 0

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [message for _, message in self.received if message["type"] == kind]

    async def handle(self, socket: ServerConnection) -> None:
        self.sockets += 1
        number = self.sockets
        try:
            async for frame in socket:
                if isinstance(frame, bytes):  # an upload: 4-byte header length, JSON header, file bytes
                    length = int.from_bytes(frame[:4], "big")
                    message = json.loads(frame[4 : 4 + length]) | {"bytes": frame[4 + length :]}
                else:
                    message = json.loads(frame)
                self.received.append((number, message))
                reply = self.answer(self, message)
                if reply is None:
                    await socket.close(1011, "lost")
                    return
                await socket.send(json.dumps({"id": message["id"], **reply}))
                if reply["type"] == "submitted":
                    await socket.close(1001, "run over")
                    return
        except ConnectionClosed:
            return


def assigned(submitted: bool = False) -> dict[str, Any]:
    return {
        "type": "assigned",
        "agent_id": 1,
        "unit_id": 1,
        "token": TOKEN,
        "is_onboarding": False,
        "init_data": {},
        "submitted": submitted,
    }


def unavailable() -> dict[str, Any]:
    return {"type": "error", "code": "unavailable", "message": "the operator is away"}


def run_bot(script: Script) -> BotReport:
    async def scenario() -> BotReport:
        async with serve(script.handle, "127.0.0.1", 0, max_size=None) as server:
            port = server.sockets[0].getsockname()[1]
            bot = SimulatedWorker(f"http://127.0.0.1:{port}/", "bot", answer_with_a_file, fetch_page=False, max_units=1)
            return await asyncio.wait_for(bot.run(), 20)

    return asyncio.run(scenario())


def test_an_upload_and_a_submit_answered_unavailable_are_resent_with_the_same_ids() -> None:
    def answer(script: Script, message: dict[str, Any]) -> dict[str, Any] | None:
        if message["type"] == "hello":
            return assigned()
        if message["type"] == "upload":
            first = len(script.of_type("upload")) == 1
            return unavailable() if first else {"type": "upload_ack", "upload_id": message["upload_id"]}
        first = len(script.of_type("submit")) == 1
        return unavailable() if first else {"type": "submitted", "submit_key": message["submit_key"]}

    script = Script(answer)
    report = run_bot(script)

    uploads, submits = script.of_type("upload"), script.of_type("submit")
    assert len(uploads) == 2 and uploads[0]["upload_id"] == uploads[1]["upload_id"]
    assert uploads[1]["bytes"] == b"hello"
    assert len(submits) == 2 and submits[0]["submit_key"] == submits[1]["submit_key"]
    assert submits[1]["uploads"] == [uploads[0]["upload_id"]]
    assert len(script.of_type("hello")) == 1
    assert (report.submitted, report.errors, report.resends) == (1, 0, 2)
    assert report.acknowledged_keys == [submits[0]["submit_key"]]


def test_a_submit_lost_with_its_socket_is_resent_after_hello_with_the_agent_token() -> None:
    def answer(script: Script, message: dict[str, Any]) -> dict[str, Any] | None:
        if message["type"] == "hello":
            # The server stored the first submit before the socket broke: the unit comes back as submitted.
            return assigned(submitted=len(script.of_type("submit")) > 0)
        if message["type"] == "upload":
            return {"type": "upload_ack", "upload_id": message["upload_id"]}
        if len(script.of_type("submit")) == 1:
            return None
        return {"type": "submitted", "submit_key": message["submit_key"]}

    script = Script(answer)
    report = run_bot(script)

    hellos, submits = script.of_type("hello"), script.of_type("submit")
    assert [hello["token"] for hello in hellos] == [None, TOKEN]
    assert len(submits) == 2 and submits[0]["submit_key"] == submits[1]["submit_key"]
    assert len(script.of_type("upload")) == 1, "an acknowledged upload is not sent again"
    assert [socket for socket, message in script.received if message["type"] == "submit"] == [1, 2]
    assert (report.submitted, report.resends) == (1, 1)
    assert report.errors == 1  # the lost connection itself


def test_not_assigned_makes_the_bot_say_hello_again_and_resend() -> None:
    def answer(script: Script, message: dict[str, Any]) -> dict[str, Any] | None:
        if message["type"] == "hello":
            return assigned()
        if message["type"] == "upload":
            return {"type": "upload_ack", "upload_id": message["upload_id"]}
        if len(script.of_type("submit")) == 1:  # the operator restarted and forgot this socket
            return {"type": "error", "code": "not_assigned", "message": "send hello first"}
        return {"type": "submitted", "submit_key": message["submit_key"]}

    script = Script(answer)
    report = run_bot(script)

    assert [message["type"] for _, message in script.received] == ["hello", "upload", "submit", "hello", "submit"]
    hellos, submits = script.of_type("hello"), script.of_type("submit")
    assert hellos[1]["token"] == TOKEN
    assert submits[0]["submit_key"] == submits[1]["submit_key"]
    assert (report.submitted, report.errors) == (1, 0)


def test_a_unit_given_away_while_the_bot_was_gone_drops_the_old_answer() -> None:
    def answer(script: Script, message: dict[str, Any]) -> dict[str, Any] | None:
        if message["type"] == "hello":
            later = len(script.of_type("hello")) > 1
            return assigned() | ({"agent_id": 2, "unit_id": 2, "token": "token-of-another-unit"} if later else {})
        if message["type"] == "upload":
            return {"type": "upload_ack", "upload_id": message["upload_id"]}
        if len(script.of_type("submit")) == 1:
            return None
        return {"type": "submitted", "submit_key": message["submit_key"]}

    script = Script(answer)
    report = run_bot(script)

    submits = script.of_type("submit")
    assert len(submits) == 2 and submits[0]["submit_key"] != submits[1]["submit_key"]
    assert len(script.of_type("upload")) == 2, "the new unit's answer uploads its own file"
    assert report.submitted == 1 and report.errors == 2  # the lost connection and the lost answer


# ---- against the real router and operator -------------------------------------------------------------------


class AckDroppingProxy:
    """A TCP proxy between a bot and the router that breaks the connection instead of passing on the first
    `drops` `submitted` answers: the operator has committed the submission, the bot never hears of it."""

    def __init__(self, upstream_port: int, drops: int) -> None:
        self.upstream_port = upstream_port
        self.drops = drops
        self.dropped = 0
        self.port = 0

    async def start(self) -> asyncio.Server:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        return server

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        router_reader, router_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        upstream = asyncio.create_task(self._pipe(client_reader, router_writer, inspect=False))
        await self._pipe(router_reader, client_writer, inspect=True)
        upstream.cancel()
        for writer in (client_writer, router_writer):
            writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, inspect: bool) -> None:
        # Server-to-client WebSocket frames are not masked, so an answer's JSON is readable on the wire.
        while data := await reader.read(65536):
            if inspect and b'"type":"submitted"' in data and self.dropped < self.drops:
                self.dropped += 1
                return
            writer.write(data)
            await writer.drain()


@pytest.mark.usefixtures("test_types")
def test_a_bot_whose_acknowledgements_are_lost_stores_each_answer_once(
    sqlite_database: Database, mephisto_settings: Settings, task_file: Callable[..., Path]
) -> None:
    config = load_task_config(task_file(rows=4))

    async def scenario() -> tuple[BotReport, int]:
        operator = Operator(mephisto_settings, sqlite_database)
        run = asyncio.create_task(operator.run(config))
        await asyncio.wait_for(operator.ready.wait(), 20)
        assert operator.ctx is not None
        router_port = int(operator.stats.worker_url.rstrip("/").rsplit(":", 1)[1])
        proxy = AckDroppingProxy(router_port, drops=2)
        async with await proxy.start():
            bot = SimulatedWorker(f"http://127.0.0.1:{proxy.port}/", "alice", operator.ctx.blueprint.simulate_answer)
            report = await asyncio.wait_for(bot.run(), 30)
        await asyncio.wait_for(run, 20)
        return report, proxy.dropped

    report, dropped = asyncio.run(scenario())
    assert dropped == 2
    completed = list(Agent.select().where(Agent.status == AgentStatus.COMPLETED.value))
    assert Agent.select().count() == len(completed) == 4, "the bot took a new unit instead of resending"
    assert sorted(report.acknowledged_keys) == sorted(agent.submit_key for agent in completed)
    assert report.submitted == 4 and report.resends >= 2
    assert AgentFile.select().count() == 4
    assert TaskRun.get().is_completed
