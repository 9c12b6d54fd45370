"""The operator's data dir (database and uploads) on a tiny file system that fills up mid-run.

The data dir is a 2 MB tmpfs mounted for the test (root only; skipped elsewhere unless CI=true, where it fails).
A filler file takes the free space; uploads and submits must then fail with a clear error and leave nothing
half-written linked in the database, and once the filler is gone the retried upload and submit land once.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from reliability_helpers import (
    OperatorThread,
    ProtocolPage,
    assert_acknowledged_stored_once,
    assert_files_inside,
    valid_answer,
    write_static_task,
)
from websockets.sync.client import connect as ws_connect

from mephisto_core.data_model import Agent, AgentFile, AgentStatus, Database, Unit, UnitStatus, open_database
from mephisto_core.settings import Settings
from mephisto_core.testing.pytest_plugin import unavailable

TINY_FS_SIZE = "2m"


@pytest.fixture
def tiny_data_dir(mephisto_settings: Settings) -> Iterator[Path]:
    """The settings' data dir, mounted as a 2 MB tmpfs for the test."""
    data_dir = mephisto_settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TINY_FS_SIZE}", "tmpfs", str(data_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        unavailable(f"cannot mount a tmpfs for the disk-full test (needs root): {mounted.stderr.strip()}")
    try:
        yield data_dir
    finally:
        subprocess.run(["umount", "-l", str(data_dir)], check=True)


@pytest.fixture
def tiny_database(tiny_data_dir: Path, mephisto_settings: Settings) -> Iterator[Database]:
    """The settings' SQLite database, on the tiny file system."""
    database = open_database(None, mephisto_settings.sqlite_path)
    yield database
    database.close()


def fill(path: Path) -> int:
    """Write zeros to `path` until the file system is full; return how many bytes fitted."""
    written = 0
    with path.open("wb", buffering=0) as fh:  # unbuffered: each write meets ENOSPC itself, close has nothing left
        # Big chunks first, then smaller ones: not a byte may be left over for the operator.
        for size in (64 * 1024, 4096, 512, 1):
            try:
                while True:
                    written += fh.write(bytes(size))
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    return written


def _upload_frame(request_id: int, upload_id: str, data: bytes) -> bytes:
    header = {"type": "upload", "id": request_id, "upload_id": upload_id, "field": "photo", "name": "photo.bin"}
    raw = json.dumps({**header, "content_type": "application/octet-stream"}).encode()
    return len(raw).to_bytes(4, "big") + raw + data


@pytest.fixture
def filler(mephisto_settings: Settings) -> Iterator[Path]:
    """Where the file that fills the disk goes; removed after the test, before the operator stops."""
    path = mephisto_settings.data_dir / "filler.bin"
    yield path
    path.unlink(missing_ok=True)


@pytest.fixture
def full_disk_run(
    tmp_path: Path,
    tiny_database: Database,
    start_operator: Callable[..., OperatorThread],
    filler: Path,
) -> OperatorThread:
    """A running task whose data dir is the tiny file system (not full yet)."""
    operator: OperatorThread = start_operator(
        write_static_task(tmp_path / "task", 2, {"type": "reliability_local"}), tiny_database
    )
    time.sleep(0.2)  # the first tick runs right after start-up
    return operator


def _ask_on_a_full_disk(
    operator: OperatorThread, database: Database, token: str, filler: Path, frame: str | bytes
) -> dict[str, Any]:
    """Say hello with `token` on a fresh socket, fill the disk, send `frame` once and return its answer."""
    with ws_connect("ws" + operator.worker_url.rstrip("/")[4:] + "/ws", open_timeout=5) as ws:
        ws.send(json.dumps({"type": "hello", "id": 1, "params": {"worker_id": "alice"}, "token": token}))
        assert json.loads(ws.recv(timeout=10))["type"] == "assigned"
        # Once the whole log is copied into the database file (the operator's checkpointer does it within 50 ms),
        # SQLite writes the next commits over the log's old space: such a commit needs no free disk. Emptied to
        # zero bytes, the log needs new space for the next commit, as a busy database's log does whenever it grows.
        database.db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        assert fill(filler) > 0
        ws.send(frame)
        return dict(json.loads(ws.recv(timeout=3)))


def test_submit_on_a_full_disk_gets_unavailable_and_lands_once_space_is_freed(
    full_disk_run: OperatorThread, tiny_database: Database, filler: Path
) -> None:
    page = ProtocolPage(full_disk_run.worker_url, "alice", deadline=20)
    assigned = page.hello()
    assert assigned["type"] == "assigned"
    outputs = valid_answer(assigned["init_data"])
    key = "full-disk-key-1"
    submit = {"type": "submit", "id": 2, "submit_key": key, "outputs": outputs, "uploads": []}

    answer = _ask_on_a_full_disk(full_disk_run, tiny_database, assigned["token"], filler, json.dumps(submit))
    assert answer["type"] == "error" and answer["code"] == "unavailable" and answer["message"], answer
    agent = Agent.get_by_id(assigned["agent_id"])
    assert (agent.status, agent.submit_key, agent.outputs) == (AgentStatus.IN_TASK, None, None)
    assert Unit.get_by_id(assigned["unit_id"]).status == UnitStatus.ASSIGNED

    filler.unlink()
    retried = page.submit(outputs, key=key)
    assert retried["type"] == "submitted" and retried["submit_key"] == key, retried
    assert assert_acknowledged_stored_once([key]) == [key]
    assert Agent.get_by_id(assigned["agent_id"]).outputs == outputs
    assert Unit.get_by_id(assigned["unit_id"]).status == UnitStatus.COMPLETED


def test_upload_on_a_full_disk_gets_a_clear_error_and_lands_once_space_is_freed(
    full_disk_run: OperatorThread, tiny_database: Database, mephisto_settings: Settings, filler: Path
) -> None:
    page = ProtocolPage(full_disk_run.worker_url, "alice", deadline=20)
    assigned = page.hello()
    assert assigned["type"] == "assigned"
    photo = os.urandom(100_000)

    answer = _ask_on_a_full_disk(
        full_disk_run, tiny_database, assigned["token"], filler, _upload_frame(2, "full-disk-up", photo)
    )
    assert (answer["type"], answer["id"], answer["code"]) == ("error", 2, "unavailable") and answer["message"], answer
    assert list((mephisto_settings.data_dir / "files").rglob("*.part")) == [], "a half-written upload was left"
    assert not (mephisto_settings.data_dir / "files" / "uploads" / "full-disk-up").exists(), (
        "the failed upload left files"
    )

    filler.unlink()
    upload_id = page.upload("photo", "photo.bin", "application/octet-stream", photo)
    ack = page.submit(valid_answer(assigned["init_data"]), [upload_id])
    assert ack["type"] == "submitted"
    [stored] = AgentFile.select()
    assert (mephisto_settings.data_dir / stored.path).read_bytes() == photo
    assert_files_inside(mephisto_settings.data_dir)
