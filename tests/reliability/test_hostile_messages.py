"""Hostile worker sockets against a real router and operator: fuzzed messages of every type, upload names that
try to leave the data dir, oversized frames, and many pages that never read.

After each round the server still serves a normal simulated worker, this process's memory (router and operator
both live in it) stays bounded, and nothing wrong is stored.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reliability_helpers import OperatorThread, ProtocolPage, assert_files_inside, vm_rss_kib, write_static_task
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from mephisto_core.data_model import Agent, AgentStatus, Database, Worker
from mephisto_core.operations.run.simulate import SimulatedWorker
from mephisto_core.settings import Settings

MAX_MESSAGE_BYTES = 64 * 1024
MAX_UPLOAD_BYTES = 128 * 1024
ARCHITECT = {
    "type": "reliability_local",
    "max_message_bytes": MAX_MESSAGE_BYTES,
    "max_upload_bytes": MAX_UPLOAD_BYTES,
    "max_worker_buffer_bytes": 64 * 1024,
}
# The error codes docs/protocol.md lists as sent on the wire (`too_large` is the client library's own).
KNOWN_ERROR_CODES = {
    "bad_message",
    "not_assigned",
    "not_your_unit",
    "already_submitted",
    "invalid_submission",
    "unknown_upload",
    "unavailable",
    "gone",
    "unsupported",
    "upload_limit",
}
ANSWER_TYPES = {"assigned", "expired", "preview", "refused", "upload_ack", "submitted", "error", "heartbeat_ack"}
SENTINEL_ID = -424242
NORMAL_WORKER = "normal-worker"


@pytest.fixture
def server(tmp_path: Path, sqlite_database: Database, start_operator: Callable[..., OperatorThread]) -> OperatorThread:
    """A running task with small limits (64 KiB messages, 128 KiB uploads) so big frames are cheap to send."""
    return start_operator(write_static_task(tmp_path / "task", 400, ARCHITECT), sqlite_database)


def _socket(server: OperatorThread, stack: ExitStack) -> ClientConnection:
    url = "ws" + server.worker_url.rstrip("/")[4:] + "/ws"
    return stack.enter_context(ws_connect(url, max_size=None, open_timeout=5))


def _operator_connected(server: OperatorThread) -> bool:
    with urllib.request.urlopen(server.worker_url + "_health", timeout=5) as answer:
        return bool(json.loads(answer.read())["operator_connected"])


def assert_serves_a_simulated_worker(server: OperatorThread) -> None:
    """A normal simulated worker still gets a unit and has its submission acknowledged."""
    assert server.operator is not None and server.operator.ctx is not None
    bot = SimulatedWorker(server.worker_url, NORMAL_WORKER, server.operator.ctx.blueprint.simulate_answer, max_units=1)
    report = asyncio.run(asyncio.wait_for(bot.run(), 20))
    assert report.submitted == 1 and len(report.acknowledged_keys) == 1, report


# ---- strategies -------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
request_ids = st.integers(min_value=0, max_value=2**31) | st.sampled_from([None, True, 1.5, "7", -1, 2**70])
worker_names = st.sampled_from(["fuzz-a", "fuzz-b", "fuzz-c"]) | st.text(min_size=1, max_size=30)
# Keys and upload ids the operator accepts (8 to 64 of A-Z a-z 0-9 _ -), and anything else.
valid_keys = st.from_regex(r"\A[A-Za-z0-9_-]{8,24}\Z")
keys = valid_keys | st.text(max_size=220)
# Answers that pass the task's own check (its fields, shaped as the page makes them) and ones that do not.
valid_outputs = st.fixed_dictionaries(
    {},
    optional={
        "topic": st.text(max_size=30),
        "answer": st.text(max_size=60),
        "photo": st.lists(st.text(max_size=20), max_size=2),
    },
)
outputs = valid_outputs | st.dictionaries(st.text(max_size=10), json_values, max_size=4)
upload_names = st.sampled_from(
    ["a.txt", "../../../../escape.txt", "/etc/passwd", "..", ".", "", "a\x00b", "\\..\\x", "%2e%2e%2fx", "CON"]
) | st.text(max_size=300)


def _with_id(message: dict[str, Any], request_id: Any) -> dict[str, Any]:
    return message if request_id is None else {**message, "id": request_id}


hello_messages = st.builds(
    lambda name, token, request_id, extra: _with_id(
        {"type": "hello", "params": {"worker_id": name, **extra}, "token": token, "client_version": "fuzz"}, request_id
    ),
    worker_names,
    st.none() | st.text(max_size=200),
    request_ids,
    st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3),
)
submit_messages = st.builds(
    lambda key, out, uploads, request_id: _with_id(
        {"type": "submit", "submit_key": key, "outputs": out, "uploads": uploads}, request_id
    ),
    keys,
    outputs,
    st.lists(keys, max_size=3) | json_values,
    request_ids,
)
other_messages = (
    st.builds(lambda request_id: _with_id({"type": "heartbeat"}, request_id), request_ids)
    | st.builds(lambda data: {"type": "live", "data": data}, json_values)
    | st.dictionaries(st.sampled_from(["type", "id", "params", "outputs", "data", "submit_key"]), json_values)
)
text_frames = (
    st.one_of(hello_messages, submit_messages, other_messages).map(json.dumps)
    | st.text(max_size=200)
    | st.sampled_from(["[1]", "null", '{"type": "hello", "id": NaN}', '{"type": "submit", "id": Infinity}', "{"])
)
upload_headers = st.fixed_dictionaries(
    {"type": st.just("upload") | st.text(max_size=8)},
    optional={
        "id": request_ids,
        "upload_id": keys,
        "field": st.sampled_from(["photo", "answer", "nope"]) | st.text(max_size=20),
        "name": upload_names,
        "content_type": st.text(max_size=40),
    },
)


def upload_frame(header: dict[str, Any], body: bytes, declared_length: int | None = None) -> bytes:
    """A binary upload frame; `declared_length` overrides the true header length (a lying header)."""
    raw = json.dumps(header).encode()
    return (len(raw) if declared_length is None else declared_length).to_bytes(4, "big") + raw + body


@st.composite
def binary_frames(draw: st.DrawFn) -> bytes:
    """Upload frames with fuzzed headers, lengths that lie, truncated frames and plain noise."""
    header = draw(upload_headers)
    declared = draw(st.none() | st.integers(min_value=0, max_value=2**32 - 1))
    frame = upload_frame(header, draw(st.binary(max_size=2000)), declared)
    return draw(st.sampled_from([frame, frame[: draw(st.integers(0, 8))]]) | st.binary(max_size=64))


@st.composite
def page_sessions(draw: st.DrawFn) -> list[str | bytes]:
    """What one page sends on one socket: often hello, uploads and a submit that lists them, with noise between."""
    frames: list[str | bytes] = []
    if draw(st.integers(0, 9)):
        frames.append(json.dumps({"type": "hello", "id": 1, "params": {"worker_id": draw(worker_names)}}))
    # Fresh ids, so a session is not refused only because an earlier example used the same key (keys are
    # unique across the run and hypothesis likes to repeat its simplest strings).
    upload_ids = [f"up-{uuid.uuid4().hex[:16]}" for _ in range(draw(st.integers(0, 2)))]
    for i, upload_id in enumerate(upload_ids):
        header = {"type": "upload", "id": 100 + i, "upload_id": upload_id, "content_type": "text/plain"}
        field = draw(st.sampled_from(["photo"] * 4 + ["answer"]) | st.text(max_size=10))
        body = draw(st.binary(max_size=3000))
        frames.append(upload_frame({**header, "field": field, "name": draw(upload_names)}, body))
    frames += draw(st.lists(text_frames | binary_frames(), max_size=2))
    if draw(st.integers(0, 3)):
        listed = draw(st.lists(st.sampled_from(upload_ids), unique=True)) if upload_ids else []
        submit = {"type": "submit", "id": 200, "submit_key": f"key-{uuid.uuid4().hex}", "outputs": draw(valid_outputs)}
        unknown = draw(st.lists(keys, max_size=1)) if draw(st.integers(0, 3)) == 0 else []
        frames.append(json.dumps({**submit, "uploads": listed + unknown}))
    if not frames:
        frames.append(draw(text_frames))
    return draw(st.permutations(frames)) if draw(st.integers(0, 4)) == 0 else frames


# ---- what every round must leave behind -------------------------------------------------------------------


def _send_and_collect(ws: ClientConnection, frames: Sequence[str | bytes], lockstep: bool) -> list[dict[str, Any]]:
    """Send the frames, then a heartbeat; return one answer per frame (fewer if some never came).

    In lockstep each frame waits for an answer before the next goes, as mephisto-task.js waits for `assigned`
    and `upload_ack` before it submits; otherwise everything is sent at once.
    """
    answers: list[dict[str, Any]] = []

    def receive(until: int) -> None:
        while len(answers) < until:
            try:
                raw = ws.recv(timeout=10)
            except TimeoutError:
                return
            assert isinstance(raw, str), "the router sent a page a binary frame"
            answers.append(json.loads(raw))

    for sent, frame in enumerate(frames, start=1):
        ws.send(frame)
        if lockstep:
            receive(sent)
    ws.send(json.dumps({"type": "heartbeat", "id": SENTINEL_ID}))
    receive(len(frames) + 1)
    return answers


def _assert_nothing_wrong_stored(server: OperatorThread, sent_submits: dict[str, list[Any]], data_dir: Path) -> int:
    """Every stored answer came from a submit that carried it and passes the task's check; return how many."""
    assert server.operator is not None and server.operator.ctx is not None
    blueprint = server.operator.ctx.blueprint
    fuzzed = Agent.select().join(Worker).where(Agent.outputs.is_null(False) & (Worker.name != NORMAL_WORKER))
    for agent in fuzzed:
        assert agent.status == AgentStatus.COMPLETED, f"agent {agent.id} has outputs but is {agent.status}"
        assert agent.outputs in sent_submits.get(agent.submit_key, []), (
            f"agent {agent.id} stores outputs that no submit with key {agent.submit_key!r} carried"
        )
        assert blueprint.validate_outputs(agent.assignment.inputs, agent.outputs, []) == {}, agent.outputs
        assert {f.field for f in agent.files} <= {"photo"}, "a file was linked to a field that is not a file input"
    assert_files_inside(data_dir)
    return len(fuzzed)


