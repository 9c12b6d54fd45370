"""A worker page's socket: what the router answers itself, what it refuses, what it relays, and limits."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from router_helpers import (
    TIMEOUT,
    UPLOAD_HEADER,
    FakeOperator,
    ask,
    hello,
    recv_json,
    running_router,
    upload_frame,
    worker_socket,
)
from websockets.asyncio.client import ClientConnection


async def _heartbeat_ok(page: ClientConnection, request_id: int = 99) -> bool:
    answer = await ask(page, {"type": "heartbeat", "id": request_id})
    return bool(answer["type"] == "heartbeat_ack" and answer["id"] == request_id)


async def test_heartbeat_is_answered_by_the_router_itself(build_dir: Path) -> None:
    async with running_router(build_dir) as server, worker_socket(server) as page:
        alone = await ask(page, {"type": "heartbeat", "id": 1})
        async with FakeOperator(server.channel_url) as operator:
            connected = await ask(page, {"type": "heartbeat", "id": 2})
    assert alone == {"type": "heartbeat_ack", "id": 1, "operator_connected": False}
    assert connected == {"type": "heartbeat_ack", "id": 2, "operator_connected": True}
    assert operator.messages() == []


@pytest.mark.parametrize(
    ("frame", "expected_id", "words"),
    [
        ("not json", None, "not valid JSON"),
        ("[1, 2]", None, "must be a JSON object, not an array"),
        ('"hello"', None, "not a string"),
        ("42", None, "not a number"),
        ("null", None, "not null"),
        ('{"id": 3}', 3, "string 'type'"),
        ('{"type": 7, "id": 3}', 3, "string 'type'"),
        ('{"type": "launch_missiles", "id": 4}', 4, "unknown message type 'launch_missiles'"),
        ('{"type": "upload", "id": 4}', 4, "uploads are binary frames"),
        ('{"type": "hello", "params": {}, "token": null}', None, "'id' is missing"),
        ('{"type": "hello", "id": "5", "params": {}}', None, "must be an integer, not a string"),
        ('{"type": "hello", "id": true, "params": {}}', None, "not a boolean"),
        ('{"type": "heartbeat", "id": 1.5}', None, "not a number"),
        ('{"type": "hello", "id": 6}', 6, "'params'"),
        ('{"type": "hello", "id": 6, "params": {"a": 1}}', 6, "object of strings"),
        ('{"type": "hello", "id": 6, "params": {}, "token": 12}', 6, "'token'"),
        ('{"type": "submit", "id": 7, "outputs": {}}', 7, "'submit_key'"),
        ('{"type": "submit", "id": 7, "submit_key": "", "outputs": {}}', 7, "'submit_key'"),
        ('{"type": "submit", "id": 7, "submit_key": "k", "outputs": []}', 7, "'outputs'"),
        ('{"type": "submit", "id": 7, "submit_key": "k", "outputs": {}, "uploads": [1]}', 7, "'uploads'"),
        ('{"type": "live"}', None, "'data'"),
        ('{"type": "live", "data": NaN}', None, "NaN is not valid JSON"),
        ('{"type": "live", "data": Infinity}', None, "Infinity is not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, None, "nested too deeply"),
    ],
    ids=lambda value: value[:40] if isinstance(value, str) else None,
)
async def test_malformed_messages_get_bad_message_and_are_not_relayed(
    build_dir: Path, frame: str, expected_id: int | None, words: str
) -> None:
    async with (
        running_router(build_dir) as server,
        FakeOperator(server.channel_url, answer=False) as operator,
        worker_socket(server) as page,
    ):
        await page.send(frame)
        answer = await recv_json(page)
        # The socket is still usable, and the next relayed message is the first the operator sees.
        await page.send(json.dumps({"type": "live", "data": "after"}))
        await operator.wait_for(lambda: bool(operator.messages()))
        assert await _heartbeat_ok(page)
    assert answer["type"] == "error" and answer["code"] == "bad_message"
    assert answer.get("id") == expected_id
    assert words in answer["message"]
    assert operator.messages() == [{"type": "live", "data": "after"}]


async def test_requests_without_an_operator_get_unavailable(build_dir: Path) -> None:
    async with running_router(build_dir) as server, worker_socket(server) as page:
        answers: list[dict[str, Any]] = [await ask(page, hello(1))]
        submit = {"type": "submit", "id": 2, "submit_key": "k", "outputs": {"a": "b"}, "uploads": []}
        answers.append(await ask(page, submit))
        await page.send(upload_frame(UPLOAD_HEADER, b"file"))
        answers.append(await recv_json(page))
        answers.append(await ask(page, {"type": "live", "data": 1}))
    assert [(a["type"], a["code"], a.get("id")) for a in answers] == [
        ("error", "unavailable", 1),
        ("error", "unavailable", 2),
        ("error", "unavailable", 3),
        ("error", "unavailable", None),
    ]


async def test_upload_frames_reach_the_operator_with_the_connection_id(build_dir: Path) -> None:
    data = bytes(range(256)) * 40
    header = {
        "type": "upload",
        "id": 11,
        "upload_id": "up-1",
        "field": "photo",
        "name": "cat.png",
        "content_type": "image/png",
    }
    frame = upload_frame(header, data)
    async with (
        running_router(build_dir) as server,
        FakeOperator(server.channel_url) as operator,
        worker_socket(server) as page,
    ):
        assert (await ask(page, hello(1)))["type"] == "assigned"
        await page.send(frame)
        ack = await recv_json(page)
        conn = operator.events("open")[0]["conn"]
        submit = {"type": "submit", "id": 12, "submit_key": "key-1", "outputs": {"x": 1}, "uploads": ["up-1"]}
        submitted = await ask(page, submit)
    assert ack == {"type": "upload_ack", "id": 11, "upload_id": "up-1"}
    [upload] = operator.uploads
    assert upload.raw_frame == conn.to_bytes(8, "big") + frame
    assert upload.header == header and upload.data == data
    assert submitted == {"type": "submitted", "id": 12, "submit_key": "key-1", "next": "done"}


@pytest.mark.parametrize(
    ("frame", "expected_id", "words"),
    [
        (b"\x00\x00", None, "shorter"),
        (b"\x00\x02\x00\x00" + b"{}", None, "at most"),
        (b"\x00\x00\x00\x10{}", None, "longer than the frame"),
        (b"\x00\x00\x00\x02\xff\xfe", None, "not UTF-8"),
        (upload_frame({"type": "submit", "id": 4}, b""), 4, '"type": "upload"'),
        (upload_frame({"type": "upload", "id": 4, "upload_id": "u"}, b""), 4, "'field'"),
        (upload_frame({"type": "upload", "id": "4"}, b""), None, "integer 'id'"),
    ],
)
async def test_malformed_upload_frames_get_bad_message(
    build_dir: Path, frame: bytes, expected_id: int | None, words: str
) -> None:
    async with (
        running_router(build_dir) as server,
        FakeOperator(server.channel_url) as operator,
        worker_socket(server) as page,
    ):
        await page.send(frame)
        answer = await recv_json(page)
        assert await _heartbeat_ok(page)
    assert answer["code"] == "bad_message" and answer.get("id") == expected_id
    assert words in answer["message"]
    assert operator.uploads == []


async def _closed_with(page: ClientConnection) -> tuple[int | None, str | None]:
    async with asyncio.timeout(TIMEOUT):
        await page.wait_closed()
    return page.close_code, page.close_reason


async def test_oversize_frames_close_that_socket_with_1009_and_others_go_on(build_dir: Path) -> None:
    header = {"type": "upload", "id": 1, "upload_id": "u", "field": "f", "name": "n", "content_type": "x"}
    limits = {"max_message_bytes": 1000, "max_upload_bytes": 5000}
    async with (
        running_router(build_dir, **limits) as server,
        FakeOperator(server.channel_url) as operator,
        worker_socket(server) as bystander,
    ):
        oversize: list[str | bytes] = [
            json.dumps({"type": "live", "data": "x" * 1000}),  # over the message limit
            # 628 characters but 1228 UTF-8 bytes
            json.dumps({"type": "live", "data": "\u00e9" * 600}, ensure_ascii=False),
            upload_frame(header, b"y" * 5001),  # a file one byte over the upload limit
            b"z" * 100_000,  # over the frame limit: websockets refuses it while reading
            json.dumps({"type": "live", "data": "x" * 100_000}),  # a text frame over the frame limit too
        ]
        for frame in oversize:
            async with worker_socket(server) as page:
                await page.send(frame)
                code, _reason = await _closed_with(page)
                assert code == 1009, frame[:40]
        within = upload_frame(header, b"y" * 5000)
        async with worker_socket(server) as page:
            await page.send(json.dumps({"type": "live", "data": "\u00e9" * 480}, ensure_ascii=False))
            await page.send(within)
            # The fake operator echoes the live message and acknowledges the upload.
            answers = {(await recv_json(page))["type"], (await recv_json(page))["type"]}
            assert answers == {"live", "upload_ack"}
        assert await _heartbeat_ok(bystander)
        assert [len(u.data) for u in operator.uploads] == [5000]
        assert operator.messages("live") == [{"type": "live", "data": "\u00e9" * 480}]


async def test_a_page_that_stops_reading_is_dropped(build_dir: Path) -> None:
    async with (
        running_router(build_dir, max_message_bytes=2**16, max_worker_buffer_bytes=2**18) as server,
        FakeOperator(server.channel_url, answer=False) as operator,
        # max_queue=1: this client stops reading its TCP socket after one unread message.
        worker_socket(server, max_queue=1) as stuck,
        worker_socket(server) as bystander,
    ):
        await operator.wait_for(lambda: len(operator.events("open")) == 2)
        conn = operator.events("open")[0]["conn"]
        big = {"conn": conn, "msg": {"type": "live", "data": "p" * 2**16}}
        try:
            # Far more than the kernel's socket buffers hold, so the router's own buffer must fill up.
            for _ in range(40):
                await operator.send(*([big] * 8))
                if operator.events("close"):
                    break
            await operator.wait_for(lambda: bool(operator.events("close")))
        finally:
            # The stuck client no longer reads, so it would never see the router hang up.
            stuck.transport.abort()
        assert operator.events("close") == [{"conn": conn, "event": "close"}]
        assert await _heartbeat_ok(bystander)


async def test_a_connection_lost_without_a_close_frame_is_not_reported_as_the_page_leaving(build_dir: Path) -> None:
    # The operator waits at the end of a run for a page that may come back (operations/run/late_answers.py);
    # only a page that closed its socket itself is known not to.
    async with running_router(build_dir) as server, FakeOperator(server.channel_url) as operator:
        async with worker_socket(server) as page:
            await operator.wait_for(lambda: bool(operator.events("open")))
            conn = operator.events("open")[0]["conn"]
            page.transport.abort()  # the network goes: no close frame
            await operator.wait_for(lambda: bool(operator.events("close")))
        assert operator.events("close") == [{"conn": conn, "event": "close"}]


@pytest.mark.parametrize(("code", "left"), [(1000, True), (1001, True), (4001, False)])
async def test_a_page_closing_to_reconnect_is_not_reported_as_leaving(build_dir: Path, code: int, left: bool) -> None:
    # mephisto-task.js closes with 4001 when it gives up on a socket and reconnects; any other close is a goodbye.
    async with running_router(build_dir) as server, FakeOperator(server.channel_url) as operator:
        async with worker_socket(server) as page:
            await operator.wait_for(lambda: bool(operator.events("open")))
            await page.close(code)
            await operator.wait_for(lambda: bool(operator.events("close")))
        assert bool(operator.events("close")[0].get("left")) is left
