"""A router whose operator said the run is over answers pages itself once that operator left: `hello` is refused
with `run_over` and other requests get the `run_over` error, rather than `unavailable` (a wait for an operator that
is not coming). A standalone router remembers it across a restart; the next operator channel ends it."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time
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

from mephisto_core.operations.run import run_over_notice
from mephisto_core.operations.run.channel import OperatorChannel
from mephisto_core.operations.run.run_over_notice import tell_router_the_run_is_over
from mephisto_core.router import RouterServer
from mephisto_core.router.run_over import MARKER
from mephisto_core.testing.standalone_router import StandaloneRouterProcess

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


async def _tell_a_router_that_is_gone(build_dir: Path, left: list[dict[str, Any]] | None, **patience: float) -> float:
    """Tell a router that stopped that the run is over (it never confirms): how long that tried."""
    async with running_router(build_dir) as server:
        channel = OperatorChannel(server.channel_url, SECRET, _ignore, _ignore)
        await channel.start()
    try:
        loop = asyncio.get_running_loop()
        began = loop.time()
        assert await tell_router_the_run_is_over(channel, left, **patience) is False
        return loop.time() - began
    finally:
        await channel.stop()


async def test_a_router_that_does_not_come_back_holds_the_operator_only_for_its_patience(
    build_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    left = [_left_answers("token-of-alice", "alice-last-key")]
    with caplog.at_level(logging.WARNING):
        assert 0.5 <= await _tell_a_router_that_is_gone(build_dir, left, patience=0.5) < 5
    assert "could not tell the router that the run is over" in caplog.text
    assert "1 page(s) that may come back for the answer to their last submission are not told" in caplog.text


async def test_a_router_that_is_up_but_hung_is_warned_about_long_before_the_patience_runs_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A standalone router stopped with SIGSTOP: its channel stays open and takes bytes, but nothing answers. The
    # researcher is told at once why the launch lingers, not only when its minute is over.
    monkeypatch.setattr(run_over_notice, "SILENCE_WARNING_SECONDS", 0.3)
    router = StandaloneRouterProcess(tmp_path / "router-data", tmp_path / "router.log")
    router.start()
    channel = OperatorChannel(router.channel_url, router.secret, _ignore, _ignore)
    try:
        await channel.start()
        assert router.proc is not None
        os.kill(router.proc.pid, signal.SIGSTOP)
        try:
            began = time.time()
            with caplog.at_level(logging.WARNING):
                told = await tell_router_the_run_is_over(channel, [_left_answers("t", "k")], patience=3.0)
        finally:
            os.kill(router.proc.pid, signal.SIGCONT)
    finally:
        await channel.stop()
        router.close()
    assert told is False
    (silent,) = [r for r in caplog.records if "the router does not answer as the run ends" in r.getMessage()]
    (gave_up,) = [r for r in caplog.records if "could not tell the router that the run is over" in r.getMessage()]
    assert "trying for up to 3 s" in silent.getMessage()
    assert silent.created - began < 1.5 <= 3.0 <= gave_up.created - began


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


def _left_answers(token: str, key: str) -> dict[str, Any]:
    """What an operator leaves for a page that may come back for its last answer (operations/run/last_answers.py)."""
    completion = {"url": "https://platform.example/submit", "method": "POST", "fields": {"assignmentId": "A1"}}
    return {
        "token": token,
        "hello": {
            "type": "assigned",
            "id": None,
            "agent_id": 7,
            "unit_id": 3,
            "token": token,
            "is_onboarding": False,
            "init_data": {"text": "the unit's data"},
            "submitted": True,
            "seconds_left": None,
            "completion": completion,
        },
        "submit_key": key,
        "submitted": {"type": "submitted", "id": None, "submit_key": key, "next": "done", "completion": completion},
    }


def _submit(request_id: int, key: str) -> dict[str, Any]:
    return {"type": "submit", "id": request_id, "submit_key": key, "outputs": {"a": 1}, "uploads": []}


async def test_a_page_the_operator_left_its_last_answer_for_gets_it_after_the_run_ended(build_dir: Path) -> None:
    kept = _left_answers("token-of-alice", "alice-last-key")
    async with running_router(build_dir) as server:
        async with FakeOperator(server.channel_url) as operator:
            await operator.send({**RUN_OVER, "answers": [kept, {"token": "x", "hello": "not an answer"}]})
        async with worker_socket(server) as page:
            again = await ask(page, hello(4, token="token-of-alice"))
            # A submission other than the one the answer is for is not acknowledged: only what was stored is.
            other = await ask(page, _submit(5, "another-key"))
            resent = await ask(page, _submit(6, "alice-last-key"))
        async with worker_socket(server) as stranger:
            refused = await ask(stranger, hello(1, token="token-of-bob"))
            not_said_hello = await ask(stranger, _submit(2, "alice-last-key"))
        async with worker_socket(server) as malformed:
            ignored = await ask(malformed, hello(1, token="x"))
    assert again == {**kept["hello"], "id": 4}
    assert (other["type"], other["code"], other["id"]) == ("error", "run_over", 5)
    assert resent == {**kept["submitted"], "id": 6}
    assert (refused["type"], refused["reason"]) == ("refused", "run_over")
    assert (not_said_hello["type"], not_said_hello["code"]) == ("error", "run_over")
    assert (ignored["type"], ignored["reason"]) == ("refused", "run_over")


async def test_a_standalone_router_keeps_the_left_answers_across_a_restart_until_an_operator_connects(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "router-data"
    data_dir.mkdir()
    kept = _left_answers("token-of-alice", "alice-last-key")
    first = RouterServer(None, SECRET, data_dir=data_dir)
    await first.start()
    try:
        async with FakeOperator(first.channel_url) as operator:
            await operator.send({**RUN_OVER, "answers": [kept]})
            await _wait_for_file(data_dir / MARKER)
    finally:
        await first.stop()
    assert (data_dir / MARKER).stat().st_mode & 0o777 == 0o600  # it holds the pages' tokens

    again = RouterServer(None, SECRET, data_dir=data_dir)
    await again.start()
    try:
        async with worker_socket(again) as page:
            assert await ask(page, hello(1, token="token-of-alice")) == {**kept["hello"], "id": 1}
            assert await ask(page, _submit(2, "alice-last-key")) == {**kept["submitted"], "id": 2}
        async with FakeOperator(again.channel_url):
            assert not (data_dir / MARKER).exists()
        async with worker_socket(again) as page:  # the next run's pages are not answered with this run's
            assert (await ask(page, hello(1, token="token-of-alice")))["code"] == "unavailable"
    finally:
        await again.stop()


async def test_a_run_over_file_whose_answers_cannot_be_read_still_tells_pages_the_run_ended(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "router-data"
    data_dir.mkdir()
    (data_dir / MARKER).write_text('[{"token": "t", "hello": ', encoding="utf-8")  # cut short by a power cut
    server = RouterServer(None, SECRET, data_dir=data_dir)
    with caplog.at_level(logging.WARNING):
        await server.start()
    try:
        async with worker_socket(server) as page:
            refused = await ask(page, hello(1, token="t"))
    finally:
        await server.stop()
    assert (refused["type"], refused["reason"]) == ("refused", "run_over")
    assert f"could not read the pages' answers in {data_dir / MARKER}" in caplog.text


@pytest.mark.parametrize("owed", [False, True])
async def test_an_unreachable_router_is_waited_for_longer_when_pages_are_owed_answers(
    build_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, owed: bool
) -> None:
    monkeypatch.setattr(run_over_notice, "DELIVERY_SECONDS", 0.3)
    monkeypatch.setattr(run_over_notice, "DELIVERY_SECONDS_WITH_ANSWERS", 1.5)
    left = [_left_answers("token-of-alice", "alice-last-key")] if owed else None
    with caplog.at_level(logging.WARNING):
        waited = await _tell_a_router_that_is_gone(build_dir, left)
    assert 1.5 <= waited < 5 if owed else 0.3 <= waited < 1.4
    assert ("trying for up to 2 s to tell it the run is over" in caplog.text) is owed
