"""Fixtures: write a static task's files into a temporary folder and build its blueprint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mephisto_blueprint_static.args import StaticBlueprintArgs
from mephisto_blueprint_static.blueprint import StaticBlueprint
from static_support import MakeBlueprint

from mephisto_core.abstractions import TaskArgs


@pytest.fixture
def task_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "task"
    folder.mkdir()
    return folder


@pytest.fixture
def make_blueprint(task_dir: Path) -> MakeBlueprint:
    """make_blueprint(files={name: text}, **blueprint_args) -> StaticBlueprint for a task in `task_dir`.

    Paths in the arguments are relative to the task folder, as in a task file. Without `task_source` a small
    page with a ${text} placeholder is written; without a data key, a two-row CSV.
    """

    def make(files: dict[str, str] | None = None, **args: Any) -> StaticBlueprint:
        files = dict(files or {})
        if "task_source" not in args:
            files.setdefault("task.html", '<p>${text}</p><input name="label">')
            args["task_source"] = "task.html"
        if not any(key in args for key in ("data_csv", "data_json", "data_jsonl")):
            files.setdefault("data.csv", "text\nfirst\nsecond\n")
            args["data_csv"] = "data.csv"
        for name, text in files.items():
            path = task_dir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        task = TaskArgs(name="static-test", title="A <static> test", description="Label things & more.")
        return StaticBlueprint(StaticBlueprintArgs(**args), task, task_dir)

    return make
