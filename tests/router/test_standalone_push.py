"""Build push over the operator channel: a standalone router takes the operator's build, serves it, keeps it on disk.

The router is a real `RouterServer` on 127.0.0.1 with a data dir; the operator side is the real operator channel
(`operations.run.channel.OperatorChannel`) with a build dir, or a raw WebSocket client for hostile pushes.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import tarfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from router_helpers import SECRET, TIMEOUT, http_request
from websockets.asyncio.client import connect

from mephisto_core.errors import MephistoError
from mephisto_core.operations.run.build_push import BuildPusher
from mephisto_core.operations.run.channel import OperatorChannel
from mephisto_core.router import RouterServer
from mephisto_core.router.build_archive import build_digest, pack_build
from mephisto_core.router.probe import probe_router


def _build(folder: Path, version: str) -> Path:
    (folder / "js").mkdir(parents=True, exist_ok=True)
    (folder / "index.html").write_text(f"<p>page {version}</p>")
    (folder / "js" / "app.js").write_text(f"console.log('{version}');" + " " * 50_000)
    return folder


@asynccontextmanager
async def standalone(data_dir: Path, **kwargs: Any) -> AsyncIterator[RouterServer]:
    server = RouterServer(None, SECRET, data_dir=data_dir, **kwargs)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@asynccontextmanager
async def operator_channel(server: RouterServer, build_dir: Path | None, **kwargs: Any) -> AsyncIterator[Any]:
    envelopes: list[dict[str, Any]] = []

    async def on_envelope(envelope: dict[str, Any]) -> None:
        envelopes.append(envelope)

    async def on_upload(conn: int, frame: bytes) -> None:
        raise AssertionError("no uploads in these tests")

    channel = OperatorChannel(server.channel_url, SECRET, on_envelope, on_upload, build_dir=build_dir, **kwargs)
    channel.envelopes = envelopes  # type: ignore[attr-defined]
    await channel.start()
    try:
        yield channel
    finally:
        await channel.stop()


async def _version(server: RouterServer) -> dict[str, Any]:
    answer = await http_request(server.port, "/__mephisto/version")
    assert answer.status == 200 and answer.headers["content-type"] == "application/json"
    return dict(json.loads(answer.body))


async def test_a_router_without_a_build_says_no_task_runs_and_answers_its_version(tmp_path: Path) -> None:
    async with standalone(tmp_path / "data") as server:
        page = await http_request(server.port, "/?worker_id=alice")
        asset = await http_request(server.port, "/js/app.js")
        client = await http_request(server.port, "/mephisto-task.js")
        version = await _version(server)
    assert page.status == asset.status == 503
    assert b"No task is running here right now" in page.body and page.headers["retry-after"] == "30"
    assert client.status == 200
    assert version == {"router_version": version["router_version"], "protocol": 2, "task": None}


async def test_the_operator_pushes_its_build_and_the_router_serves_it(tmp_path: Path) -> None:
    build = _build(tmp_path / "build", "one")
    async with standalone(tmp_path / "data") as server, operator_channel(server, build) as channel:
        page = await http_request(server.port, "/?worker_id=alice")
        version = await _version(server)
        hello = channel.envelopes[0]
    assert channel.pusher.pushes == 1
    assert page.status == 200 and page.body == b"<p>page one</p>"
    assert version["task"] == build_digest(build)
    # The router's hello said which build it had before the push (none); the push's answer is not relayed.
    assert hello["event"] == "hello" and hello["build"] is None and hello["protocol"] == 2
    assert all(e.get("event") != "build" for e in channel.envelopes)


async def test_a_pushed_builds_task_page_is_in_memory_before_the_operator_hears_it_is_installed(
    tmp_path: Path,
) -> None:
    build = _build(tmp_path / "build", "one")
    async with standalone(tmp_path / "data") as server, operator_channel(server, build):
        stored = tmp_path / "data" / "builds" / build_digest(build) / "index.html"
        stored.unlink()  # only the copy read when the build was installed can answer now
        page = await http_request(server.port, "/?worker_id=alice")
    assert page.status == 200 and page.body == b"<p>page one</p>"


async def test_a_router_restarted_on_its_data_dir_serves_the_build_before_any_operator_connects(
    tmp_path: Path,
) -> None:
    build = _build(tmp_path / "build", "one")
    async with standalone(tmp_path / "data") as server, operator_channel(server, build):
        pass
    async with standalone(tmp_path / "data") as restarted:
        assert not restarted.operator_connected
        page = await http_request(restarted.port, "/")
        assert page.status == 200 and page.body == b"<p>page one</p>"
        assert (await _version(restarted))["task"] == build_digest(build)
        async with operator_channel(restarted, build) as channel:
            assert channel.pusher.pushes == 0  # the hello named the same build: nothing to push


async def test_a_new_build_replaces_the_old_one_and_every_request_gets_one_or_the_other(tmp_path: Path) -> None:
    old, new = _build(tmp_path / "old", "old"), _build(tmp_path / "new", "new")
    expected = {
        "/": {b"<p>page old</p>", b"<p>page new</p>"},
        "/js/app.js": {(old / "js/app.js").read_bytes(), (new / "js/app.js").read_bytes()},
    }
    async with standalone(tmp_path / "data") as server:
        async with operator_channel(server, old):
            pass
        stop = asyncio.Event()
        answers: list[tuple[str, int, bytes]] = []

        async def keep_loading() -> None:
            while not stop.is_set():
                for target in expected:
                    answer = await http_request(server.port, target)
                    answers.append((target, answer.status, answer.body))

        loaders = [asyncio.create_task(keep_loading()) for _ in range(4)]
        async with operator_channel(server, new) as channel:
            await asyncio.sleep(0.2)  # a few loads after the switch as well
        stop.set()
        await asyncio.gather(*loaders)
        final = await http_request(server.port, "/")
    assert channel.pusher.pushes == 1 and final.body == b"<p>page new</p>"
    assert len(answers) > 20
    for target, status, body in answers:
        assert status == 200 and body in expected[target], (target, status, body[:40])
    kept = sorted(p.name for p in (tmp_path / "data" / "builds").iterdir())
    assert kept == sorted([build_digest(old), build_digest(new), "current"])


async def test_a_router_serving_a_fixed_build_dir_refuses_pushes(tmp_path: Path) -> None:
    fixed = _build(tmp_path / "fixed", "fixed")
    async with RouterServerContext(fixed) as server:
        with pytest.raises(MephistoError, match="refused the task's build: this router serves a fixed build dir"):
            async with operator_channel(server, _build(tmp_path / "other", "other")):
                pass
        assert (await http_request(server.port, "/")).body == b"<p>page fixed</p>"


async def test_a_build_over_the_routers_limit_is_refused_and_the_old_one_stays(tmp_path: Path) -> None:
    small = tmp_path / "small"
    small.mkdir()
    (small / "index.html").write_text("<p>small</p>")
    async with standalone(tmp_path / "data", max_build_bytes=20_000) as server:
        async with operator_channel(server, small):
            pass
        with pytest.raises(MephistoError, match="more than this router takes"):
            async with operator_channel(server, _build(tmp_path / "big", "big")):
                pass
        assert (await http_request(server.port, "/")).body == b"<p>small</p>"


def _evil_tar() -> tuple[bytes, str]:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo("index.html")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)
    raw = out.getvalue()
    return raw, hashlib.sha256(raw).hexdigest()


async def _raw_push(server: RouterServer, raw: bytes, digest: str, size: int | None = None) -> dict[str, Any]:
    """Push `raw` as a hostile operator would; return the router's answer."""
    async with connect(server.channel_url, additional_headers={"Authorization": f"Bearer {SECRET}"}) as ws:
        async with asyncio.timeout(TIMEOUT):
            hello = json.loads(await ws.recv())[0]
            assert hello["event"] == "hello"
            await ws.send(
                json.dumps([{"build": "start", "digest": digest, "size": len(raw) if size is None else size}])
            )
            await ws.send(raw)
            await ws.send(json.dumps([{"build": "end", "digest": digest}]))
            while True:
                for envelope in json.loads(await ws.recv()):
                    if envelope.get("event") == "build":
                        return dict(envelope)


