"""A worker's hello and submit without a task each: answered after the commit, counted while in flight, and a
failing registration or submission still answers the page `unavailable`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pool_helpers import build_pool

from mephisto_core.data_model import Agent, AgentStatus, Database
from mephisto_core.operations.run.client_io import ClientIOHandler
from mephisto_core.operations.run.db_writer import DatabaseWriter
from mephisto_core.settings import Settings

pytestmark = pytest.mark.usefixtures("test_types")


class RecordingChannel:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, envelope: dict[str, Any]) -> None:
        self.sent.append(envelope)

    def answers_to(self, conn: int) -> list[dict[str, Any]]:
        return [envelope["msg"] for envelope in self.sent if envelope["conn"] == conn]


@pytest.fixture
def handler(
    sqlite_database: Database, mephisto_settings: Settings, task_file: Callable[..., Path]
) -> Iterator[tuple[ClientIOHandler, RecordingChannel, DatabaseWriter]]:
    pool = build_pool(sqlite_database, mephisto_settings, task_file(architect="null_test", rows=3))
    writer = DatabaseWriter(sqlite_database)
    io = ClientIOHandler(pool, writer, pool.uploads)
    channel = RecordingChannel()
    io.channel = channel  # type: ignore[assignment]  # only .send is used
    try:
        yield io, channel, writer
    finally:
        writer.stop()


async def answered(io: ClientIOHandler) -> None:
    for _ in range(500):
        await asyncio.sleep(0.01)
        if io.in_flight() == 0:
            return
    raise AssertionError("the handler never answered")


def hello(conn: int, worker: str) -> dict[str, Any]:
    return {"conn": conn, "msg": {"type": "hello", "id": 1, "params": {"worker_id": worker}, "token": None}}


def submit(conn: int, key: str, answer: str = "x") -> dict[str, Any]:
    return {"conn": conn, "msg": {"type": "submit", "id": 2, "submit_key": key, "outputs": {"answer": answer}}}


def test_hello_and_submit_are_answered_after_the_commit_and_counted_until_then(handler: Any) -> None:
    io, channel, writer = handler

    async def scenario() -> None:
        await io.on_envelope({"conn": 1, "event": "open", "ip": "127.0.0.1"})
        await io.on_envelope(hello(1, "alice"))
        await asyncio.sleep(0.05)
        # The writer has not started: the hello waits for it, counted, and nothing was answered.
        assert io.in_flight() == 1 and channel.answers_to(1) == []
        writer.start()
        await answered(io)
        (assigned,) = channel.answers_to(1)
        assert assigned["type"] == "assigned" and assigned["id"] == 1
        await io.on_envelope(submit(1, "alice-key-1"))
        await answered(io)
        last = channel.answers_to(1)[-1]
        assert (last["type"], last["id"], last["submit_key"]) == ("submitted", 2, "alice-key-1")
        assert Agent.get_by_id(assigned["agent_id"]).status == AgentStatus.COMPLETED

    asyncio.run(scenario())


def test_malformed_messages_are_answered_at_once(handler: Any) -> None:
    io, channel, _ = handler

    async def scenario() -> None:
        await io.on_envelope({"conn": 1, "event": "open", "ip": "127.0.0.1"})
        await io.on_envelope({"conn": 1, "msg": {"type": "hello", "id": 1, "params": {"worker_id": 5}}})
        await io.on_envelope(submit(1, "short"))  # no hello yet
        await answered(io)  # the writer never started: neither message needed it
        codes = [answer["code"] for answer in channel.answers_to(1)]
        assert codes == ["bad_message", "not_assigned"]

    asyncio.run(scenario())


def test_a_failing_registration_or_submission_answers_unavailable(
    handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    io, channel, writer = handler

    def broken(*args: Any) -> Any:
        raise RuntimeError("an operator bug")

    async def scenario() -> None:
        writer.start()
        await io.on_envelope({"conn": 1, "event": "open", "ip": "127.0.0.1"})
        await io.on_envelope(hello(1, "alice"))
        await answered(io)
        monkeypatch.setattr(io.pool, "submit", broken)
        await io.on_envelope(submit(1, "alice-key-1"))
        monkeypatch.setattr(io.pool, "register", broken)
        await io.on_envelope(hello(2, "bob"))
        await answered(io)
        assert channel.answers_to(1)[-1]["code"] == "unavailable"
        assert channel.answers_to(2)[-1]["code"] == "unavailable"

    asyncio.run(scenario())
