"""Files a careless user hands the CLI (not UTF-8, nested thousands deep) fail in one located line, no traceback.

Every case runs the installed `mephisto` script in a subprocess, on a task folder `mephisto init` made from the
shipped templates (the real static/form blueprints, local architect and mock provider), for `check` and for
`launch`: both must refuse before anything starts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_helpers import run_mephisto

DEEP = 5000
DEEP_ARRAY = "[" * DEEP + "]" * DEEP

Edit = Callable[[Path], Path]  # changes a task folder; returns the file that is now bad


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _deep_reward(folder: Path) -> Path:
    _replace(folder / "task.toml", "reward = 0.05", f"reward = {DEEP_ARRAY}")
    return folder / "task.toml"


def _deep_inline_table(folder: Path) -> Path:
    _replace(folder / "task.toml", "[blueprint]\n", "deep = " + "{a=" * 3000 + "1" + "}" * 3000 + "\n[blueprint]\n")
    return folder / "task.toml"


def _latin1_title(folder: Path) -> Path:
    task = folder / "task.toml"
    task.write_bytes(task.read_bytes().replace(b'title = "', b'title = "Caf\xe9 ', 1))
    return task


def _csv_latin1(folder: Path) -> Path:
    with (folder / "data.csv").open("ab") as fh:
        fh.write(b"caf\xe9,Describe a caf\xe9.\n")
    return folder / "data.csv"


def _json_deep(folder: Path) -> Path:
    (folder / "data.json").write_text(f'[{{"topic": "t", "prompt": {DEEP_ARRAY}}}]', encoding="utf-8")
    _replace(folder / "task.toml", 'data_csv = "data.csv"', 'data_json = "data.json"')
    return folder / "data.json"


def _jsonl_deep(folder: Path) -> Path:
    rows = '{"topic": "t", "prompt": "p"}\n' + f'{{"topic": "t", "prompt": {DEEP_ARRAY}}}\n'
    (folder / "data.jsonl").write_text(rows, encoding="utf-8")
    _replace(folder / "task.toml", 'data_csv = "data.csv"', 'data_jsonl = "data.jsonl"')
    return folder / "data.jsonl"


def _jsonl_980_deep(folder: Path) -> Path:
    # Deep enough to break the launch after the row was read (storing and reading it back), not the reading.
    rows = '{"topic": "t", "prompt": "p"}\n' + '{"topic": "t", "prompt": ' + "[" * 980 + "]" * 980 + "}\n"
    (folder / "data.jsonl").write_text(rows, encoding="utf-8")
    _replace(folder / "task.toml", 'data_csv = "data.csv"', 'data_jsonl = "data.jsonl"')
    return folder / "data.jsonl"


def _jsonl_latin1(folder: Path) -> Path:
    (folder / "data.jsonl").write_bytes(b'{"topic": "t", "prompt": "p"}\n{"topic": "caf\xe9", "prompt": "p"}\n')
    _replace(folder / "task.toml", 'data_csv = "data.csv"', 'data_jsonl = "data.jsonl"')
    return folder / "data.jsonl"


def _gold_deep(folder: Path) -> Path:
    (folder / "gold.jsonl").write_text(f'{{"inputs": {{}}, "answers": {{"a": {DEEP_ARRAY}}}}}\n', encoding="utf-8")
    _replace(folder / "task.toml", "[blueprint]\n", '[task.gold]\ndata_jsonl = "gold.jsonl"\n\n[blueprint]\n')
    return folder / "gold.jsonl"


def _gold_latin1(folder: Path) -> Path:
    (folder / "gold.jsonl").write_bytes(b'{"inputs": {}, "answers": {"a": "caf\xe9"}}\n')
    _replace(folder / "task.toml", "[blueprint]\n", '[task.gold]\ndata_jsonl = "gold.jsonl"\n\n[blueprint]\n')
    return folder / "gold.jsonl"


def _form_deep(folder: Path) -> Path:
    (folder / "form.json").write_text('{"form":\n' + DEEP_ARRAY + "}", encoding="utf-8")
    return folder / "form.json"


def _form_latin1(folder: Path) -> Path:
    (folder / "form.json").write_bytes(b'{"form":\n "caf\xe9"}')
    return folder / "form.json"


def _huge_integer(folder: Path) -> Path:
    _replace(folder / "task.toml", "reward = 0.05", "reward = 0.05\nunits_per_assignment = " + "9" * 5000)
    return folder / "task.toml"


def _jsonl_huge_integer(folder: Path) -> Path:
    (folder / "data.jsonl").write_text('{"topic": "t", "prompt": "p"}\n{"topic": "t", "prompt": ' + "9" * 5000 + "}\n")
    _replace(folder / "task.toml", 'data_csv = "data.csv"', 'data_jsonl = "data.jsonl"')
    return folder / "data.jsonl"


# (template, edit, line the error names, words it says)
CASES: dict[str, tuple[str, Edit, int, str]] = {
    "task-deep-array": ("static", _deep_reward, 9, f"{DEEP} levels deep"),
    "task-deep-inline-table": ("static", _deep_inline_table, 16, "3000 levels deep"),
    "task-not-utf8": ("static", _latin1_title, 7, "not UTF-8"),
    "task-huge-integer": ("static", _huge_integer, 10, "more digits"),
    "jsonl-huge-integer": ("static", _jsonl_huge_integer, 2, "more digits"),
    "csv-not-utf8": ("static", _csv_latin1, 6, "not UTF-8"),
    "json-deep": ("static", _json_deep, 1, "nested too deeply"),
    "jsonl-deep": ("static", _jsonl_deep, 2, "nested too deeply"),
    "jsonl-980-deep": ("static", _jsonl_980_deep, 2, "981 levels deep"),
    "jsonl-not-utf8": ("static", _jsonl_latin1, 2, "not UTF-8"),
    "gold-deep": ("static", _gold_deep, 1, "nested too deeply"),
    "gold-not-utf8": ("static", _gold_latin1, 1, "not UTF-8"),
    "form-deep": ("form", _form_deep, 2, "nested too deeply"),
    "form-not-utf8": ("form", _form_latin1, 2, "not UTF-8"),
}


def _task_folder(tmp_path: Path, template: str) -> Path:
    folder = tmp_path / "task"
    made = run_mephisto("init", "--template", template, folder)
    assert made.returncode == 0, made.stderr
    return folder


def _assert_located_one_line_error(result_output: str, returncode: int, bad_file: Path, line: int, words: str) -> None:
    assert returncode != 0, result_output
    assert "Traceback" not in result_output and "RecursionError" not in result_output
    assert "UnicodeDecodeError" not in result_output
    assert "Launched" not in result_output
    errors = [text for text in result_output.splitlines() if text.startswith("Error:")]
    assert len(errors) == 1, result_output
    assert f"{bad_file}:{line}" in errors[0], errors[0]
    assert words in errors[0], errors[0]


@pytest.mark.parametrize("case", list(CASES))
def test_check_and_launch_name_the_file_and_line_of_an_unreadable_file(tmp_path: Path, case: str) -> None:
    template, edit, line, words = CASES[case]
    folder = _task_folder(tmp_path, template)
    bad_file = edit(folder).resolve()
    task = folder / "task.toml"
    for command in (("check", task), ("launch", task, "architect.port=0")):
        result = run_mephisto(*command)
        _assert_located_one_line_error(result.stdout + result.stderr, result.returncode, bad_file, line, words)


@pytest.mark.parametrize(
    ("override", "words"),
    [(f"task.tags={DEEP_ARRAY}", "nested too deeply"), ("task.units_per_assignment=" + "9" * 5000, "more digits")],
    ids=["deep", "huge-integer"],
)
def test_an_unreadable_command_line_value_is_a_located_error(tmp_path: Path, override: str, words: str) -> None:
    task = _task_folder(tmp_path, "static") / "task.toml"
    key = override.split("=", 1)[0]
    result = run_mephisto("check", task, override)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output
    assert re.search(rf"key '{re.escape(key)}'.*{words}", output), output


@pytest.mark.parametrize(
    ("content", "line", "words"),
    [(f"a = {DEEP_ARRAY}".encode(), 1, f"{DEEP} levels deep"), (b'[x]\nname = "caf\xe9"\n', 2, "not UTF-8")],
    ids=["deep", "not-utf8"],
)
def test_an_unreadable_user_config_is_a_located_error(tmp_path: Path, content: bytes, line: int, words: str) -> None:
    task = _task_folder(tmp_path, "static") / "task.toml"
    config = tmp_path / "mephisto-config" / "config.toml"  # the mephisto_settings fixture's MEPHISTO_CONFIG_FILE
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_bytes(content)
    for command in (("requesters",), ("launch", task, "architect.port=0")):
        result = run_mephisto(*command)
        _assert_located_one_line_error(result.stdout + result.stderr, result.returncode, config, line, words)
