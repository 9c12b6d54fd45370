"""ClientIOHandler against a real worker pool and SQLite: channel reconciliation and uploads the disk refuses."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import peewee as pw
import pytest
from pool_helpers import build_pool

from mephisto_core.data_model import Agent, AgentStatus, Database, Upload
from mephisto_core.operations.run import client_io as client_io_module
from mephisto_core.operations.run import upload_sweep
from mephisto_core.operations.run.client_io import ClientIOHandler
from mephisto_core.operations.run.db_writer import DatabaseWriter
from mephisto_core.operations.run.uploads import UploadStore
from mephisto_core.settings import Settings

pytestmark = pytest.mark.usefixtures("test_types")


def run(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test body on a fresh event loop (the handler's tasks and the writer's answers need one)."""

    def sync_test(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    sync_test.__name__ = test.__name__
    sync_test.__signature__ = inspect.signature(test)  # type: ignore[attr-defined]  # pytest reads the fixtures
    return sync_test


class RecordingChannel:
    """Stands in for the operator's channel: keeps every envelope the handler sends to the router."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, envelope: dict[str, Any]) -> None:
        self.sent.append(envelope)

    def answers_to(self, conn: int) -> list[dict[str, Any]]:
        return [envelope["msg"] for envelope in self.sent if envelope["conn"] == conn]


@pytest.fixture
def client_io(
    sqlite_database: Database, mephisto_settings: Settings, task_file: Callable[..., Path]
) -> Iterator[tuple[ClientIOHandler, RecordingChannel]]:
    pool = build_pool(sqlite_database, mephisto_settings, task_file(architect="null_test", rows=3))
    writer = DatabaseWriter(sqlite_database)
    writer.start()
    io = ClientIOHandler(pool, writer, pool.uploads)
    channel = RecordingChannel()
    io.channel = channel  # type: ignore[assignment]  # only .send is used
    try:
        yield io, channel
    finally:
        writer.stop()


async def settled(io: ClientIOHandler) -> None:
    """Wait until every message the handler was given has been answered."""
    for _ in range(500):
        await asyncio.sleep(0.01)
        if io.in_flight() == 0:
            return
    raise AssertionError("the handler never answered")


async def say_hello(io: ClientIOHandler, channel: RecordingChannel, conn: int, worker: str) -> dict[str, Any]:
    await io.on_envelope({"conn": conn, "event": "open", "ip": "127.0.0.1"})
    hello = {"type": "hello", "id": 1, "params": {"worker_id": worker}, "token": None}
    await io.on_envelope({"conn": conn, "msg": hello})
    await settled(io)
    answer = channel.answers_to(conn)[-1]
    assert answer["type"] == "assigned", answer
    return answer


async def submit_answer(io: ClientIOHandler, channel: RecordingChannel, conn: int) -> dict[str, Any]:
    submit = {"type": "submit", "id": 2, "submit_key": f"key-of-conn-{conn}", "outputs": {"answer": "x"}}
    await io.on_envelope({"conn": conn, "msg": submit})
    await settled(io)
    return channel.answers_to(conn)[-1]


@run
async def test_a_socket_the_routers_hello_no_longer_lists_is_unbound_and_its_agent_absent(
    client_io: tuple[ClientIOHandler, RecordingChannel],
) -> None:
    io, channel = client_io
    await io.on_envelope({"event": "hello", "router_id": "router-1", "conns": []})
    alice = await say_hello(io, channel, 1, "alice")
    bob = await say_hello(io, channel, 2, "bob")
    assert io.absent_since == {}

    # The channel came back; alice's page closed meanwhile (its `close` went down with the old channel).
    await io.on_envelope({"event": "hello", "router_id": "router-1", "conns": [2, 3]})

    assert set(io.absent_since) == {(False, alice["agent_id"])}
    assert (await submit_answer(io, channel, 1))["code"] == "not_assigned"
    assert (await submit_answer(io, channel, 2))["type"] == "submitted"
    assert (await submit_answer(io, channel, 3))["code"] == "not_assigned"  # opened during the outage, no hello
    assert (False, bob["agent_id"]) not in io.absent_since


@run
async def test_a_page_that_reconnected_during_the_outage_keeps_its_agent(
    client_io: tuple[ClientIOHandler, RecordingChannel],
) -> None:
    io, channel = client_io
    await io.on_envelope({"event": "hello", "router_id": "router-1", "conns": []})
    alice = await say_hello(io, channel, 1, "alice")
    await io.on_envelope({"event": "hello", "router_id": "router-1", "conns": [4]})
    assert set(io.absent_since) == {(False, alice["agent_id"])}
    # Its new socket says hello again (as mephisto-task.js does): the grace period ends, the unit is the same.
    again = await say_hello(io, channel, 4, "alice")
    assert again["agent_id"] == alice["agent_id"]
    assert io.absent_since == {}


@run
async def test_a_new_router_id_unbinds_every_socket_even_those_listed(
    client_io: tuple[ClientIOHandler, RecordingChannel],
) -> None:
    io, channel = client_io
    await io.on_envelope({"event": "hello", "router_id": "router-1", "conns": []})
    alice = await say_hello(io, channel, 1, "alice")
    # A restarted router numbers its sockets from 1 again: its conn 1 is some other page.
    await io.on_envelope({"event": "hello", "router_id": "router-2", "conns": [1]})
    assert set(io.absent_since) == {(False, alice["agent_id"])}
    assert (await submit_answer(io, channel, 1))["code"] == "not_assigned"


@run
async def test_routers_sharing_the_port_reconcile_only_their_own_sockets(
    client_io: tuple[ClientIOHandler, RecordingChannel],
) -> None:
    io, channel = client_io
    # Two routers on one port: router 0 numbers its sockets 1, 3, 5, ...; router 1 numbers them 2, 4, 6, ...
    await io.on_envelope({"event": "hello", "router_id": "r0", "conns": [], "shard": [0, 2]})
    await io.on_envelope({"event": "hello", "router_id": "r1", "conns": [], "shard": [1, 2]})
    assert io.unread.channel_back_at is None  # each router's first hello: nothing was lost
    alice = await say_hello(io, channel, 1, "alice")
    bob = await say_hello(io, channel, 2, "bob")
    carol = await say_hello(io, channel, 4, "carol")

    # Router 1's channel came back: carol's page left meanwhile. Its hello lists router 1's sockets alone, and
    # alice's socket (router 0's) stays bound.
    await io.on_envelope({"event": "hello", "router_id": "r1", "conns": [2], "shard": [1, 2]})
    assert set(io.absent_since) == {(False, carol["agent_id"])}
    assert io.unread.channel_back_at is not None
    # Router 0 restarted: a new id, every socket of it is stale; router 1's bob keeps his.
    await io.on_envelope({"event": "hello", "router_id": "r0-new", "conns": [1], "shard": [0, 2]})
    assert set(io.absent_since) == {(False, carol["agent_id"]), (False, alice["agent_id"])}
    assert (await submit_answer(io, channel, 2))["type"] == "submitted"
    assert (False, bob["agent_id"]) not in io.absent_since


@run
async def test_a_hello_with_a_malformed_shard_changes_nothing(
    client_io: tuple[ClientIOHandler, RecordingChannel], caplog: pytest.LogCaptureFixture
) -> None:
    io, channel = client_io
    await io.on_envelope({"event": "hello", "router_id": "router-1", "conns": []})
    await say_hello(io, channel, 1, "alice")
    await io.on_envelope({"event": "hello", "router_id": "router-2", "conns": [], "shard": [2, 2]})
    assert io.absent_since == {}
    assert "with a bad shard" in caplog.text


@run
async def test_a_hello_without_a_list_of_sockets_changes_nothing(
    client_io: tuple[ClientIOHandler, RecordingChannel], caplog: pytest.LogCaptureFixture
) -> None:
    io, channel = client_io
    await io.on_envelope({"event": "hello", "router_id": "router-1", "conns": []})
    await say_hello(io, channel, 1, "alice")
    await io.on_envelope({"event": "hello", "router_id": "router-1", "conns": "1"})
    assert io.absent_since == {}
    assert "without a list of connections" in caplog.text
    assert (await submit_answer(io, channel, 1))["type"] == "submitted"


def upload_frame(upload_id: str, data: bytes) -> bytes:
    header = {"type": "upload", "id": 7, "upload_id": upload_id, "field": "doc", "name": "note.txt"}
    raw = json.dumps({**header, "content_type": "text/plain"}).encode()
    return len(raw).to_bytes(4, "big") + raw + data


@run
async def test_an_upload_the_disk_refuses_is_answered_unavailable_logged_and_not_stored(
    client_io: tuple[ClientIOHandler, RecordingChannel],
    mephisto_settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    io, channel = client_io
    await say_hello(io, channel, 1, "alice")
    # A file where the uploads folder should be: every write under it fails with a real OSError (ENOTDIR).
    broken = mephisto_settings.data_dir / "broken"
    broken.write_text("not a folder")
    io.uploads = UploadStore(broken)

    with caplog.at_level(logging.ERROR, logger="mephisto_core.operations.run.client_io"):
        await io.on_upload(1, upload_frame("upload-0001", b"hello"))
        await settled(io)

    answer = channel.answers_to(1)[-1]
    assert (answer["type"], answer["id"], answer["code"]) == ("error", 7, "unavailable"), answer
    assert "ENOTDIR" in caplog.text and str(broken / "files") in caplog.text, caplog.text
    assert broken.read_text() == "not a folder"

    # Once the disk is usable again the same upload_id is stored and acknowledged.
    io.uploads = UploadStore(mephisto_settings.data_dir)
    await io.on_upload(1, upload_frame("upload-0001", b"hello"))
    await settled(io)
    assert channel.answers_to(1)[-1] == {"type": "upload_ack", "id": 7, "upload_id": "upload-0001"}
    stored = io.uploads.load("upload-0001")
    assert stored is not None and (mephisto_settings.data_dir / stored.path).read_bytes() == b"hello"


@run
async def test_a_unit_takes_a_bounded_number_of_uploads_and_resends_of_one_count_once(
    client_io: tuple[ClientIOHandler, RecordingChannel], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_io_module, "MAX_UPLOADS_PER_UNIT", 2)
    io, channel = client_io
    await say_hello(io, channel, 1, "alice")
    for upload_id in ("upload-0001", "upload-0002", "upload-0002"):  # the last one is a resend
        await io.on_upload(1, upload_frame(upload_id, b"data"))
        await settled(io)
        assert channel.answers_to(1)[-1] == {"type": "upload_ack", "id": 7, "upload_id": upload_id}

    await io.on_upload(1, upload_frame("upload-0003", b"data"))
    await settled(io)
    answer = channel.answers_to(1)[-1]
    assert (answer["type"], answer["code"]) == ("error", "upload_limit"), answer
    assert "at most 2 files" in answer["message"]
    assert io.uploads.load("upload-0003") is None
    assert not io.uploads.folder("upload-0003").exists()

    # Another worker's unit has its own allowance.
    await say_hello(io, channel, 2, "bob")
    await io.on_upload(2, upload_frame("upload-0004", b"data"))
    await settled(io)
    assert channel.answers_to(2)[-1] == {"type": "upload_ack", "id": 7, "upload_id": "upload-0004"}


@run
async def test_the_sweep_keeps_uploads_of_agents_that_may_still_submit(
    client_io: tuple[ClientIOHandler, RecordingChannel],
) -> None:
    io, channel = client_io
    alice = await say_hello(io, channel, 1, "alice")
    await io.on_upload(1, upload_frame("upload-0001", b"data"))
    await settled(io)
    run_id = io.pool.ctx.run.id

    # In task: the next launch may let the page submit, listing this upload.
    assert await io.writer.call(upload_sweep.unlisted_uploads, run_id) == []
    assert await upload_sweep.sweep_run(io.writer, run_id, io.uploads) == 0
    # Gone past its grace period: it can never submit, so nothing will ever list the file.
    agent_id = alice["agent_id"]
    await io.writer.call(lambda: Agent.update(status=AgentStatus.DISCONNECTED).where(Agent.id == agent_id).execute())
    assert await io.writer.call(upload_sweep.unlisted_uploads, run_id) == ["upload-0001"]
    assert await upload_sweep.sweep_run(io.writer, run_id, io.uploads) == 1
    assert not io.uploads.folder("upload-0001").exists()
    assert await io.writer.call(lambda: Upload.get(Upload.upload_id == "upload-0001").removed) is True
    assert await io.writer.call(upload_sweep.unlisted_uploads, run_id) == []


@run
async def test_an_upload_stored_before_it_was_recorded_is_recorded_where_it_is_and_swept_from_there(
    client_io: tuple[ClientIOHandler, RecordingChannel],
) -> None:
    io, channel = client_io
    alice = await say_hello(io, channel, 1, "alice")
    agent_id = alice["agent_id"]
    # Stored under another name with no record (by a mephisto from before the upload table, say).
    earlier = io.uploads.save("upload-0001", agent_id, "doc", "first name.txt", "text/plain", b"data")
    await io.on_upload(1, upload_frame("upload-0001", b"data"))  # the page resends it, as note.txt
    await settled(io)
    assert channel.answers_to(1)[-1] == {"type": "upload_ack", "id": 7, "upload_id": "upload-0001"}
    record = await io.writer.call(lambda: Upload.get(Upload.upload_id == "upload-0001"))
    assert record.path == earlier.path != io.uploads.relative_path("upload-0001", "note.txt")

    # A submission listing it links that path, so the sweep keeps the file.
    submit = {"type": "submit", "id": 2, "submit_key": "key-of-alice", "outputs": {"answer": "x"}}
    await io.on_envelope({"conn": 1, "msg": {**submit, "uploads": ["upload-0001"]}})
    await settled(io)
    assert channel.answers_to(1)[-1]["type"] == "submitted"
    assert await io.writer.call(upload_sweep.unlisted_uploads, io.pool.ctx.run.id) == []


@run
async def test_pages_that_may_not_have_read_their_last_answer_are_handed_over_with_their_unit_submitted(
    client_io: tuple[ClientIOHandler, RecordingChannel],
) -> None:
    io, channel = client_io
    assigned = {conn: await say_hello(io, channel, conn, worker) for conn, worker in enumerate("abc", start=1)}
    for conn in assigned:
        assert (await submit_answer(io, channel, conn))["type"] == "submitted"
    await io.on_envelope({"conn": 2, "event": "close", "left": True})  # the page closed its tab: it had the answer
    await io.on_envelope({"conn": 3, "event": "close", "left": False})  # the connection was lost
    await settled(io)

    handed = await io.answers_after_run_over()

    assert [entry["token"] for entry in handed] == [assigned[1]["token"], assigned[3]["token"]]  # 1 is silent
    for entry, conn in zip(handed, (1, 3), strict=True):
        assert entry["hello"] == {**assigned[conn], "id": None, "submitted": True, "seconds_left": None}
        assert entry["submit_key"] == f"key-of-conn-{conn}"
        assert entry["submitted"] == {**channel.answers_to(conn)[1], "id": None}


@run
async def test_a_database_that_fails_at_the_run_end_hands_over_nothing_and_says_so(
    client_io: tuple[ClientIOHandler, RecordingChannel],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    io, channel = client_io
    await say_hello(io, channel, 1, "alice")
    await submit_answer(io, channel, 1)

    def fails(agent_ids: list[int]) -> None:
        raise pw.OperationalError("disk I/O error")

    monkeypatch.setattr(io.pool, "hello_answers", fails)
    with caplog.at_level(logging.WARNING):
        assert await io.answers_after_run_over() == []
    assert "could not read what 1 page(s) may come back for (disk I/O error)" in caplog.text
