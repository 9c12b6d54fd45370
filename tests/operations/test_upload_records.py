"""The upload records on SQLite and PostgreSQL: the unit cap and run quota they enforce, and what the sweep picks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mephisto_core.data_model import AgentStatus, Database, Upload
from mephisto_core.operations.run import upload_sweep
from mephisto_core.operations.run.replies import Assigned, Submitted
from mephisto_core.operations.run.upload_limits import UploadLimitReached, forget_upload, reserve_upload
from mephisto_core.operations.run.worker_pool import WorkerPool

pytestmark = pytest.mark.usefixtures("test_types")


def assigned(pool: WorkerPool, database: Database, worker: str) -> int:
    with database.write():
        answer = pool.register({"worker_id": worker}, None)
    assert isinstance(answer, Assigned), answer
    return answer.agent_id


def store(pool: WorkerPool, database: Database, agent_id: int, upload_id: str, data: bytes, cap: int = 100) -> None:
    """What ClientIOHandler does for one upload: record it within the limits, then write the file."""
    path = pool.uploads.relative_path(upload_id, "f.txt")
    with database.write():
        reserve_upload(agent_id, upload_id, path, len(data), cap, 1)
    pool.uploads.save(upload_id, agent_id, "doc", "f.txt", "text/plain", data)


def test_the_cap_counts_every_attempt_of_a_worker_on_a_unit_and_swept_files_too(
    make_pool: Callable[..., Any], database: Database
) -> None:
    pool = make_pool(rows=1)
    first = assigned(pool, database, "mallory")
    store(pool, database, first, "upload-0001", b"a", cap=2)
    store(pool, database, first, "upload-0002", b"b", cap=2)
    with database.write():
        assert reserve_upload(first, "upload-0002", "ignored", 1, 2, 1) is False  # a resend counts once
        pool.release_agent(first, AgentStatus.DISCONNECTED)
        assert upload_sweep.unlisted_uploads(pool.ctx.run.id) == ["upload-0001", "upload-0002"]
    assert upload_sweep.remove_uploads(pool.uploads, ["upload-0001", "upload-0002"]) == ["upload-0001", "upload-0002"]
    with database.write():
        upload_sweep.mark_removed(["upload-0001", "upload-0002"])

    second = assigned(pool, database, "mallory")  # a fresh attempt on the same (only) unit
    assert second != first
    with database.write(), pytest.raises(UploadLimitReached, match="at most 2 files"):
        reserve_upload(second, "upload-0003", "files/uploads/upload-0003/file/f.txt", 1, 2, 1)
    assert Upload.select().count() == 2


def test_the_quota_counts_the_run_s_files_still_on_disk(make_pool: Callable[..., Any], database: Database) -> None:
    pool = make_pool(rows=2)
    alice, bob = assigned(pool, database, "alice"), assigned(pool, database, "bob")
    half = b"x" * 2**19
    store(pool, database, alice, "upload-0001", half)
    store(pool, database, bob, "upload-0002", half)
    with database.write(), pytest.raises(UploadLimitReached, match=r"storage limit \(1 MB\)"):
        reserve_upload(bob, "upload-0003", "files/uploads/upload-0003/file/f.txt", 1, 100, 1)
    with database.write():
        upload_sweep.mark_removed(["upload-0001"])  # swept: its bytes are free again
        assert reserve_upload(bob, "upload-0003", "files/uploads/upload-0003/file/f.txt", 1, 100, 1) is True
        forget_upload("upload-0003")  # a file that could not be written counts for nothing
        assert Upload.get_or_none(Upload.upload_id == "upload-0003") is None


def test_the_sweep_keeps_listed_uploads_and_those_of_attempts_in_task(
    make_pool: Callable[..., Any], database: Database
) -> None:
    pool = make_pool(rows=3)
    alice, bob = assigned(pool, database, "alice"), assigned(pool, database, "bob")
    store(pool, database, alice, "listed-0001", b"kept")
    store(pool, database, alice, "unlisted-01", b"dropped")
    store(pool, database, bob, "in-task-001", b"bob may still submit it")
    with database.write():
        result = pool.submit(alice, False, "alice-submit-key", {"answer": "x"}, ["listed-0001"])
    assert isinstance(result, Submitted), result
    with database.write():
        assert upload_sweep.unlisted_uploads(pool.ctx.run.id) == ["unlisted-01"]
