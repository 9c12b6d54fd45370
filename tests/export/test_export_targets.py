"""`mephisto export -o PATH` into special files: a FIFO and a character device are written into and stay what
they are; a folder is refused and nothing is written; a regular file is still replaced atomically."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest
from export_helpers import ExportRows, run_mephisto

from mephisto_core.data_model import Database
from mephisto_core.operations.export.plan import ExportPlan, export_to_file
from mephisto_core.operations.export.targets import ExportTargetError
from mephisto_core.settings import Settings
from mephisto_core.testing.pytest_plugin import unavailable


def _two_units(rows: ExportRows) -> None:
    run = rows.run(rows.task("labels"))
    rows.submitted(rows.assignment(run, text="one"), 0, "alice", {"label": "cat"})
    rows.submitted(rows.assignment(run, text="two"), 0, "bob", {"label": "dog"})


def _out_dir(tmp_path: Path) -> Path:
    # The data dir lives in tmp_path too; the export target gets a folder of its own.
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def test_export_into_a_fifo_reaches_its_reader_and_the_fifo_stays(sqlite_rows: ExportRows, tmp_path: Path) -> None:
    _two_units(sqlite_rows)
    out_dir = _out_dir(tmp_path)
    fifo = out_dir / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    # The reader opens the pipe as `cat pipe` would; it ends when the writer closes its end.
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = run_mephisto("export", "--output", str(fifo))
    assert result.returncode == 0, result.stderr
    assert stat.S_ISFIFO(fifo.stat().st_mode), "the FIFO was replaced by a regular file"
    reader.join(timeout=30)
    assert not reader.is_alive()
    lines = received[0].decode("utf-8").splitlines()
    assert [json.loads(line)["outputs"]["label"] for line in lines] == ["cat", "dog"]
    assert sorted(p.name for p in out_dir.iterdir()) == ["pipe"]  # no temporary file left beside it


def test_export_into_a_character_device_keeps_the_device(sqlite_rows: ExportRows, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        unavailable("making a device node needs root")  # CI runs as root: there this fails instead of skipping
    _two_units(sqlite_rows)
    out_dir = _out_dir(tmp_path)
    device = out_dir / "null"
    # A stand-in /dev/null (major 1, minor 3) inside the test's own folder.
    os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    for fmt in ("jsonl", "csv"):
        result = run_mephisto("export", "--format", fmt, "--output", str(device))
        assert result.returncode == 0, result.stderr
        assert f"Exported 2 units to {device}" in result.stderr
        mode = device.stat().st_mode
        assert stat.S_ISCHR(mode) and device.stat().st_rdev == os.makedev(1, 3), "the device node was replaced"
    agreement = run_mephisto("export", "--agreement", "--format", "json", "--output", str(device))
    assert agreement.returncode == 0, agreement.stderr
    assert stat.S_ISCHR(device.stat().st_mode)
    assert sorted(p.name for p in out_dir.iterdir()) == ["null"]


def test_export_into_a_folder_is_refused_and_nothing_is_written(
    sqlite_rows: ExportRows, sqlite_database: Database, mephisto_settings: Settings, tmp_path: Path
) -> None:
    _two_units(sqlite_rows)
    folder = tmp_path / "exports"
    folder.mkdir()
    with pytest.raises(ExportTargetError, match=r"exports: it is a folder; name a file inside it"):
        export_to_file(sqlite_database, mephisto_settings.data_dir, ExportPlan(), folder)
    result = run_mephisto("export", "--output", str(folder))
    assert result.returncode == 2 and "is a folder" in result.stderr and "Traceback" not in result.stderr
    agreement = run_mephisto("export", "--agreement", "--format", "json", "--output", str(folder))
    assert agreement.returncode == 1 and "it is a folder" in agreement.stderr
    assert "Traceback" not in agreement.stderr
    assert list(folder.iterdir()) == []


def test_a_regular_file_is_still_replaced_atomically(
    sqlite_rows: ExportRows, sqlite_database: Database, mephisto_settings: Settings, tmp_path: Path
) -> None:
    _two_units(sqlite_rows)
    out_dir = _out_dir(tmp_path)
    target = out_dir / "out.jsonl"
    target.write_text("old\n")
    inode_before = target.stat().st_ino
    result = export_to_file(sqlite_database, mephisto_settings.data_dir, ExportPlan(), target)
    assert result.units == 2
    assert target.stat().st_ino != inode_before  # a new file renamed over the old one, not written in place
    assert len(target.read_text().splitlines()) == 2
    assert sorted(p.name for p in out_dir.iterdir()) == ["out.jsonl"]
