"""Fixtures for the form blueprint's tests: a task folder with a form config, and its blueprint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from form_support import MakeBlueprint, reference_config, write_json
from mephisto_blueprint_form.args import FormBlueprintArgs
from mephisto_blueprint_form.blueprint import FormBlueprint

from mephisto_core.abstractions import TaskArgs


@pytest.fixture
def task_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "task"
    folder.mkdir()
    return folder


@pytest.fixture
def make_blueprint(task_dir: Path) -> MakeBlueprint:
    """make_blueprint(data=None, **blueprint_args) -> FormBlueprint whose data_json holds `data`.

    Without `data`, the reference example form is used.
    """

    def make(data: Any = None, **args: Any) -> FormBlueprint:
        write_json(task_dir / "form.json", reference_config() if data is None else data)
        task = TaskArgs(name="form-test", title="A <form> test", description="Answer & submit.")
        return FormBlueprint(FormBlueprintArgs(data_json=Path("form.json"), **args), task, task_dir)

    return make
