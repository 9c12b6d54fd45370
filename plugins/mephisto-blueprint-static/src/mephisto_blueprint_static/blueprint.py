"""The `static` blueprint: one HTML page per data row, every named form field part of the answer."""

from __future__ import annotations

import functools
import html
import random
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from mephisto_blueprint_static.args import StaticBlueprintArgs
from mephisto_blueprint_static.builder import EXTRA_KEY, check_extra_source_dir, write_build
from mephisto_blueprint_static.data import Row, iter_rows, read_text
from mephisto_blueprint_static.fields import FormField, form_fields, row_independent_fields
from mephisto_blueprint_static.served_folder import warn_private_files_served
from mephisto_blueprint_static.simulate import simulate
from mephisto_blueprint_static.template import fill, placeholders
from mephisto_blueprint_static.validation import validate_answer
from mephisto_core.abstractions import Blueprint, BlueprintArgs, SimulatedAnswer, UploadedFile
from mephisto_core.errors import ConfigError

if TYPE_CHECKING:
    from mephisto_core.abstractions import TaskArgs


class StaticBlueprint(Blueprint):
    """Static HTML tasks, as in the original Mephisto.

    The task is an HTML fragment (`task_source`) with `${column}` placeholders. Each row of the data file
    becomes an assignment; a worker's page shows the fragment with that row's values (HTML-escaped) inside a
    form with a submit button, and every named input, select and textarea becomes the answer. File inputs are
    uploaded with it. Optional preview and onboarding pages are plain HTML.
    """

    type_name: ClassVar[str] = "static"
    Args: ClassVar[type[BlueprintArgs]] = StaticBlueprintArgs

    def __init__(self, args: BlueprintArgs, task: TaskArgs, task_dir: Path) -> None:
        super().__init__(args, task, task_dir)
        self._sources: dict[str, str] = {}
        self._placeholders: list[str] | None = None
        self._rows_checked: int | None = None  # how many rows the last full check() read

    @property
    def static_args(self) -> StaticBlueprintArgs:
        """The arguments with their concrete type."""
        if not isinstance(self.args, StaticBlueprintArgs):
            raise TypeError(f"StaticBlueprint needs StaticBlueprintArgs, got {type(self.args).__name__}")
        return self.args

    # ---- files the task names ------------------------------------------------------------------------

    def _path(self, key: str) -> Path | None:
        value = getattr(self.static_args, key)
        if value is None:
            return None
        path = Path(value)
        return path if path.is_absolute() else (self.task_dir / path).resolve()

    def _source(self, key: str) -> str | None:
        """The text of an HTML file argument (read once), or None when the argument is not given."""
        if key not in self._sources:
            path = self._path(key)
            if path is None:
                return None
            self._sources[key] = read_text(path, f"blueprint.{key}")
        return self._sources[key]

    def _task_html(self) -> str:
        source = self._source("task_source")
        assert source is not None  # task_source is required by the schema
        return source

    def _checked_rows(self) -> Iterator[Row]:
        """The data rows, read from the file as they are asked for; the first bad one raises ConfigError.

        A row is bad when it does not parse or lacks a placeholder of the task HTML; the error is the same
        whether `check()` or a launch streaming the rows meets it.
        """
        data_key = self.static_args.data_key
        path = self._path(data_key)
        assert path is not None  # the schema requires one data file
        names = placeholders(self._task_html())
        for row in iter_rows(path, data_key):
            values = row.values
            for name in names:
                if name not in values:
                    columns = ", ".join(map(str, values)) or "none"
                    raise ConfigError(
                        f"the task HTML ({self._path('task_source')}) uses the placeholder ${{{name}}}, but "
                        f"{row.where} of the data has no {name!r} (it has: {columns})",
                        file=path,
                        key=f"blueprint.{data_key}",
                        line=row.line,
                    )
            yield row

    def _check_files(self) -> None:
        self._task_html()
        self._source("preview_source")
        self._source("onboarding_source")
        extra = self._path("extra_source_dir")
        if extra is not None:
            check_extra_source_dir(extra)
            warn_private_files_served(extra, self._private_files(), EXTRA_KEY)

    def _private_files(self) -> list[tuple[str, Path]]:
        """What workers must never download, described for the warning when the served folder holds it."""
        data = self._path(self.static_args.data_key)
        assert data is not None  # the args model requires one data key
        private = [
            ("the task folder (with the task file and everything beside it)", self.task_dir),
            (f"the data file {data.name}", data),
        ]
        if self.task.gold is not None:
            gold = self.task.gold.data_jsonl
            gold = gold if gold.is_absolute() else self.task_dir / gold
            private.append((f"the gold answers {gold.name}", gold))
        return private

    # ---- Blueprint -----------------------------------------------------------------------------------

    def check(self) -> None:
        """Every file exists and reads, the data parses into rows, and each row has every placeholder."""
        self._check_files()
        self._rows_checked = sum(1 for _ in self._checked_rows())

    def check_launch(self) -> None:
        """The files and the first data row; `iter_assignments` checks every later row before yielding it."""
        self._check_files()
        next(self._checked_rows())  # an empty data file raises here

    def iter_assignments(self) -> Iterator[dict[str, Any]]:
        """Each data row, as a dict of column name to value; a bad row raises the ConfigError `check()` gives."""
        for row in self._checked_rows():
            yield row.values

    def count_assignments(self) -> int:
        """The number of data rows (each checked as `check()` does; counted by it when it ran)."""
        if self._rows_checked is not None:
            return self._rows_checked
        return sum(1 for _ in self._checked_rows())

    def build(self, build_dir: Path) -> None:
        """Write index.html and static-task.js, and copy `extra_source_dir` beside them."""
        args = self.static_args
        write_build(build_dir, self.task.title, args.submit_button_text, self._path("extra_source_dir"))

    def init_data(self, inputs: dict[str, Any], unit_index: int) -> dict[str, Any]:
        """The filled task HTML (values HTML-escaped) and the row itself."""
        return {"html": self._filled_html(inputs), "inputs": inputs}

    def preview_data(self) -> dict[str, Any]:
        """The preview HTML, or the task's title and description when there is no preview file."""
        preview = self._source("preview_source")
        if preview is None:
            preview = f"<h1>{html.escape(self.task.title)}</h1>"
            if self.task.description:
                preview += f"<p>{html.escape(self.task.description)}</p>"
        return {"html": preview}

    def has_onboarding(self) -> bool:
        """Whether an onboarding page was given."""
        return self.static_args.onboarding_source is not None

    def onboarding_data(self) -> dict[str, Any]:
        """The onboarding HTML (shown as it is: it has no data row to fill it from)."""
        return {"html": self._source("onboarding_source") or ""}

    def validate_onboarding(self, outputs: dict[str, Any]) -> bool:
        """Every onboarding submission passes: the onboarding page is then something to go through once.

        A task file grades onboarding with `[task.onboarding]` (expected answers or a validator); those rules
        take the place of this method.
        """
        return True

    def validate_outputs(
        self, inputs: dict[str, Any], outputs: dict[str, Any], files: list[UploadedFile]
    ) -> dict[str, str]:
        """Outputs name only fields of the page this unit showed, with the shape the page makes; files only
        come for file inputs."""
        self._check_inputs(inputs)
        fields = self._fixed_fields
        if fields is None:  # a placeholder decides a field's name or type: read this row's page
            fields = form_fields(self._filled_html(inputs))
        return validate_answer(fields, outputs, files)

    def simulate_answer(self, init_data: dict[str, Any], rng: random.Random) -> SimulatedAnswer:
        """A valid answer to the page in `init_data`: words, numbers in range, options, small files."""
        return simulate(form_fields(str(init_data.get("html", ""))), rng)

    @functools.cached_property
    def _fixed_fields(self) -> dict[str, FormField] | None:
        """The task page's fields when every data row gives the same ones: parsed once, not per submission."""
        return row_independent_fields(self._task_html())

    def _filled_html(self, inputs: dict[str, Any]) -> str:
        self._check_inputs(inputs)
        return fill(self._task_html(), inputs)

    def _check_inputs(self, inputs: dict[str, Any]) -> None:
        if self._placeholders is None:
            self._placeholders = placeholders(self._task_html())
        missing = [name for name in self._placeholders if name not in inputs]
        if missing:
            raise ConfigError(
                f"the task HTML uses ${{{missing[0]}}}, which this assignment's data does not have "
                f"(was task_source changed after the run started?)",
                file=self._path("task_source"),
                key="blueprint.task_source",
            )
