"""Exports ready for analysis, through the real `mephisto export` and read back as an analyst would (pandas):
task-level inputs written once, flat review columns, multi-select answers, one aggregated row per assignment
with votes and ties, and Parquet with the CSV's columns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from export_helpers import ExportRows, export_ok, run_mephisto

from mephisto_core.data_model import Database
from mephisto_core.operations.data_browser import DataBrowser
from mephisto_core.operations.export.aggregate import aggregate_rows

#: A form definition of about 4 KB, the same on every assignment (as the form blueprint stores it).
FORM = {
    "form": {
        "title": "About you",
        "sections": [{"name": f"s{i}", "instruction": "Tell us about yourself. " * 8} for i in range(20)],
    }
}
REVIEW_COLUMNS = ["review_status", "review_feedback", "bonus_total", "reviewed_at"]


def _form_task(rows: ExportRows) -> dict[str, Any]:
    """Three assignments of one form; ada is approved with feedback and two bonuses, bob rejected, cy not
    reviewed; answers hold a multi-select list."""
    run = rows.run(rows.task("survey"))
    units = {}
    for index, (worker, languages) in enumerate((("ada", ["en", "fr"]), ("bob", ["de"]), ("cy", []))):
        assignment = rows.assignment(run, **FORM)
        units[worker] = rows.submitted(assignment, 0, worker, {"name": worker, "language": languages}, minute=index)
    rows.review(units["ada"], "approve", feedback="clear answers")
    rows.review(units["ada"], "bonus", amount="0.25")
    rows.review(units["ada"], "bonus", amount="0.50")
    rows.review(units["bob"], "reject", feedback="empty")
    return {"run": run, "units": units}


def test_form_inputs_written_once_beside_the_export_not_on_every_row(rows: ExportRows, tmp_path: Path) -> None:
    built = _form_task(rows)
    out = tmp_path / "survey.jsonl"
    result = run_mephisto("export", "--task", "survey", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert f"{out}.meta.json" in result.stderr and "--inline-inputs" in result.stderr

    lines = out.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["inputs"] for line in lines] == [None, None, None]
    assert len(out.read_bytes()) < 3 * 1000  # the form (4 KB) is on no row
    meta = json.loads((tmp_path / "survey.jsonl.meta.json").read_text(encoding="utf-8"))
    run_id = str(built["run"].id)
    assert list(meta["task_level_inputs"]) == [run_id]
    assert meta["task_level_inputs"][run_id] == {"task": "survey", "assignments": 3, "inputs": FORM}
    assert meta["rows"] == 3 and meta["format"] == "jsonl"

    inline = tmp_path / "inline.jsonl"
    assert run_mephisto("export", "--inline-inputs", "-o", str(inline)).returncode == 0
    assert all(json.loads(line)["inputs"] == FORM for line in inline.read_text(encoding="utf-8").splitlines())
    assert not (tmp_path / "inline.jsonl.meta.json").exists()
    # Standard output has no file beside it: the rows keep their inputs.
    assert all(json.loads(line)["inputs"] == FORM for line in export_ok().splitlines())


def test_distinct_inputs_stay_on_their_rows_and_no_metadata_file(sqlite_rows: ExportRows, tmp_path: Path) -> None:
    run = sqlite_rows.run(sqlite_rows.task("labels"))
    for text in ("first", "second"):
        sqlite_rows.submitted(sqlite_rows.assignment(run, text=text), 0, "ada", {"label": "cat"})
    out = tmp_path / "labels.csv"
    assert run_mephisto("export", "--format", "csv", "-o", str(out)).returncode == 0
    table = pd.read_csv(out)
    assert list(table["inputs.text"]) == ["first", "second"]
    assert not (tmp_path / "labels.csv.meta.json").exists()


def test_review_columns_and_multi_select_in_csv_jsonl_and_parquet(sqlite_rows: ExportRows, tmp_path: Path) -> None:
    _form_task(sqlite_rows)
    jsonl = [json.loads(line) for line in export_ok("--task", "survey").splitlines()]
    assert [{key: obj[key] for key in REVIEW_COLUMNS[:3]} for obj in jsonl] == [
        {"review_status": "accepted", "review_feedback": "clear answers", "bonus_total": 0.75},
        {"review_status": "rejected", "review_feedback": "empty", "bonus_total": 0.0},
        {"review_status": None, "review_feedback": None, "bonus_total": 0.0},
    ]
    assert jsonl[0]["reviewed_at"] == jsonl[0]["review"][0]["created_at"] and jsonl[2]["reviewed_at"] is None
    assert [obj["outputs"]["language"] for obj in jsonl] == [["en", "fr"], ["de"], []]  # JSON keeps the list

    csv_path, parquet_path = tmp_path / "s.csv", tmp_path / "s.parquet"
    assert run_mephisto("export", "--format", "csv", "-o", str(csv_path)).returncode == 0
    assert run_mephisto("export", "--format", "parquet", "-o", str(parquet_path)).returncode == 0
    from_csv = pd.read_csv(csv_path, keep_default_na=False)
    from_parquet = pd.read_parquet(parquet_path)
    assert list(from_csv.columns) == list(from_parquet.columns)  # the same columns, in the same order
    columns = list(from_csv.columns)
    first = columns.index("review_status")
    assert columns.index("review") < first and columns[first : first + 4] == REVIEW_COLUMNS
    assert not any(column.startswith("inputs.") for column in columns)  # the form is in the metadata file
    assert list(from_csv["outputs.language"]) == ["en|fr", "de", "[]"]  # delimited in CSV
    assert [list(v) for v in from_parquet["outputs.language"]] == [["en", "fr"], ["de"], []]  # a list in Parquet
    assert list(from_parquet["bonus_total"]) == [0.75, 0.0, 0.0]
    status = list(from_parquet["review_status"])
    assert status[:2] == ["accepted", "rejected"] and pd.isna(status[2])
    assert from_parquet["unit_id"].dtype == "int64" and list(from_csv["unit_id"]) == list(from_parquet["unit_id"])
    assert (tmp_path / "s.parquet.meta.json").is_file()


LABELS = {"A1": ["cat", "cat", "dog"], "A2": ["dog", "dog", "dog"], "A3": ["cat", "dog", "bird"], "A4": ["cat"]}


def _votes(rows: ExportRows) -> dict[str, int]:
    run = rows.run(rows.task("labels"))
    ids = {}
    for name, labels in LABELS.items():
        assignment = rows.assignment(run, item=name)
        ids[name] = assignment.id
        for index, label in enumerate(labels):
            rows.submitted(assignment, index, f"w{index}", {"label": label, "note": "free text " * 12})
    return ids


def test_aggregate_majority_one_row_per_assignment_with_votes_agreement_and_ties(
    rows: ExportRows, tmp_path: Path
) -> None:
    ids = _votes(rows)
    objects = [json.loads(line) for line in export_ok("--aggregate", "majority").splitlines()]
    assert [obj["assignment_id"] for obj in objects] == [ids[name] for name in LABELS]  # one row per item
    by_item = {obj["inputs"]["item"]: obj for obj in objects}
    assert by_item["A1"]["units"] == 3 and by_item["A1"]["method"] == "majority"
    assert by_item["A1"]["aggregate"] == {
        "label": {"answer": "cat", "votes": 2, "answers": 3, "agreement": 0.6667, "tie": False, "tied": []}
    }  # `note` is free text: not aggregated
    assert by_item["A2"]["aggregate"]["label"]["agreement"] == 1.0
    # A three-way tie is reported, not broken alphabetically.
    assert by_item["A3"]["aggregate"]["label"] == {
        "answer": None,
        "votes": 1,
        "answers": 3,
        "agreement": 0.3333,
        "tie": True,
        "tied": ["bird", "cat", "dog"],
    }
    assert by_item["A4"]["aggregate"]["label"]["answer"] == "cat"

    csv_path, parquet_path = tmp_path / "agg.csv", tmp_path / "agg.parquet"
    for fmt, path in (("csv", csv_path), ("parquet", parquet_path)):
        result = run_mephisto("export", "--aggregate", "majority", "--format", fmt, "-o", str(path))
        assert result.returncode == 0 and "Exported 4 assignments" in result.stderr, result.stderr
    from_csv = pd.read_csv(csv_path, keep_default_na=False)
    from_parquet = pd.read_parquet(parquet_path)
    assert list(from_csv.columns) == list(from_parquet.columns)
    assert list(from_csv.columns)[:5] == ["task", "task_run_id", "assignment_id", "units", "method"]
    assert list(from_parquet["aggregate.label.tie"]) == [False, False, True, False]
    answers = list(from_parquet["aggregate.label.answer"])
    assert answers[:2] == ["cat", "dog"] and pd.isna(answers[2]) and answers[3] == "cat"
    assert list(from_csv["aggregate.label.tied"]) == ["[]", "[]", "bird|cat|dog", "[]"]
    assert list(from_parquet["aggregate.label.votes"]) == [2, 3, 1, 1]


def test_aggregate_dawid_skene_gives_confidence_and_reports_ties(
    sqlite_database: Database, sqlite_rows: ExportRows
) -> None:
    ids = _votes(sqlite_rows)
    pairs = ((record, record.inputs) for record in DataBrowser(sqlite_database).units())
    by_id = {row["assignment_id"]: row["aggregate"]["label"] for row in aggregate_rows(pairs, "ds")}
    assert by_id[ids["A2"]]["answer"] == "dog" and by_id[ids["A2"]]["votes"] == 3
    assert 0.5 < by_id[ids["A2"]]["confidence"] <= 1.0 and not by_id[ids["A2"]]["tie"]
    for label in by_id.values():
        assert set(label) == {"answer", "votes", "answers", "confidence", "tie", "tied"}
        assert label["tie"] == (label["answer"] is None) == bool(label["tied"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "parquet"], "give --output FILE"),
        (["--aggregate", "majority", "--files", "copies"], "leave out --files"),
    ],
)
def test_export_usage_errors_for_parquet_and_aggregate(sqlite_rows: ExportRows, args: list[str], message: str) -> None:
    result = run_mephisto("export", *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr
