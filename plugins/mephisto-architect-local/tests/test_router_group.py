"""`router_processes` > 1: router children sharing the worker port, each with its own channel (real processes,
real HTTP and WebSocket traffic on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from mephisto_architect_local.architect import LocalArchitect
from mephisto_architect_local.args import LocalArchitectArgs
from mephisto_architect_local.router_group import RouterGroup
from mephisto_architect_local.subprocess_router import SubprocessRouter
from pydantic import ValidationError
from websockets.asyncio.client import connect

from mephisto_core.abstractions import Deployment
from mephisto_core.errors import ConfigError, MephistoError
from mephisto_core.operations.run.channel import OperatorChannel
from mephisto_core.router import Shard
from mephisto_core.testing.served_pages import page_as_built

SECRET = "s3cret-for-tests"
#: enough sockets that a router left without any would be a broken spread, not bad luck (3 * (2/3)**60 ~ 1e-10)
SOCKETS = 60


def _group(architect: LocalArchitect) -> RouterGroup:
    runner = architect._runner
    assert isinstance(runner, RouterGroup)
    return runner


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _port(url: str) -> int:
    return int(url.rstrip("/").rsplit(":", 1)[1].split("/")[0])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _opens_seen_by_each_router(deployment: Deployment) -> list[list[int]]:
    """Connect an operator channel to every router, open SOCKETS worker sockets on the shared port, and return the
    connection ids each channel was told of."""
    seen: list[list[int]] = [[] for _ in deployment.channel_urls]
    everyone = asyncio.Event()

    def recorder(index: int) -> Any:
        async def on_envelope(envelope: dict[str, Any]) -> None:
            if envelope.get("event") == "open":
                seen[index].append(envelope["conn"])
                if sum(map(len, seen)) == SOCKETS:
                    everyone.set()

        return on_envelope

    async def no_uploads(conn: int, frame: bytes) -> None:
        raise AssertionError("no upload was sent")

    channels = [
        OperatorChannel(url, SECRET, recorder(index), no_uploads) for index, url in enumerate(deployment.channel_urls)
    ]
    ws_url = deployment.worker_url.replace("http://", "ws://") + "ws"
    async with contextlib.AsyncExitStack() as stack:
        for channel in channels:
            await channel.start(10)
            stack.push_async_callback(channel.stop)
        for _ in range(SOCKETS):
            await stack.enter_async_context(connect(ws_url))
        await asyncio.wait_for(everyone.wait(), 10)
    return seen


def test_routers_share_the_worker_port_and_split_its_connections(tmp_path: Path, build_dir: Path) -> None:
    async def scenario() -> tuple[Deployment, list[int], list[list[int]]]:
        architect = LocalArchitect(LocalArchitectArgs(port=0, router_processes=3), tmp_path / "run")
        deployment = await architect.deploy(build_dir, SECRET)
        pids = _group(architect).pids
        try:
            assert len(pids) == 3 and all(os.getpgid(pid) == pid for pid in pids)
            run_folder = build_dir.parent
            assert sorted(p.name for p in run_folder.glob("router*.json")) == [
                "router-1.json",
                "router-2.json",
                "router.json",
            ]
            status, body = await asyncio.to_thread(_get, deployment.worker_url)
            assert (status, page_as_built(body)) == (200, (build_dir / "index.html").read_bytes())
            # Another launch asked for this port is told it is taken: the routers' SO_REUSEPORT does not let a
            # socket without it in, so no second run can share the group's port.
            with pytest.raises(ConfigError, match="already in use"):
                LocalArchitect(LocalArchitectArgs(port=_port(deployment.worker_url)), tmp_path / "other").check()
            # On the shared port the channel would reach any one of the routers: it is refused there.
            status, body = await asyncio.to_thread(_get, deployment.worker_url + "_channel")
            assert status == 404 and b"own port" in body
            seen = await _opens_seen_by_each_router(deployment)
        finally:
            await architect.shutdown()
        assert not any(run_folder.glob("router*.json"))
        return deployment, pids, seen

    deployment, pids, seen = asyncio.run(scenario())
    assert deployment.channel_url == deployment.channel_urls[0]
    channel_ports = {_port(url) for url in deployment.channel_urls}
    assert len(channel_ports) == 3 and _port(deployment.worker_url) not in channel_ports
    assert all(url.startswith("ws://127.0.0.1:") for url in deployment.channel_urls)
    # Every router took a share, and numbered its sockets in its own residue class: no id is used twice.
    assert all(seen), seen
    for index, conns in enumerate(seen):
        assert {Shard(index, 3).owner_of(conn) for conn in conns} == {index}
    assert sum(map(len, seen)) == len({conn for conns in seen for conn in conns}) == SOCKETS
    assert not any(_alive(pid) for pid in pids)
    assert (build_dir.parent / "router-2.stderr.log").exists()


def test_a_router_of_the_group_that_dies_is_reported_and_shutdown_stops_the_others(
    tmp_path: Path, build_dir: Path
) -> None:
    async def scenario() -> tuple[list[int], str | None]:
        architect = LocalArchitect(LocalArchitectArgs(port=0, router_processes=2), tmp_path / "run")
        await architect.deploy(build_dir, SECRET)
        pids = _group(architect).pids
        try:
            watch = asyncio.create_task(architect.watch_router())
            await asyncio.sleep(0.1)
            assert not watch.done()
            os.kill(pids[1], signal.SIGKILL)
            return pids, await asyncio.wait_for(watch, 10)
        finally:
            await architect.shutdown()

    pids, reason = asyncio.run(scenario())
    assert reason is not None
    assert reason.startswith(f"the router process (pid {pids[1]}) was killed by signal 9 (SIGKILL)")
    assert "one of 2 router processes" in reason and "router-1.stderr.log" in reason
    assert not _alive(pids[0])


def test_watch_says_nothing_when_shutdown_stops_the_group(tmp_path: Path, build_dir: Path) -> None:
    async def scenario() -> str | None:
        architect = LocalArchitect(LocalArchitectArgs(port=0, router_processes=2), tmp_path / "run")
        await architect.deploy(build_dir, SECRET)
        watch = asyncio.create_task(architect.watch_router())
        await asyncio.sleep(0.1)
        await architect.shutdown()
        return await asyncio.wait_for(watch, 10)

    assert asyncio.run(scenario()) is None


def test_router_processes_need_a_process_of_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    from mephisto_architect_local import args as args_module

    with pytest.raises(ValidationError, match='2 router processes need mode = "subprocess"'):
        LocalArchitectArgs(mode="in_process", router_processes=2)
    for bad in (0, 65):
        with pytest.raises(ValidationError, match="router_processes"):
            LocalArchitectArgs(router_processes=bad)
    monkeypatch.setattr(args_module, "usable_cpu_count", lambda: 1)
    assert LocalArchitectArgs(router_processes=2).resolved_mode == "subprocess"
    assert LocalArchitectArgs().router_processes == 1
    monkeypatch.setattr(sys, "platform", "darwin")
    with pytest.raises(ValidationError, match="2 router processes need Linux"):
        LocalArchitectArgs(router_processes=2)
    assert LocalArchitectArgs(router_processes=1).router_processes == 1


def test_a_busy_port_stops_the_whole_group(tmp_path: Path, build_dir: Path, busy_port: int) -> None:
    async def scenario() -> None:
        log_path = build_dir.parent / "router.stderr.log"
        group = RouterGroup(
            2,
            busy_port,
            lambda shard, port: SubprocessRouter(build_dir, SECRET, "127.0.0.1", port, 2**20, log_path, shard=shard),
        )
        with pytest.raises(MephistoError, match=f"port {busy_port} on 127.0.0.1 is already in use"):
            await group.start()
        assert group.routers == [] and not any(build_dir.parent.glob("router*.json"))

    asyncio.run(scenario())
