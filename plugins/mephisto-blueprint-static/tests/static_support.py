"""Helpers the static blueprint's tests share (a uniquely named module, so test suites of several plugins
can run in one pytest session)."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path

from mephisto_blueprint_static.args import StaticBlueprintArgs
from mephisto_blueprint_static.blueprint import StaticBlueprint

from mephisto_core.abstractions import TaskArgs

TEMPLATE_DIR = Path(__file__).resolve().parents[3] / "task_templates" / "static"

MakeBlueprint = Callable[..., StaticBlueprint]


def template_blueprint() -> StaticBlueprint:
    """The blueprint of task_templates/static, built from its task.toml without the other plugins."""
    config = tomllib.loads((TEMPLATE_DIR / "task.toml").read_text(encoding="utf-8"))
    section = {k: v for k, v in config["blueprint"].items() if k != "type"}
    blueprint = StaticBlueprint(StaticBlueprintArgs(**section), TaskArgs(**config["task"]), TEMPLATE_DIR)
    blueprint.check()
    return blueprint
