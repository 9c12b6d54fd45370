"""Helpers the annotate blueprint's tests share (a uniquely named module)."""

from __future__ import annotations

import json
from pathlib import Path

from mephisto_blueprint_annotate.blueprint import AnnotateBlueprint

from mephisto_core.task_config import load_task_config

TEMPLATE_DIR = Path(__file__).resolve().parents[3] / "task_templates" / "annotate"
ROWS = [
    {"id": "r1", "text": "The soup was cold but the bread was great.", "a": "Short answer.", "b": "Long answer."},
    {"id": "r2", "text": "Nice staff, slow service.", "a": "Yes.", "b": "No."},
]
HEAD = """[task]
name = "annotate-test"
title = "Annotate <test>"

[blueprint]
type = "annotate"
data_jsonl = "rows.jsonl"
{extra}
"""
TAIL = """
[architect]
type = "local"
port = 0

[provider]
type = "mock"
"""


def write_task(folder: Path, schemes: str, rows: list[dict[str, str]] | None = None, extra: str = "") -> Path:
    """A task folder with rows.jsonl (`rows`, default ROWS) and task.toml made of HEAD, `schemes` and TAIL."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(row) for row in (ROWS if rows is None else rows)]
    (folder / "rows.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    path = folder / "task.toml"
    path.write_text(HEAD.format(extra=extra) + schemes + TAIL, encoding="utf-8")
    return path


def blueprint_for(path: Path) -> AnnotateBlueprint:
    """The blueprint of a task file, checked."""
    config = load_task_config(path)
    blueprint = AnnotateBlueprint(config.blueprint_args, config.task, config.task_dir)
    blueprint.check()
    return blueprint


ALL_SCHEMES = """
[[blueprint.schemes]]
name = "sentiment"
type = "single"
labels = [{ value = "pos", key = "p" }, { value = "neg", key = "n" }]

[[blueprint.schemes]]
name = "topics"
type = "multi"
labels = ["food", "staff", "price"]
min_choices = 1
max_choices = 2

[[blueprint.schemes]]
name = "sure"
type = "likert"
points = 5

[[blueprint.schemes]]
name = "score"
type = "slider"
min = 0
max = 10
step = 0.5

[[blueprint.schemes]]
name = "why"
type = "text"
min_length = 3
max_length = 20

[[blueprint.schemes]]
name = "aspects"
type = "span"
field = "text"
labels = [{ value = "good", key = "g" }, { value = "bad", key = "b" }]
tokens = true

[[blueprint.schemes]]
name = "better"
type = "pairwise"
items = ["a", "b"]
allow_tie = true

[[blueprint.schemes]]
name = "rank"
type = "bestworst"
items = ["a", "b", "id"]
"""
