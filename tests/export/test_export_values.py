"""What values look like in an export: integers past 2**53 keep every digit in JSONL, JSON and CSV; a stored
non-finite number (from before the router refused them) stops the export with the unit named; CSV text cells
that a spreadsheet would run as formulas are neutralised unless `--csv-raw-formulas` is given."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

from export_helpers import ExportRows, export_ok, run_mephisto

from mephisto_core.settings import Settings

BIG = int("1234567890" * 400)  # 4000 digits
NEGATIVE_BIG = -(2**53 + 1)  # the first integer a JavaScript number cannot hold


def test_big_integers_keep_every_digit_in_every_format(rows: ExportRows) -> None:
    run = rows.run(rows.task("labels"))
    rows.submitted(rows.assignment(run, id=2**64), 0, "alice", {"big": BIG, "list": [NEGATIVE_BIG], "small": 3})
    (line,) = export_ok().splitlines()
    assert str(BIG) in line and f"[{NEGATIVE_BIG}]" in line and str(2**64) in line
    (obj,) = [json.loads(line)]
    assert obj["outputs"] == {"big": BIG, "list": [NEGATIVE_BIG], "small": 3} and obj["inputs"] == {"id": 2**64}
    (as_json,) = json.loads(export_ok("--format", "json"))
    assert as_json["outputs"]["big"] == BIG
    header, row = csv.reader(io.StringIO(export_ok("--format", "csv")))
    cells = dict(zip(header, row, strict=True))
    assert cells["outputs.big"] == str(BIG)
    assert cells["outputs.list"] == str(NEGATIVE_BIG)  # a one-value multi-select list; a number: left alone
    assert cells["inputs.id"] == str(2**64)


def test_a_stored_infinity_stops_the_export_naming_the_unit(
    sqlite_rows: ExportRows, mephisto_settings: Settings
) -> None:
    run = sqlite_rows.run(sqlite_rows.task("labels"))
    unit = sqlite_rows.submitted(sqlite_rows.assignment(run, text="one"), 0, "alice", {"score": 1})
    # What an older version stored for `1e999`; written straight into the file as it was then.
    with sqlite3.connect(mephisto_settings.data_dir / "mephisto.db") as connection:
        connection.execute("UPDATE agent SET outputs = ? WHERE id = ?", ('{"score":Infinity}', unit.agent_id))
    for fmt in ("jsonl", "json", "csv"):
        result = run_mephisto("export", "--format", fmt)
        assert result.returncode == 1, (fmt, result.stdout, result.stderr)
        assert f"unit {unit.id} holds a number that is not finite" in result.stderr, result.stderr
        assert "Infinity" not in result.stdout and "Traceback" not in result.stderr


FORMULAS = {
    "equals": '=HYPERLINK("http://evil.example","click")',
    "plus": "+1+cmd|' /C calc'!A0",
    "minus": "-2+3",
    "at": "@SUM(A1:A2)",
    "tab": "\t=1+1",
    "cr": "\r=1+1",
}
HARMLESS = {"text": "a = b", "quote": "'already", "number": -3, "float": -0.5, "list": ["=x"], "empty": ""}


def _csv_cells(path: Path, *args: str) -> dict[str, str]:
    # Through a file read with newline="": a captured pipe in text mode would turn the CR cell into LF.
    result = run_mephisto("export", "--format", "csv", "--output", str(path), *args)
    assert result.returncode == 0, result.stderr
    with path.open(newline="", encoding="utf-8") as fh:
        header, row = csv.reader(fh)
    return dict(zip(header, row, strict=True))


def test_csv_neutralises_formula_cells_by_default_and_raw_on_request(sqlite_rows: ExportRows, tmp_path: Path) -> None:
    run = sqlite_rows.run(sqlite_rows.task("labels"))
    sqlite_rows.submitted(sqlite_rows.assignment(run, text="=1+2"), 0, "=evil-worker", {**FORMULAS, **HARMLESS})
    cells = _csv_cells(tmp_path / "safe.csv")
    for key, value in FORMULAS.items():
        assert cells[f"outputs.{key}"] == "'" + value, key
    assert cells["inputs.text"] == "'=1+2"
    assert cells["worker_id"] == "'=evil-worker"  # worker ids come from workers too
    assert cells["outputs.text"] == "a = b" and cells["outputs.quote"] == "'already"
    assert cells["outputs.number"] == "-3" and cells["outputs.float"] == "-0.5"  # numbers stay numbers
    assert cells["outputs.list"] == "'=x" and cells["outputs.empty"] == ""  # a multi-select's text is text too
    raw = _csv_cells(tmp_path / "raw.csv", "--csv-raw-formulas")
    assert {key: raw[f"outputs.{key}"] for key in FORMULAS} == FORMULAS
    assert raw["worker_id"] == "=evil-worker" and raw["inputs.text"] == "=1+2"
    # JSON and JSONL carry values, not spreadsheet cells: never changed.
    (obj,) = [json.loads(line) for line in export_ok().splitlines()]
    assert obj["outputs"]["equals"] == FORMULAS["equals"] and obj["worker_id"] == "=evil-worker"
