"""Upload limits and the upload sweep against a real router and operator, and a real `mephisto launch` killed -9.

The cap (uploads per unit and worker) and the run's disk quota are counted in the database, so a page cannot
reset them by reconnecting as a fresh attempt; uploads a killed process received are found and swept by the
next launch of the task, while files a submission lists (or may still list) stay.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from reliability_helpers import LaunchProcess, OperatorThread, valid_answer, wait_until, write_static_task
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from mephisto_core.data_model import Agent, AgentStatus, Database, Upload, open_database
from mephisto_core.errors import ConfigError
from mephisto_core.operations.run.client_io import MAX_UPLOADS_PER_UNIT
from mephisto_core.settings import Settings
from mephisto_core.task_config import load_task_config

IN_PROCESS_ROUTER = {"type": "local", "port": 0}
KIB = 1024


class Page:
    """One worker page on one socket: says hello, uploads, submits, and returns the operator's raw answers."""

    def __init__(self, base_url: str, worker: str, stack: ExitStack, token: str | None = None) -> None:
        url = "ws" + base_url.rstrip("/")[4:] + "/ws"
        self.ws: ClientConnection = stack.enter_context(ws_connect(url, max_size=None, open_timeout=5))
        self.worker = worker
        self.token = token
        self._next_id = 0
        self.assigned: dict[str, Any] = {}

    def hello(self) -> dict[str, Any]:
        reply = self._ask(json.dumps({"type": "hello", "params": {"worker_id": self.worker}, "token": self.token}))
        assert reply["type"] == "assigned", reply
        self.assigned, self.token = reply, reply["token"]
        return reply

    def upload(self, data: bytes, upload_id: str | None = None, *, wait: bool = True) -> dict[str, Any]:
        upload_id = upload_id or secrets.token_urlsafe(12)
        self._next_id += 1
        header = {"type": "upload", "id": self._next_id, "upload_id": upload_id, "field": "photo", "name": "p.png"}
        raw = json.dumps({**header, "content_type": "image/png"}).encode()
        self.ws.send(len(raw).to_bytes(4, "big") + raw + data)
        return self._answer(self._next_id) if wait else {"upload_id": upload_id}

    def submit(self, uploads: list[str]) -> dict[str, Any]:
        outputs = valid_answer(self.assigned["init_data"])
        message = {"type": "submit", "submit_key": secrets.token_urlsafe(12), "outputs": outputs, "uploads": uploads}
        return self._ask(json.dumps({**message, "agent_id": self.assigned["agent_id"]}))

    def _ask(self, frame_without_id: str) -> dict[str, Any]:
        self._next_id += 1
        self.ws.send(json.dumps({**json.loads(frame_without_id), "id": self._next_id}))
        return self._answer(self._next_id)

    def _answer(self, request_id: int) -> dict[str, Any]:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            reply = json.loads(self.ws.recv(timeout=deadline - time.monotonic()))
            if reply.get("id") == request_id:
                return dict(reply)
        raise AssertionError(f"no answer to request {request_id}")


def upload_folders(settings: Settings) -> set[str]:
    root = settings.data_dir / "files" / "uploads"
    return {path.name for path in root.iterdir()} if root.exists() else set()


def test_reconnecting_as_a_fresh_attempt_cannot_upload_past_the_unit_cap(
    tmp_path: Path,
    sqlite_database: Database,
    start_operator: Callable[..., OperatorThread],
    mephisto_settings: Settings,
) -> None:
    # One unit: each fresh attempt of the worker gets the same unit back.
    task = write_static_task(tmp_path / "task", 1, IN_PROCESS_ROUTER, disconnect_grace_seconds=0.5)
    server = start_operator(task, sqlite_database)
    attempts = []
    for cycle in range(3):
        with ExitStack() as stack:
            page = Page(server.worker_url, "mallory", stack)
            attempts.append(page.hello()["agent_id"])
            answers = [page.upload(b"x" * 100) for _ in range(MAX_UPLOADS_PER_UNIT + 1 if cycle == 0 else 5)]
        acked = [a for a in answers if a["type"] == "upload_ack"]
        refused = [a for a in answers if a["type"] == "error"]
        assert len(acked) == (MAX_UPLOADS_PER_UNIT if cycle == 0 else 0), answers[-1]
        assert {(a["code"], a["message"]) for a in refused} == {
            ("upload_limit", f"A unit takes at most {MAX_UPLOADS_PER_UNIT} files; this one has that many already.")
        }
        # The page is gone: wait out the grace period, so the next hello is a fresh attempt on the same unit.
        wait_until(lambda: _status(attempts[-1]) == AgentStatus.DISCONNECTED.value, 10, "the attempt's release")
    assert len(set(attempts)) == 3, "each cycle was a fresh attempt"
    assert Upload.select().count() == MAX_UPLOADS_PER_UNIT
    stored = [p for p in (mephisto_settings.data_dir / "files" / "uploads").glob("*/meta.json")]
    assert len(stored) == MAX_UPLOADS_PER_UNIT


