"""`mephisto export --files`: copies byte for byte, safe names, paths that point at the copies; atomic writes.

The first test runs the whole flow for real: `mephisto init` (static template), `mephisto launch --simulate`
with two units per assignment (simulated workers upload a photo each), then `mephisto export`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from export_helpers import ExportRows, export_ok, run_mephisto

from mephisto_core.data_model import AgentFile, Unit, open_database
from mephisto_core.settings import Settings


def test_simulated_run_exports_with_files_copied_byte_for_byte(mephisto_settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "study"
    init = run_mephisto("init", str(folder), "--template", "static")
    assert init.returncode == 0, init.stderr
    launch = run_mephisto(
        "launch",
        str(folder / "task.toml"),
        "architect.port=0",
        "task.units_per_assignment=2",
        "--simulate",
        "3",
        "--no-panel",
    )
    assert launch.returncode == 0, launch.stdout + launch.stderr

    objects = [json.loads(line) for line in export_ok("--files", "copies", cwd=tmp_path).splitlines()]
    assert len(objects) == 8  # 4 rows of data.csv x 2 units
    assert {o["task"] for o in objects} == {"study"}  # init names the task after its folder
    database = open_database(None, mephisto_settings.sqlite_path)
    try:
        for obj in objects:
            assert obj["outputs"]["topic"] == obj["inputs"]["topic"]
            (exported,) = obj["files"]
            stored = AgentFile.get(AgentFile.agent == obj["agent_id"])
            original = (mephisto_settings.data_dir / stored.path).read_bytes()
            copy = Path(exported["path"])
            assert copy.parts[:3] == ("copies", str(obj["unit_id"]), "photo")
            assert (tmp_path / copy).read_bytes() == original
            assert exported["sha256"] == hashlib.sha256(original).hexdigest() == stored.sha256
            assert exported["size"] == len(original)
        assert Unit.select().count() == 8
    finally:
        database.close()

    table = run_mephisto("export", "--agreement")
    assert table.returncode == 0, table.stderr
    assert "topic" in table.stdout and "100.0 %" in table.stdout  # the hidden field copies the input


def test_hostile_file_names_stay_inside_the_files_dir(rows: ExportRows, tmp_path: Path) -> None:
    run = rows.run(rows.task("uploads"))
    unit = rows.submitted(rows.assignment(run, n=1), 0, "alice", {"doc": ["x"]})
    rows.file(unit, "../../doc", "../../../etc/passwd", b"first")
    rows.file(unit, "../../doc", "..\\..\\passwd", b"second")  # the same name once sanitised
    rows.file(unit, "doc", "", b"third")

    copies = tmp_path / "out" / "files"
    (obj,) = [json.loads(line) for line in export_ok("--files", str(copies)).splitlines()]
    paths = [Path(f["path"]) for f in obj["files"]]
    assert paths == [
        copies / str(unit.id) / "doc" / "passwd",
        copies / str(unit.id) / "doc" / "passwd-2",
        copies / str(unit.id) / "doc" / "file",
    ]
    assert [p.read_bytes() for p in paths] == [b"first", b"second", b"third"]
    assert sorted(p for p in (tmp_path / "out").rglob("*") if p.is_file()) == sorted(paths)


def test_failed_export_leaves_the_previous_file_untouched_and_no_temp_file(
    rows: ExportRows, mephisto_settings: Settings, tmp_path: Path
) -> None:
    run = rows.run(rows.task("uploads"))
    for n in range(3):
        unit = rows.submitted(rows.assignment(run, n=n), 0, f"w{n}", {"label": "x"})
        stored = rows.file(unit, "photo", f"{n}.png", b"png %d" % n)
    (mephisto_settings.data_dir / stored.path).unlink()  # the last unit's upload is gone from the data dir

    out_dir = tmp_path / "exports"
    out_dir.mkdir()
    target = out_dir / "export.jsonl"
    target.write_text("previous export\n")
    result = run_mephisto("export", "--files", str(tmp_path / "copies"), "--output", str(target))
    assert result.returncode == 1
    assert "is missing from the data dir" in result.stderr and "Traceback" not in result.stderr
    assert target.read_text() == "previous export\n"
    assert [p.name for p in out_dir.iterdir()] == ["export.jsonl"]

    fresh = out_dir / "fresh.jsonl"
    assert run_mephisto("export", "--files", str(tmp_path / "copies"), "--output", str(fresh)).returncode == 1
    assert not fresh.exists()
    assert [p.name for p in out_dir.iterdir()] == ["export.jsonl"]


def test_stored_path_outside_the_data_dir_is_refused(sqlite_rows: ExportRows, tmp_path: Path) -> None:
    run = sqlite_rows.run(sqlite_rows.task("uploads"))
    unit = sqlite_rows.submitted(sqlite_rows.assignment(run, n=1), 0, "alice", {})
    secret = tmp_path / "secret.txt"
    secret.write_text("not for export")
    stored = sqlite_rows.file(unit, "doc", "a.txt", b"a")
    AgentFile.update(path="../secret.txt").where(AgentFile.id == stored.id).execute()

    result = run_mephisto("export", "--files", str(tmp_path / "copies"))
    assert result.returncode == 1
    assert "points outside the data dir" in result.stderr
    assert not any(p.read_bytes() == b"not for export" for p in (tmp_path / "copies").rglob("*") if p.is_file())