def _files_outside(root: Path, data_dir: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() and not p.is_relative_to(data_dir)}


def test_fuzzed_page_messages_get_one_clear_answer_each_and_store_nothing_wrong(
    server: OperatorThread, mephisto_settings: Settings, tmp_path: Path
) -> None:
    assert_serves_a_simulated_worker(server)  # warm up: first-use allocations are not a leak
    files_before = _files_outside(tmp_path, mephisto_settings.data_dir)
    rss_before = vm_rss_kib()
    sent_submits: dict[str, list[Any]] = {}

    @settings(max_examples=150, deadline=None)
    @given(sessions=st.lists(page_sessions(), min_size=1, max_size=3), lockstep=st.booleans())
    def one_round(sessions: list[list[str | bytes]], lockstep: bool) -> None:
        with ExitStack() as stack:
            for frames in sessions:
                _note_submits(frames, sent_submits)
                answers = _send_and_collect(_socket(server, stack), frames, lockstep)
                assert len(answers) == len(frames) + 1, f"{len(frames)} frames but answers {answers}"
                for answer in answers:
                    assert answer.get("type") in ANSWER_TYPES, answer
                    if answer["type"] == "error":
                        assert answer["code"] in KNOWN_ERROR_CODES and answer["message"], answer
                        # `unavailable` tells a page to retry the same message: never right for a bad one.
                        assert answer["code"] != "unavailable", answer
        assert _operator_connected(server)
        stored.append(_assert_nothing_wrong_stored(server, sent_submits, mephisto_settings.data_dir))
        assert vm_rss_kib() - rss_before < 60_000

    stored: list[int] = []
    one_round()
    assert stored[-1] >= 5, "the fuzzer hardly ever made a valid submission; it tested refusals only"
    assert _files_outside(tmp_path, mephisto_settings.data_dir) == files_before
    assert_serves_a_simulated_worker(server)


