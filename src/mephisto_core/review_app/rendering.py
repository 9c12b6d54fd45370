"""Showing a submission the way its task type presents it: the run's blueprint `review_html`, when it has one.

The blueprint is built from the run's stored configuration (the `[task]` and `[blueprint]` sections it ran
with), once per run. When the plugin is not installed, the stored arguments no longer validate, or the blueprint
fails to render, the app says why and falls back to plain tables of inputs and outputs.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mephisto_core.abstractions import Blueprint, TaskArgs
from mephisto_core.data_model import TaskRun
from mephisto_core.errors import MephistoError
from mephisto_core.plugins import get_registry

log = logging.getLogger(__name__)


#: A value as the page shows it: a list of (key, text) pairs for an object, one text otherwise, None for null.
ShownValues = list[tuple[str, str]] | str | None


def shown_values(values: Any) -> ShownValues:
    """Inputs or outputs as display text made here, for the page's plain tables.

    The page must not format numbers itself: JavaScript parses every JSON number as a double, so an integer
    beyond 2**53 would lose digits and a 400-digit one would become Infinity (shown as `null`). Python keeps
    integers exact, so the text is made here and the page only puts it on screen. Pairs keep the stored key
    order, which a JavaScript object would change (it puts integer-like keys first).
    """
    if values is None:
        return None
    if isinstance(values, dict):
        return [(str(key), _value_text(value)) for key, value in values.items()]
    return _value_text(values)


def _value_text(value: Any) -> str:
    if value is None:
        return ""  # an empty cell, as a field that was left out
    if isinstance(value, str):
        return value
    # Display text, not data: a NaN or Infinity stored by an older version is shown as such, not refused.
    return json.dumps(value, indent=2, ensure_ascii=False)


@dataclass(frozen=True)
class Rendering:
    """The blueprint's HTML fragment for a unit (None: show tables), and why there is none when that is news."""

    html: str | None
    note: str | None = None


class BlueprintRenderer:
    """Builds (once per run) and asks the run's blueprint for the review HTML of its units."""

    def __init__(self, task_dir: Path) -> None:
        # Stored configurations hold absolute paths, so the blueprint never needs the original task folder;
        # it gets a stand-in that exists.
        self._task_dir = task_dir
        self._blueprints: dict[int, Blueprint | str] = {}
        self._lock = threading.Lock()

    def render(
        self, run_id: int, inputs: dict[str, Any], outputs: dict[str, Any], file_urls: dict[str, list[str]]
    ) -> Rendering:
        """The review HTML of one submission of run `run_id`."""
        blueprint = self._blueprint(run_id)
        if isinstance(blueprint, str):
            return Rendering(None, blueprint)
        try:
            return Rendering(blueprint.review_html(inputs, outputs, file_urls))
        except Exception as exc:  # a plugin's bug must not break reviewing: show the raw answer instead
            log.exception("blueprint %s failed to render a unit of run %s", blueprint.type_name, run_id)
            return Rendering(None, f"the {blueprint.type_name!r} blueprint could not render this unit ({exc})")

    def _blueprint(self, run_id: int) -> Blueprint | str:
        with self._lock:
            if run_id not in self._blueprints:
                self._blueprints[run_id] = self._build(run_id)
            return self._blueprints[run_id]

    def _build(self, run_id: int) -> Blueprint | str:
        """The run's blueprint, or a sentence saying why it cannot be built."""
        run = TaskRun.get_by_id(run_id)
        config = run.config or {}
        try:
            cls: type[Blueprint] = get_registry().get("blueprint", run.blueprint_type)
        except MephistoError as exc:
            return f"the blueprint of run {run_id} is not available here: {exc}"
        section = {k: v for k, v in dict(config.get("blueprint", {})).items() if k != "type"}
        try:
            args = cls.Args.model_validate(section)
            task = TaskArgs.model_validate(config.get("task", {}))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            return (
                f"the stored configuration of run {run_id} no longer fits the {run.blueprint_type!r} blueprint "
                f"({where}: {first['msg']})"
            )
        try:
            return cls(args, task, self._task_dir)
        except Exception as exc:  # same reason as in render(): fall back to tables, and say why
            log.exception("blueprint %s of run %s could not be built", run.blueprint_type, run_id)
            return f"the {run.blueprint_type!r} blueprint of run {run_id} could not be set up ({exc})"
