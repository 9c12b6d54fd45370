"""JSON fields never store NaN or an infinity (Python would write `NaN`/`Infinity`, which no JSON reader takes):
the write is refused with an error saying so, on SQLite and PostgreSQL, and a data file holding one stops
`mephisto launch` with that sentence instead of a traceback, leaving no run behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mephisto_core.data_model import Assignment, Database, Requester, Task, TaskRun
from mephisto_core.data_model.bulk import NotJSONValue, json_text


def test_json_text_refuses_non_finite_numbers_and_keeps_big_integers() -> None:
    for value in ({"score": float("inf")}, [1, float("-inf")], {"a": {"b": float("nan")}}):
        with pytest.raises(NotJSONValue, match="NaN or infinite"):
            json_text(value)
    big = int("7" * 4000)
    assert json.loads(json_text({"n": big})) == {"n": big}


def test_a_json_field_refuses_nan_and_stores_nothing(database: Database) -> None:
    task = Task.create(name="numbers", blueprint_type="static")
    requester = Requester.create(name="requester", provider_type="mock")
    run = TaskRun.create(
        task=task, requester=requester, blueprint_type="static", architect_type="local", provider_type="mock", config={}
    )
    with pytest.raises(NotJSONValue, match=r"cannot store \{'x': inf\}"), database.write():
        Assignment.create(task_run=run, inputs={"x": float("inf")})
    assert Assignment.select().count() == 0


def test_launch_with_nan_in_a_data_file_is_a_clear_error(mephisto_cli_env: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "study"
    init = subprocess.run(
        [sys.executable, "-m", "mephisto_core.cli", "init", str(folder), "--template", "static"],
        env=mephisto_cli_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert init.returncode == 0, init.stderr
    # Python's json module reads NaN and 1e999 from a data file; the database must not take them. The reader
    # refuses each at its line, so `check` and `launch` say the same and no run is made.
    rows = '{"topic": "t", "prompt": "p"}\n{"topic": "t", "prompt": "p", "w": 1e999}\n'
    (folder / "data.jsonl").write_text(rows)
    task_toml = folder / "task.toml"
    task_toml.write_text(task_toml.read_text().replace('data_csv = "data.csv"', 'data_jsonl = "data.jsonl"'))
    launch = subprocess.run(
        [sys.executable, "-m", "mephisto_core.cli", "launch", str(task_toml), "architect.port=0"],
        env=mephisto_cli_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert launch.returncode == 1, launch.stdout + launch.stderr
    assert "data.jsonl:2, key 'blueprint.data_jsonl': 1e999 is not a finite number" in launch.stderr
    assert "Traceback" not in launch.stderr
    runs = subprocess.run(
        [sys.executable, "-m", "mephisto_core.cli", "export", "--status", "created,launched"],
        env=mephisto_cli_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert runs.returncode == 0 and runs.stdout == "", runs.stderr


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@given(_JSON_VALUES)
def test_stored_json_text_reads_back_as_the_standard_library_would_write_it(value: object) -> None:
    # json_text takes orjson's quick way where it can; what it stores must read back exactly as the stdlib's text.
    stdlib = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    assert json.loads(json_text(value)) == json.loads(stdlib)


@pytest.mark.parametrize(
    "value", [float("nan"), [1, {"a": float("-inf")}], {"scores": [0.5, None, float("inf")]}], ids=repr
)
def test_non_finite_numbers_are_refused_even_beside_nulls(value: object) -> None:
    with pytest.raises(NotJSONValue, match="NaN or infinite"):
        json_text(value)