def _note_submits(frames: list[str | bytes], sent_submits: dict[str, list[Any]]) -> None:
    for frame in frames:
        try:
            message = json.loads(frame) if isinstance(frame, str) else None
        except ValueError:
            continue  # not JSON: the router refuses it, nothing to remember
        if isinstance(message, dict) and message.get("type") == "submit":
            sent_submits.setdefault(str(message.get("submit_key")), []).append(message.get("outputs"))


def test_unpaired_surrogates_get_bad_message_not_an_endless_retry(server: OperatorThread) -> None:
    page = ProtocolPage(server.worker_url, "alice")
    assigned = page.hello()
    assert assigned["type"] == "assigned"
    with ExitStack() as stack:
        ws = _socket(server, stack)
        bad = [
            '{"type": "hello", "id": 1, "params": {"worker_id": "b\\ud800b"}, "token": null}',
            '{"type": "submit", "id": 2, "submit_key": "key\\udfffkeykey", "outputs": {}, "uploads": []}',
        ]
        answers = _send_and_collect(ws, bad, lockstep=True)
    assert [(a.get("id"), a.get("code")) for a in answers[:2]] == [(1, "bad_message"), (2, "bad_message")], answers
    assert all("surrogate" in a["message"] for a in answers[:2]), answers
    assert Worker.select().where(Worker.name.startswith("b")).count() == 0, "the bad hello reached the operator"


