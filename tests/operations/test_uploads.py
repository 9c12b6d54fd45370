"""UploadStore on a real file system: a failed save leaves nothing behind, and overlapping saves of one id agree."""

from __future__ import annotations

import errno
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mephisto_core.operations.run import uploads as uploads_module
from mephisto_core.operations.run.uploads import UploadStore


def files_under(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def test_an_io_error_while_writing_the_file_leaves_no_part_file_and_no_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = UploadStore(tmp_path)

    def failing_fsync(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(uploads_module.os, "fsync", failing_fsync)
    with pytest.raises(OSError) as failure:
        store.save("upload-0001", 1, "doc", "note.txt", "text/plain", b"hello")
    assert failure.value.errno == errno.EIO
    assert files_under(tmp_path / "files" / "uploads") == []
    assert store.load("upload-0001") is None


def test_a_failure_after_meta_json_was_written_removes_it_with_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = UploadStore(tmp_path)
    real_fsync_dir = uploads_module._fsync_dir

    def failing_fsync_dir(path: Path) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(uploads_module, "_fsync_dir", failing_fsync_dir)
    with pytest.raises(OSError):
        store.save("upload-0001", 1, "doc", "note.txt", "text/plain", b"hello")
    assert files_under(tmp_path / "files" / "uploads") == []

    monkeypatch.setattr(uploads_module, "_fsync_dir", real_fsync_dir)
    stored = store.save("upload-0001", 1, "doc", "note.txt", "text/plain", b"hello")
    assert (tmp_path / stored.path).read_bytes() == b"hello"
    assert store.load("upload-0001") == stored


def test_overlapping_saves_of_one_upload_id_store_it_once(tmp_path: Path) -> None:
    store = UploadStore(tmp_path)
    data = os.urandom(2_000_000)
    with ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(lambda _: store.save("upload-0001", 1, "doc", "big.bin", "application/x", data), range(8))
        )
    assert all(result == results[0] for result in results)
    assert files_under(tmp_path / "files" / "uploads") == [
        "upload-0001",
        "upload-0001/file",
        "upload-0001/file/big.bin",
        "upload-0001/meta.json",
    ]
    assert (tmp_path / results[0].path).read_bytes() == data


def test_an_upload_id_of_another_agent_is_refused(tmp_path: Path) -> None:
    store = UploadStore(tmp_path)
    store.save("upload-0001", 1, "doc", "note.txt", "text/plain", b"hello")
    with pytest.raises(ValueError, match="another worker"):
        store.save("upload-0001", 2, "doc", "note.txt", "text/plain", b"other")
