"""Data files: CSV, JSON and JSON Lines rows, and an error that points at the problem for every bad input."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError
from static_support import MakeBlueprint

from mephisto_core.errors import ConfigError


def test_csv_rows_become_assignments_in_order(make_blueprint: MakeBlueprint) -> None:
    blueprint = make_blueprint(
        files={"data.csv": '\ufefftext,n\n"hello, world",1\n\n"two\nlines",2\n'},
        data_csv="data.csv",
    )
    blueprint.check()
    assert list(blueprint.iter_assignments()) == [
        {"text": "hello, world", "n": "1"},
        {"text": "two\nlines", "n": "2"},
    ]
    assert blueprint.count_assignments() == 2


def test_json_list_of_objects(make_blueprint: MakeBlueprint) -> None:
    blueprint = make_blueprint(files={"d.json": '[{"text": "a", "n": 1}, {"text": null}]'}, data_json="d.json")
    blueprint.check()
    assert list(blueprint.iter_assignments()) == [{"text": "a", "n": 1}, {"text": None}]


def test_jsonl_one_object_per_line_skipping_blank_lines(make_blueprint: MakeBlueprint) -> None:
    text = '{"text": "a"}\n\n{"text": "b\\u2028c"}\r\n'
    blueprint = make_blueprint(files={"d.jsonl": text}, data_jsonl="d.jsonl")
    blueprint.check()
    assert list(blueprint.iter_assignments()) == [{"text": "a"}, {"text": "b\u2028c"}]


def _check_error(blueprint_check: Callable[[], None]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        blueprint_check()
    return caught.value


def test_missing_data_file_names_the_key_and_file(make_blueprint: MakeBlueprint, task_dir: Path) -> None:
    error = _check_error(make_blueprint(data_csv="nope.csv").check)
    assert error.key == "blueprint.data_csv"
    assert error.file == task_dir / "nope.csv"
    assert "file not found" in str(error)


def test_missing_task_source_names_its_key(make_blueprint: MakeBlueprint) -> None:
    error = _check_error(make_blueprint(task_source="missing.html").check)
    assert error.key == "blueprint.task_source"
    assert "missing.html" in str(error)


@pytest.mark.parametrize("key", ["preview_source", "onboarding_source"])
def test_missing_optional_html_names_its_key(make_blueprint: MakeBlueprint, key: str) -> None:
    error = _check_error(make_blueprint(**{key: "gone.html"}).check)
    assert error.key == f"blueprint.{key}"


def test_bad_jsonl_line_is_reported_with_its_number(make_blueprint: MakeBlueprint, task_dir: Path) -> None:
    text = '{"text": "a"}\n{"text": "b"}\n{"text": oops}\n'
    error = _check_error(make_blueprint(files={"d.jsonl": text}, data_jsonl="d.jsonl").check)
    assert (error.key, error.file, error.line) == ("blueprint.data_jsonl", task_dir / "d.jsonl", 3)
    assert "line 3 is not valid JSON" in str(error)
    assert f"{task_dir / 'd.jsonl'}:3" in str(error)


def test_jsonl_line_that_is_not_an_object(make_blueprint: MakeBlueprint) -> None:
    error = _check_error(make_blueprint(files={"d.jsonl": '{"text": 1}\n[1, 2]\n'}, data_jsonl="d.jsonl").check)
    assert error.line == 2
    assert "line 2 is a list, not a JSON object" in str(error)


def test_json_must_be_a_list_of_objects(make_blueprint: MakeBlueprint) -> None:
    error = _check_error(make_blueprint(files={"d.json": '{"text": "a"}'}, data_json="d.json").check)
    assert "must hold a JSON list of objects" in str(error)
    error = _check_error(make_blueprint(files={"d2.json": '[{"text": "a"}, "b"]'}, data_json="d2.json").check)
    assert "item 2 of the list is a string" in str(error)


def test_invalid_json_reports_line(make_blueprint: MakeBlueprint) -> None:
    error = _check_error(make_blueprint(files={"d.json": '[\n{"text": "a"},\n}\n'}, data_json="d.json").check)
    assert error.line == 3
    assert "not valid JSON" in str(error)


@pytest.mark.parametrize(
    ("name", "text", "key"),
    [
        ("d.csv", "text\n", "data_csv"),
        ("d.csv", "", "data_csv"),
        ("d.json", "[]", "data_json"),
        ("d.jsonl", "\n\n", "data_jsonl"),
    ],
)
def test_data_without_rows_is_an_error(make_blueprint: MakeBlueprint, name: str, text: str, key: str) -> None:
    error = _check_error(make_blueprint(files={name: text}, **{key: name}).check)
    assert error.key == f"blueprint.{key}"
    assert "no rows" in str(error) or "empty" in str(error)


def test_csv_row_with_wrong_number_of_cells(make_blueprint: MakeBlueprint) -> None:
    error = _check_error(make_blueprint(files={"d.csv": "text,n\na,1\nb\n"}, data_csv="d.csv").check)
    assert error.line == 3
    assert "row 2 has 1 cells but the header has 2 columns" in str(error)


def test_csv_header_with_duplicate_or_empty_names(make_blueprint: MakeBlueprint) -> None:
    error = _check_error(make_blueprint(files={"d.csv": "text,text\na,b\n"}, data_csv="d.csv").check)
    assert "names column 'text' twice" in str(error)
    error = _check_error(make_blueprint(files={"e.csv": "text,\na,b\n"}, data_csv="e.csv").check)
    assert "header column 2 has no name" in str(error)


def test_data_that_is_not_utf8(make_blueprint: MakeBlueprint, task_dir: Path) -> None:
    blueprint = make_blueprint(data_csv="latin1.csv")
    (task_dir / "latin1.csv").write_bytes("text\ncaf\xe9\n".encode("latin-1"))
    error = _check_error(blueprint.check)
    assert "not UTF-8" in str(error)
    assert error.line == 2


def test_no_data_key_or_two_data_keys_name_the_keys() -> None:
    from mephisto_blueprint_static.args import StaticBlueprintArgs

    with pytest.raises(ValidationError, match="exactly one of data_csv, data_json, data_jsonl") as caught:
        StaticBlueprintArgs(task_source=Path("t.html"))
    assert "none of them" in str(caught.value)
    with pytest.raises(ValidationError, match="found both data_csv and data_jsonl"):
        StaticBlueprintArgs(task_source=Path("t.html"), data_csv=Path("a.csv"), data_jsonl=Path("a.jsonl"))


def test_placeholder_missing_from_a_row_names_placeholder_and_row(make_blueprint: MakeBlueprint) -> None:
    files = {
        "task.html": "<p>${text}</p><p>${author}</p>",
        "d.jsonl": '{"text": "a", "author": "x"}\n{"text": "b"}\n',
    }
    error = _check_error(make_blueprint(files=files, task_source="task.html", data_jsonl="d.jsonl").check)
    assert "${author}" in str(error)
    assert "line 2" in str(error)
    assert error.line == 2
    assert error.key == "blueprint.data_jsonl"


def test_placeholder_missing_from_csv_header(make_blueprint: MakeBlueprint) -> None:
    files = {"task.html": "${missing}", "d.csv": "text\na\n"}
    error = _check_error(make_blueprint(files=files, task_source="task.html", data_csv="d.csv").check)
    assert "${missing}" in str(error)
    assert "row 1 (line 2)" in str(error)


def test_extra_source_dir_must_be_a_folder(make_blueprint: MakeBlueprint) -> None:
    error = _check_error(make_blueprint(extra_source_dir="assets").check)
    assert error.key == "blueprint.extra_source_dir"
    assert "folder not found" in str(error)
