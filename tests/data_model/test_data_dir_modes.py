"""The data dir is its owner's alone: folders 0700, the database (and SQLite's files beside it) and uploads 0600.

Every test runs with the common umask 022, under which Python and SQLite create 0755 folders and 0644 files.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mephisto_core.abstractions import ActionLedger
from mephisto_core.cli.context import open_settings_database
from mephisto_core.data_model import Requester
from mephisto_core.operations.run.uploads import UploadStore
from mephisto_core.settings import Settings, store_requester_credentials

NOTICE = "was open to other users"


@pytest.fixture(autouse=True)
def umask_022() -> Iterator[None]:
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def mode(path: Path) -> str:
    return oct(stat.S_IMODE(path.stat().st_mode))


def run_requesters() -> subprocess.CompletedProcess[str]:
    """`mephisto requesters` in a real process (it opens the database, so it secures the data dir)."""
    return subprocess.run(
        [sys.executable, "-m", "mephisto_core.cli", "requesters"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_new_data_dir_is_0700_and_its_database_files_0600(mephisto_settings: Settings) -> None:
    database = open_settings_database(mephisto_settings)
    try:
        with database.write():
            Requester.create(name="lab", provider_type="mock")
        data_dir = mephisto_settings.data_dir
        db = mephisto_settings.sqlite_path
        # While the connection is open SQLite keeps the -wal and -shm files, made with the database's mode.
        wal, shm = Path(f"{db}-wal"), Path(f"{db}-shm")
        assert wal.exists() and shm.exists()
        assert {p.name: mode(p) for p in (db, wal, shm)} == {p.name: "0o600" for p in (db, wal, shm)}
        assert mode(data_dir) == "0o700"
        for name in ("files", "runs", "providers"):
            assert mode(data_dir / name) == "0o700", name
    finally:
        database.close()


def test_uploads_are_0600_files_in_0700_folders(mephisto_settings: Settings) -> None:
    database = open_settings_database(mephisto_settings)
    database.close()
    store = UploadStore(mephisto_settings.data_dir)

    stored = store.save("upload-0001", 7, "photo", "../me.jpg", "image/jpeg", b"private bytes")

    data_dir = mephisto_settings.data_dir
    file = data_dir / stored.path
    assert file.read_bytes() == b"private bytes"
    assert mode(file) == "0o600"
    assert mode(store.folder("upload-0001") / "meta.json") == "0o600"
    for folder in (file.parent, store.folder("upload-0001"), store.root, store.root.parent):
        assert mode(folder) == "0o700", folder


def test_upload_left_half_written_with_an_open_mode_is_rewritten_0600(mephisto_settings: Settings) -> None:
    store = UploadStore(mephisto_settings.data_dir)
    target_dir = store.folder("upload-0002") / "file"
    target_dir.mkdir(parents=True)
    stale = target_dir / "a.txt.part"  # what a process killed mid-write leaves
    stale.write_bytes(b"old")
    os.chmod(stale, 0o644)

    stored = store.save("upload-0002", 7, "doc", "a.txt", "text/plain", b"new")

    assert mode(mephisto_settings.data_dir / stored.path) == "0o600"


def test_existing_open_data_dir_is_made_private_and_reported_once(mephisto_settings: Settings) -> None:
    data_dir = mephisto_settings.data_dir
    data_dir.mkdir(mode=0o755)
    (data_dir / "files").mkdir(mode=0o755)
    # A database an older version left: 0644, with its -wal and -shm files (held open here, so they stay).
    older = sqlite3.connect(mephisto_settings.sqlite_path)
    try:
        older.execute("PRAGMA journal_mode=wal")
        older.execute("CREATE TABLE leftover (x)")
        older.execute("INSERT INTO leftover VALUES (1)")
        older.commit()
        db = mephisto_settings.sqlite_path
        wal, shm = Path(f"{db}-wal"), Path(f"{db}-shm")
        assert [mode(p) for p in (data_dir, db, wal, shm)] == ["0o755", "0o644", "0o644", "0o644"]

        first = run_requesters()
        second = run_requesters()
    finally:
        older.close()

    assert first.returncode == 0, first.stderr
    notices = [line for line in first.stderr.splitlines() if NOTICE in line]
    assert len(notices) == 1, first.stderr
    assert str(data_dir) in notices[0] and "mephisto-data 0755" in notices[0] and "mephisto.db 0644" in notices[0]
    assert mode(data_dir) == "0o700"
    assert mode(data_dir / "files") == "0o700"
    assert mode(db) == "0o600"
    assert second.returncode == 0, second.stderr
    assert NOTICE not in second.stderr


def test_data_dir_that_is_a_file_is_a_clear_error(mephisto_settings: Settings) -> None:
    mephisto_settings.data_dir.write_text("not a folder")

    result = run_requesters()

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"cannot create or open the data dir {mephisto_settings.data_dir}" in result.stderr


def test_user_config_is_0600_in_a_0700_folder_even_over_an_open_leftover(mephisto_settings: Settings) -> None:
    config = mephisto_settings.config_file
    store_requester_credentials(config, "lab", "mock", {})
    leftover = config.with_suffix(".tmp")  # an interrupted earlier write, made by hand with an open mode
    leftover.write_text("")
    os.chmod(leftover, 0o644)
    os.chmod(config, 0o644)

    store_requester_credentials(config, "lab", "mock", {"api_key": "k"})

    assert mode(config) == "0o600"
    assert mode(config.parent) == "0o700"
    assert not leftover.exists()


def test_provider_ledger_is_0600_in_0700_folders(mephisto_settings: Settings) -> None:
    path = mephisto_settings.data_dir / "providers" / "mock" / "ledger.jsonl"

    ActionLedger(path, "mock").append("bonus", worker_name="alice", amount="1.50")

    assert mode(path) == "0o600"
    assert mode(path.parent) == "0o700"
    assert mode(path.parent.parent) == "0o700"