async def test_an_unsafe_pushed_build_is_refused_and_nothing_of_it_is_kept(tmp_path: Path) -> None:
    async with standalone(tmp_path / "data") as server:
        raw, digest = _evil_tar()
        answer = await _raw_push(server, raw, digest)
        wrong_digest = await _raw_push(server, raw, "f" * 64)
        too_long = await _raw_push(server, raw, digest, size=10)
        page = await http_request(server.port, "/")
    assert answer["status"] == "refused" and "is a link" in answer["reason"]
    assert wrong_digest["status"] == "refused" and "not the announced" in wrong_digest["reason"]
    assert too_long["status"] == "refused" and "larger than the 10 bytes announced" in too_long["reason"]
    assert page.status == 503
    assert list((tmp_path / "data" / "builds").iterdir()) == []


async def test_a_probe_checks_the_secret_without_replacing_the_operator(tmp_path: Path) -> None:
    build = _build(tmp_path / "build", "one")
    async with standalone(tmp_path / "data") as server, operator_channel(server, build) as channel:
        info = await asyncio.to_thread(probe_router, server.url, SECRET)
        await asyncio.sleep(0.2)
        assert channel.connected and server.operator_connected
        assert len([e for e in channel.envelopes if e.get("event") == "hello"]) == 1  # never reconnected
    assert info.task == build_digest(build) and info.protocol == 2
    assert info.channel_url == server.channel_url