def test_the_run_quota_refuses_a_file_that_would_pass_it_and_stores_nothing(
    tmp_path: Path,
    sqlite_database: Database,
    start_operator: Callable[..., OperatorThread],
    mephisto_settings: Settings,
) -> None:
    task = write_static_task(tmp_path / "task", 4, IN_PROCESS_ROUTER)
    server = start_operator(task, sqlite_database, ("task.max_run_upload_mb=1",))
    with ExitStack() as stack:
        alice, bob = Page(server.worker_url, "alice", stack), Page(server.worker_url, "bob", stack)
        alice.hello()
        bob.hello()
        assert alice.upload(b"a" * 400 * KIB)["type"] == "upload_ack"
        assert bob.upload(b"b" * 400 * KIB)["type"] == "upload_ack"
        before = upload_folders(mephisto_settings)
        # 1200 KiB in all would pass the run's 1 MiB, whoever sends it.
        for page in (alice, bob):
            refused = page.upload(b"c" * 400 * KIB, upload_id=f"over-quota-{page.worker}")
            assert (refused["type"], refused["code"]) == ("error", "upload_limit"), refused
            assert refused["message"].startswith("This task cannot store more files: its storage limit (1 MB)")
        assert upload_folders(mephisto_settings) == before
        assert Upload.select().where(Upload.upload_id.startswith("over-quota")).count() == 0
        # What still fits is taken.
        assert bob.upload(b"d" * 200 * KIB)["type"] == "upload_ack"


@pytest.mark.parametrize("value", ["0", "1048577", "inf", "1.5"])
def test_a_quota_out_of_bounds_is_refused_naming_the_key(tmp_path: Path, value: str) -> None:
    task = write_static_task(tmp_path / "task", 1, IN_PROCESS_ROUTER)
    with pytest.raises(ConfigError, match="max_run_upload_mb"):
        load_task_config(task, [f"task.max_run_upload_mb={value}"])


def test_uploads_a_killed_operator_received_are_swept_by_the_relaunch_and_listed_ones_kept(
    tmp_path: Path, start_launch: Callable[..., LaunchProcess], mephisto_settings: Settings
) -> None:
    task = write_static_task(tmp_path / "task", 3, IN_PROCESS_ROUTER, disconnect_grace_seconds=4)
    first = start_launch(str(task), "--no-panel")
    first.wait_for_output("Worker link:")
    base_url = _base_url(first.output())
    with ExitStack() as stack:
        alice, bob, carol = (Page(base_url, name, stack) for name in ("alice", "bob", "carol"))
        for page in (alice, bob, carol):
            page.hello()
        listed = alice.upload(b"listed")["upload_id"]
        not_listed = alice.upload(b"never listed")["upload_id"]
        assert alice.submit([listed])["type"] == "submitted"
        kept_for_bob = bob.upload(b"bob may still submit this")["upload_id"]
        abandoned = carol.upload(b"carol never comes back")["upload_id"]
        in_flight = carol.upload(b"z" * 8 * 2**20, wait=False)["upload_id"]
        first.kill()  # SIGKILL, maybe while the last upload is being written
    assert {listed, not_listed, kept_for_bob, abandoned} <= upload_folders(mephisto_settings)

    second = start_launch(str(task), "--no-panel")
    second.wait_for_output("Worker link:")
    assert "Resumed task" in second.output()
    # alice's attempt is over and her submission does not list it: swept at the resume.
    folders = upload_folders(mephisto_settings)
    assert not_listed not in folders
    assert {listed, kept_for_bob, abandoned} <= folders
    with ExitStack() as stack:
        bob_again = Page(_base_url(second.output()), "bob", stack, token=bob.token)
        bob_again.hello()
        assert bob_again.submit([kept_for_bob])["type"] == "submitted"

    database = open_database(None, mephisto_settings.sqlite_path)
    try:
        carol_agent = carol.assigned["agent_id"]
        wait_until(lambda: Agent.get_by_id(carol_agent).status != AgentStatus.IN_TASK.value, 20, "carol's release")
        second.interrupt()  # carol's unit is offered again to nobody: a graceful stop ends the run
        assert second.wait(30) == 0, second.output()
        folders = upload_folders(mephisto_settings)
        assert {listed, kept_for_bob} <= folders
        assert abandoned not in folders and in_flight not in folders
        removed = {u.upload_id for u in Upload.select().where(Upload.removed == True)}  # noqa: E712
        assert not_listed in removed and abandoned in removed
    finally:
        database.close()


def _status(agent_id: int) -> str:
    return str(Agent.get_by_id(agent_id).status)


def _base_url(output: str) -> str:
    links = re.findall(r"Worker link: (https?://[^/\s]+)", output)
    assert links, output
    return links[-1] + "/"
