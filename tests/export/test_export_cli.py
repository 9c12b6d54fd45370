"""`mephisto export` as a real process: JSONL, CSV and JSON read back, filters, output files and errors."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from export_helpers import ExportRows, export_ok, run_mephisto

from mephisto_core.data_model import Unit

TRICKY = 'She said "hi, there"\nand left'  # a comma, a quote and a newline in one value


def _sample(rows: ExportRows) -> dict[str, Unit]:
    run = rows.run(rows.task("labels"))
    first = rows.assignment(run, text="one", lang="en")
    second = rows.assignment(run, text="two", source="web")
    return {
        "a": rows.submitted(first, 0, "alice", {"label": "cat", "note": TRICKY, "tags": ["x", "y"], "sure": True}),
        "b": rows.submitted(first, 1, "bob", {"label": "dog", "extra": 3}, status="accepted", minute=60 * 24),
        "c": rows.submitted(second, 0, "alice", {"label": "cat", "nested": {"k": "v"}}, minute=60 * 48),
        "open": rows.open_unit(second, 1),
    }


def test_jsonl_is_the_default_with_one_object_per_submitted_unit(rows: ExportRows) -> None:
    units = _sample(rows)
    rows.review(units["b"], "approve", feedback="fine")
    lines = export_ok().splitlines()
    objects = [json.loads(line) for line in lines]
    assert [o["unit_id"] for o in objects] == [units["a"].id, units["b"].id, units["c"].id]
    first = objects[0]
    assert list(first) == [
        "task",
        "task_run_id",
        "assignment_id",
        "unit_id",
        "unit_index",
        "worker_id",
        "agent_id",
        "status",
        "inputs",
        "outputs",
        "files",
        "started_at",
        "submitted_at",
        "duration_s",
        "review",
        "procedure_calls",
        "review_status",
        "review_feedback",
        "bonus_total",
        "reviewed_at",
    ]
    assert first["outputs"]["note"] == TRICKY and first["outputs"]["tags"] == ["x", "y"]
    assert (first["worker_id"], first["status"], first["duration_s"]) == ("alice", "completed", 30.0)
    assert first["submitted_at"] == "2024-05-01T12:00:00+00:00" and first["review"] == []
    assert objects[1]["review"][0]["kind"] == "approve" and objects[1]["review"][0]["feedback"] == "fine"


def test_json_is_one_array_of_the_same_objects(rows: ExportRows) -> None:
    _sample(rows)
    as_array = json.loads(export_ok("--format", "json"))
    as_lines = [json.loads(line) for line in export_ok().splitlines()]
    assert as_array == as_lines and len(as_array) == 3
    assert json.loads(export_ok("--format", "json", "--status", "expired")) == []


def test_csv_reads_back_with_fixed_then_first_seen_columns(sqlite_rows: ExportRows) -> None:
    units = _sample(sqlite_rows)
    table = list(csv.reader(io.StringIO(export_ok("--format", "csv"), newline="")))
    header, body = table[0], table[1:]
    assert header == [
        "task",
        "task_run_id",
        "assignment_id",
        "unit_id",
        "unit_index",
        "worker_id",
        "agent_id",
        "status",
        "files",
        "started_at",
        "submitted_at",
        "duration_s",
        "review",
        "procedure_calls",
        "review_status",
        "review_feedback",
        "bonus_total",
        "reviewed_at",
        "inputs.text",
        "inputs.lang",
        "inputs.source",
        "outputs.label",
        "outputs.note",
        "outputs.tags",
        "outputs.sure",
        "outputs.extra",
        "outputs.nested.k",
    ]
    assert len(body) == 3
    rows_by_unit = [dict(zip(header, row, strict=True)) for row in body]
    a, b, c = rows_by_unit
    assert a["unit_id"] == str(units["a"].id) and a["worker_id"] == "alice"
    assert a["outputs.note"] == TRICKY  # the comma, quote and newline survive quoting
    assert a["outputs.tags"] == "x|y" and a["outputs.sure"] == "true"
    assert a["outputs.extra"] == "" and b["outputs.extra"] == "3"
    assert c["outputs.nested.k"] == "v" and c["inputs.source"] == "web" and c["inputs.lang"] == ""
    assert json.loads(a["files"]) == [] and json.loads(a["review"]) == []


def test_status_and_worker_filters_on_the_command_line(rows: ExportRows) -> None:
    units = _sample(rows)

    def unit_ids(*args: str) -> list[int]:
        return [json.loads(line)["unit_id"] for line in export_ok(*args).splitlines()]

    assert unit_ids("--status", "accepted") == [units["b"].id]
    assert unit_ids("--status", "launched,accepted") == [units["b"].id, units["open"].id]
    assert unit_ids("--status", "completed", "--status", "launched") == [units["a"].id, units["c"].id, units["open"].id]
    assert unit_ids("--worker", "alice", "--since", "2024-05-02") == [units["c"].id]
    assert unit_ids("--task", "labels", "--until", "2024-05-01") == [units["a"].id]
    assert unit_ids("--run", str(units["a"].task_run_id), "--worker", "bob") == [units["b"].id]


def test_output_file_is_written_and_reported(sqlite_rows: ExportRows, tmp_path: Path) -> None:
    _sample(sqlite_rows)
    out_dir = tmp_path / "exports"
    out_dir.mkdir()
    target = out_dir / "out.csv"
    result = run_mephisto("export", "--format", "csv", "--output", str(target))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert f"Exported 3 units to {target}" in result.stderr
    assert len(list(csv.reader(target.open(newline="", encoding="utf-8")))) == 4
    assert [p.name for p in out_dir.iterdir()] == ["out.csv"]  # no temporary file left beside it


def test_bad_filters_fail_with_a_message_and_no_output(sqlite_rows: ExportRows, tmp_path: Path) -> None:
    _sample(sqlite_rows)
    target = tmp_path / "never.jsonl"
    cases: list[tuple[list[str], str]] = [
        (["--task", "lables"], "task 'lables': there is no task with that name (known tasks: 'labels')"),
        (["--since", "yesterday"], "since 'yesterday' is not an ISO date"),
        (["--status", "finished"], "status 'finished' is not a unit status"),
        (["--worker", "zed"], "worker 'zed': no worker with that provider id"),
    ]
    for args, message in cases:
        result = run_mephisto("export", *args, "--output", str(target))
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr
    assert not target.exists()
    folder = run_mephisto("export", "--output", str(tmp_path))
    assert folder.returncode == 2 and "is a folder" in folder.stderr


def test_unicode_values_are_written_as_utf8(sqlite_rows: ExportRows) -> None:
    run = sqlite_rows.run(sqlite_rows.task("labels"))
    sqlite_rows.submitted(sqlite_rows.assignment(run, text="Grüße"), 0, "ålice", {"label": "猫"})
    (obj,) = [json.loads(line) for line in export_ok().splitlines()]
    expected: dict[str, Any] = {"worker_id": "ålice", "outputs": {"label": "猫"}, "inputs": {"text": "Grüße"}}
    assert {k: obj[k] for k in expected} == expected
