"""A router whose operator said the run is over answers pages itself once that operator left: `hello` is refused
with `run_over` and other requests get the `run_over` error, rather than `unavailable` (a wait for an operator that
is not coming). A standalone router remembers it across a restart; the next operator channel ends it."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from router_helpers import (
    SECRET,
    UPLOAD_HEADER,
    FakeOperator,
    ask,
    hello,
    http_request,
    recv_json,
    running_router,
    upload_frame,
    worker_socket,
)

from mephisto_core.operations.run.channel import OperatorChannel
from mephisto_core.operations.run.run_over_notice import tell_router_the_run_is_over
from mephisto_core.router import RouterServer
from mephisto_core.router.run_over import MARKER

RUN_OVER = {"event": "run_over"}


async def _answers_of_a_late_page(server: RouterServer) -> list[dict[str, Any]]:
    """What the router answers a page's hello, submit, upload, live and heartbeat."""
    async with worker_socket(server) as page:
        answers: list[dict[str, Any]] = [await ask(page, hello(1, worker_id="late"))]
        answers.append(await ask(page, {"type": "submit", "id": 2, "submit_key": "k", "outputs": {}, "uploads": []}))
        await page.send(upload_frame(UPLOAD_HEADER, b"file"))
        answers.append(await recv_json(page))
        answers.append(await ask(page, {"type": "live", "data": 1}))
        answers.append(await ask(page, {"type": "heartbeat", "id": 5}))
    return answers


def _kinds(answers: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(a["type"], a.get("reason") or a.get("code") or a.get("operator_connected"), a.get("id")) for a in answers]


async def test_pages_that_come_after_the_operator_said_the_run_is_over_are_told_so(build_dir: Path) -> None:
    async with running_router(build_dir) as server:
        async with FakeOperator(server.channel_url) as operator:
            await operator.send(RUN_OVER)
            # While the operator is connected its pages are still its own to answer.
            async with worker_socket(server) as page:
                assert (await ask(page, hello(1, worker_id="on-time")))["type"] == "assigned"
        answers = await _answers_of_a_late_page(server)
        health = await http_request(server.port, "/_health")
    assert json.loads(health.body) == {"status": "ok", "operator_connected": False, "run_over": True}
    assert _kinds(answers) == [
        ("refused", "run_over", 1),
        ("error", "run_over", 2),
        ("error", "run_over", 3),
        ("error", "run_over", None),
        ("heartbeat_ack", False, 5),
    ]
    assert answers[0]["message"] == "This task has finished and takes no more work. Thank you!"


async def test_without_the_operator_saying_so_pages_wait_for_it_and_a_new_operator_takes_them_again(
    build_dir: Path,
) -> None:
    async with running_router(build_dir) as server:
        async with FakeOperator(server.channel_url):
            pass  # stopped, not over: a relaunch resumes the run
        async with worker_socket(server) as page:
            assert (await ask(page, hello(1)))["code"] == "unavailable"
        async with FakeOperator(server.channel_url) as operator:
            await operator.send(RUN_OVER)
        # A resumed run, or another task: its operator answers again.
        async with FakeOperator(server.channel_url), worker_socket(server) as page:
            assert (await ask(page, hello(1, worker_id="w")))["type"] == "assigned"


async def test_a_standalone_router_remembers_across_a_restart_until_an_operator_connects(tmp_path: Path) -> None:
    data_dir = tmp_path / "router-data"
    data_dir.mkdir()
    first = RouterServer(None, SECRET, data_dir=data_dir)
    await first.start()
    try:
        async with FakeOperator(first.channel_url) as operator:
            await operator.send(RUN_OVER)
            await _wait_for_file(data_dir / MARKER)
    finally:
        await first.stop()

    again = RouterServer(None, SECRET, data_dir=data_dir)  # a restart (or a reboot) of the router
    await again.start()
    try:
        async with worker_socket(again) as page:
            assert (await ask(page, hello(1)))["reason"] == "run_over"
        async with FakeOperator(again.channel_url):
            assert not (data_dir / MARKER).exists()
            async with worker_socket(again) as page:
                assert (await ask(page, hello(1, worker_id="w")))["type"] == "assigned"
    finally:
        await again.stop()


async def _wait_for_file(path: Path) -> None:
    for _ in range(200):
        if path.exists():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{path} was not written")


async def _ignore(*_args: Any) -> None:
    return None


async def test_an_operator_whose_router_is_down_as_the_run_ends_tells_it_once_it_is_back(build_dir: Path) -> None:
    first = RouterServer(build_dir, SECRET)
    await first.start()
    port = first.port
    channel = OperatorChannel(first.channel_url, SECRET, _ignore, _ignore)
    await channel.start()
    await first.stop()  # the router restarts just as the last unit is done
    back = RouterServer(build_dir, SECRET, port=port)

    async def restart_later() -> None:
        await asyncio.sleep(0.5)
        await back.start()

    restarting = asyncio.create_task(restart_later())
    try:
        assert await tell_router_the_run_is_over(channel, patience=10.0) is True
        await channel.stop()  # the operator exits as soon as the notice is through
        await restarting
        async with worker_socket(back) as page:
            assert (await ask(page, hello(1, worker_id="late")))["reason"] == "run_over"
    finally:
        restarting.cancel()
        await channel.stop()
        await back.stop()


async def test_a_router_that_does_not_come_back_holds_the_operator_only_for_its_patience(
    build_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_router(build_dir) as server:
        channel = OperatorChannel(server.channel_url, SECRET, _ignore, _ignore)
        await channel.start()
    try:
        loop = asyncio.get_running_loop()
        began = loop.time()
        with caplog.at_level(logging.WARNING):
            assert await tell_router_the_run_is_over(channel, patience=0.5) is False
        assert 0.5 <= loop.time() - began < 5
        assert "could not tell the router that the run is over" in caplog.text
    finally:
        await channel.stop()


async def test_a_channel_whose_socket_closed_says_at_once_that_it_cannot_deliver(build_dir: Path) -> None:
    server = RouterServer(build_dir, SECRET)
    await server.start()
    channel = OperatorChannel(server.channel_url, SECRET, _ignore, _ignore)
    await channel.start()
    await server.stop()  # closed; the channel's task has not run since, so it still holds the socket
    try:
        channel.send(RUN_OVER)
        loop = asyncio.get_running_loop()
        began = loop.time()
        assert await channel.delivered(2.0) is False
        assert loop.time() - began < 1.0  # it spun without yielding before, past any timeout
    finally:
        await channel.stop()
