"""Loading a task's remote procedures: every mistake is a ConfigError naming the task file, key and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from mephisto_core.errors import ConfigError
from mephisto_core.operations.run.worker_rules import RunRules
from mephisto_core.task_config import load_task_config

pytestmark = pytest.mark.usefixtures("test_types")


def task_with(tmp_path: Path, source: str | None, **procedures: object) -> Path:
    if source is not None:
        (tmp_path / "procs.py").write_text(source)
    lines = ["[task]", 'name = "p"', 'title = "P"', "", "[task.procedures]", 'module = "procs.py"']
    lines += [f"{key} = {value}" for key, value in procedures.items()]
    lines += ["", "[blueprint]", 'type = "echo_test"', "[architect]", 'type = "null_test"']
    lines += ["[provider]", 'type = "crowd_test"']
    path = tmp_path / "task.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def load_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        RunRules.from_config(load_task_config(path))
    error = caught.value
    assert error.file == path and error.key == "task.procedures.module" and error.line == 6, error
    return error


def test_decorated_and_listed_functions_are_registered(tmp_path):
    source = (
        "from mephisto_core.procedures import procedure\n"
        "@procedure\ndef score(args):\n    return 1\n"
        "@procedure(name='search.web')\nasync def look(args, call):\n    return [call.agent_id]\n"
        "def plain(args):\n    return 2\n"
        "PROCEDURES = {'plain': plain}\n"
    )
    rules = RunRules.from_config(load_task_config(task_with(tmp_path, source, timeout_seconds=2.5)))
    registry = rules.procedures
    assert registry is not None and registry.names() == ["plain", "score", "search.web"]
    assert registry.timeout_seconds == 2.5 and registry.max_calls_per_minute == 60
    assert registry.procedures["search.web"].is_async and registry.procedures["search.web"].takes_info
    assert not registry.procedures["score"].takes_info


def test_a_missing_module_is_named(tmp_path):
    assert "is not a Python file" in str(load_error(task_with(tmp_path, None)))


def test_an_import_failure_gives_the_modules_own_line(tmp_path):
    error = load_error(task_with(tmp_path, "import math\n\nx = 1 / 0\n"))
    assert "importing procs.py (line 3) failed: ZeroDivisionError" in str(error)
    error = load_error(task_with(tmp_path, "def broken(:\n"))
    assert "(line 1) failed: SyntaxError" in str(error)


def test_a_module_without_procedures_says_how_to_register(tmp_path):
    error = load_error(task_with(tmp_path, "def helper(args):\n    return 1\n"))
    assert "registers no procedure" in str(error) and "@procedure" in str(error)


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("PROCEDURES = [1]\n", "PROCEDURES must be a dict"),
        ("PROCEDURES = {'bad name': print}\n", "procedure name 'bad name' must be"),
        ("PROCEDURES = {'x': 3}\n", "'x' is not a function"),
        ("def f():\n    pass\nPROCEDURES = {'f': f}\n", "must take (args) or (args, call), not ()"),
        ("def f(a, b, c):\n    pass\nPROCEDURES = {'f': f}\n", "not (a, b, c)"),
        (
            "from mephisto_core.procedures import procedure\n@procedure\ndef f(a):\n    pass\n"
            "def g(a):\n    pass\nPROCEDURES = {'f': g}\n",
            "two functions are registered as 'f'",
        ),
    ],
)
def test_bad_registrations_are_refused_with_what_is_wrong(tmp_path, source, words):
    assert words in str(load_error(task_with(tmp_path, source)))


def test_limits_are_checked_by_the_schema(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_task_config(task_with(tmp_path, "PROCEDURES = {}\n", max_calls_per_minute=0))
    assert caught.value.key == "task.procedures.max_calls_per_minute"


def test_simulated_calls_must_name_procedures(tmp_path):
    source = "def f(a):\n    return 1\nPROCEDURES = {'f': f}\nSIMULATED_CALLS = [('f', {'x': 1})]\n"
    registry = RunRules.from_config(load_task_config(task_with(tmp_path, source))).procedures
    assert registry is not None and registry.simulated_calls == (("f", {"x": 1}),)
    error = load_error(task_with(tmp_path, source.replace("('f', {'x': 1})", "('g', {})")))
    assert "SIMULATED_CALLS must be a list of (procedure name, args) pairs" in str(error)