async def test_a_router_speaking_another_protocol_fails_the_start_with_what_to_do(tmp_path: Path) -> None:
    pusher = BuildPusher(_build(tmp_path / "build", "one"), "wss://router.example.org/_channel")
    await pusher.prepare()
    pusher.on_hello({"event": "hello", "protocol": 1, "build": None}, ws=None)  # type: ignore[arg-type]
    assert pusher.failed.is_set() and not pusher.served.is_set()
    assert pusher.error is not None and "install the same mephisto-core version on both" in pusher.error


class RouterServerContext:
    """A router serving a fixed build dir (the local architect's kind)."""

    def __init__(self, build_dir: Path) -> None:
        self.server = RouterServer(build_dir, SECRET)

    async def __aenter__(self) -> RouterServer:
        await self.server.start()
        return self.server

    async def __aexit__(self, *exc: object) -> None:
        await self.server.stop()


async def test_an_operator_taken_over_by_another_stops_instead_of_taking_the_router_back(tmp_path: Path) -> None:
    first_build, second_build = _build(tmp_path / "first", "first"), _build(tmp_path / "second", "second")
    async with (
        standalone(tmp_path / "data") as server,
        operator_channel(server, first_build) as first,
        operator_channel(server, second_build) as second,
    ):
        async with asyncio.timeout(TIMEOUT):
            while first.taken_over is None:
                await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # long enough for several reconnects, if it made any
        page = await http_request(server.port, "/")
        assert second.connected and not first.connected
        assert first.pusher.pushes == second.pusher.pushes == 1
    assert page.body == b"<p>page second</p>"
    assert "took it over (a router serves one run at a time)" in first.taken_over


async def test_a_push_cut_half_way_installs_nothing_and_the_next_push_works(tmp_path: Path) -> None:
    build = _build(tmp_path / "build", "one")
    archive = pack_build(build)
    async with standalone(tmp_path / "data") as server:
        async with connect(server.channel_url, additional_headers={"Authorization": f"Bearer {SECRET}"}) as ws:
            await ws.recv()  # hello
            await ws.send(json.dumps([{"build": "start", "digest": archive.digest, "size": archive.size}]))
            await ws.send(archive.data[: archive.size // 2])
        # The connection is gone before the end: nothing was unpacked, nothing is served.
        assert (await http_request(server.port, "/")).status == 503
        assert list((tmp_path / "data" / "builds").iterdir()) == []
        async with operator_channel(server, build) as channel:
            assert channel.pusher.pushes == 1
        assert (await http_request(server.port, "/")).body == b"<p>page one</p>"


async def test_a_restarted_router_drops_what_a_killed_one_was_unpacking_and_never_serves_an_altered_build(
    tmp_path: Path,
) -> None:
    build = _build(tmp_path / "build", "one")
    async with standalone(tmp_path / "data") as server, operator_channel(server, build):
        pass
    builds = tmp_path / "data" / "builds"
    (builds / ".incoming-0123456789abcdef" / "js").mkdir(parents=True)  # a kill -9 during an unpack
    (builds / "current.1234.tmp").write_text("half")
    async with standalone(tmp_path / "data") as server:
        assert (await http_request(server.port, "/")).status == 200
    assert sorted(p.name for p in builds.iterdir()) == sorted([build_digest(build), "current"])
    # A file changed on disk behind the router's back: the build no longer has its digest and is not served.
    (builds / build_digest(build) / "index.html").write_text("<p>tampered</p>")
    async with standalone(tmp_path / "data") as server:
        answer = await http_request(server.port, "/")
        assert answer.status == 503 and b"No task is running" in answer.body
        assert (await _version(server))["task"] is None
        async with operator_channel(server, build) as channel:  # the operator's push repairs it
            assert channel.pusher.pushes == 1
        assert (await http_request(server.port, "/")).body == b"<p>page one</p>"