def test_upload_names_cannot_put_a_file_outside_the_data_dir(
    server: OperatorThread, mephisto_settings: Settings, tmp_path: Path
) -> None:
    files_before = _files_outside(tmp_path, mephisto_settings.data_dir)
    names = ["../../../../escape.txt", "/tmp/escape.txt", "..", "", "..\\..\\escape.txt", "a/../../b", "%2e%2e/x"]
    page = ProtocolPage(server.worker_url, "uploader")
    assigned = page.hello()
    assert assigned["type"] == "assigned"
    upload_ids = [page.upload("photo", name, "text/plain", b"payload %d" % i) for i, name in enumerate(names)]
    ack = page.submit({"topic": "t", "answer": "with files"}, upload_ids)
    assert ack["type"] == "submitted", ack
    assert _files_outside(tmp_path, mephisto_settings.data_dir) == files_before
    stored = Agent.get(Agent.submit_key == ack["submit_key"])
    assert len(list(stored.files)) == len(names)
    uploads_root = (mephisto_settings.data_dir / "files" / "uploads").resolve()
    for record in stored.files:
        assert (mephisto_settings.data_dir / record.path).resolve().is_relative_to(uploads_root), record.path
    assert_files_inside(mephisto_settings.data_dir)


def test_oversized_frames_close_the_socket_with_1009_and_leave_memory_bounded(server: OperatorThread) -> None:
    assert_serves_a_simulated_worker(server)
    rss_before = vm_rss_kib()
    header = {"type": "upload", "id": 1, "upload_id": "big-upload-1", "field": "photo", "name": "a"}
    oversized: list[str | bytes] = [
        json.dumps({"type": "live", "data": "x" * (MAX_MESSAGE_BYTES + 1)}),
        "é" * (MAX_MESSAGE_BYTES // 2 + 1),  # few characters, too many UTF-8 bytes
        upload_frame({**header, "content_type": "x/y"}, bytes(MAX_UPLOAD_BYTES + 1)),
    ]
    with ExitStack() as stack:
        for i in range(60):
            ws = _socket(server, stack)
            ws.send(oversized[i % len(oversized)])
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    assert vm_rss_kib() - rss_before < 60_000
    assert_serves_a_simulated_worker(server)


@pytest.fixture
def padded_server(
    tmp_path: Path, sqlite_database: Database, start_operator: Callable[..., OperatorThread]
) -> OperatorThread:
    """Like `server`, with a 200 KB task page: each `assigned` answer is big, so unread answers pile up fast."""
    return start_operator(write_static_task(tmp_path / "task", 30, ARCHITECT, page_padding=200_000), sqlite_database)


def _stuck_page(url: str, port: int, sockets: ExitStack) -> ClientConnection:
    """A page with a tiny receive window that stops reading after two frames: a stuck browser tab."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", port))
    return sockets.enter_context(
        ws_connect(url, sock=raw, max_size=None, max_queue=2, open_timeout=5, ping_interval=None, close_timeout=1)
    )


def _stuck_pages_round(server: OperatorThread, round_no: int, count: int = 10) -> tuple[int, int]:
    """Open `count` stuck pages that each ask 40 times for their big unit; return (pages dropped, RSS in KiB).

    Each answer carries the 200 KB page: 8 MB per page, more than the kernel's socket buffers hold (up to 4 MB on
    loopback) plus the 64 KiB the router allows unread. A page whose last answer still fitted stays open (its
    backlog is bounded all the same), so not every page is always dropped. Two pages ask at a time, so a round's
    memory peak stays small next to what the test measures; the RSS is read while the undropped pages are open.
    """
    url = "ws" + server.worker_url.rstrip("/")[4:] + "/ws"
    port = int(server.worker_url.rstrip("/").rsplit(":", 1)[1])
    dropped = 0
    with ExitStack() as sockets:
        pages = [_stuck_page(url, port, sockets) for _ in range(count)]
        for first in range(0, count, 2):
            group = list(enumerate(pages))[first : first + 2]
            for i, ws in group:
                hello = {"type": "hello", "params": {"worker_id": f"stuck-{round_no}-{i}"}, "token": None}
                for request_id in range(40):
                    ws.send(json.dumps({**hello, "id": request_id}))
            # Generous: on a loaded machine the operator may take seconds to answer 80 hellos; a dropped page
            # ends its wait as soon as it reads the close, so only pages left open wait this long.
            deadline = time.monotonic() + 10
            for _, ws in group:
                try:
                    while (left := deadline - time.monotonic()) > 0:
                        ws.recv(timeout=left)
                except ConnectionClosed:
                    dropped += 1
                except TimeoutError:
                    continue  # still open, its backlog under the limit
        return dropped, vm_rss_kib()


def test_many_pages_that_never_read_are_dropped_and_memory_stays_bounded(padded_server: OperatorThread) -> None:
    server = padded_server
    assert_serves_a_simulated_worker(server)
    dropped, rss_first = _stuck_pages_round(server, 0)  # also the warm-up: first-use allocations are not a leak
    more, rss_second = _stuck_pages_round(server, 1)
    assert dropped + more >= 10, "the router kept pages that never read"
    assert rss_second - rss_first < 60_000, "memory grew with the second round of stuck pages"
    assert _operator_connected(server)
    assert_serves_a_simulated_worker(server)
