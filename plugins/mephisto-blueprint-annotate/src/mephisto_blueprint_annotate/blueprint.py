"""The `annotate` blueprint: each data row annotated with the schemes of the task file, no build step."""

from __future__ import annotations

import html
import random
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from mephisto_blueprint_annotate.answers import submission_problems
from mephisto_blueprint_annotate.args import AnnotateBlueprintArgs, Scheme
from mephisto_blueprint_annotate.data import read_rows
from mephisto_blueprint_annotate.review import review_html
from mephisto_blueprint_annotate.simulate import simulate_answer
from mephisto_core.abstractions import Blueprint, BlueprintArgs, SimulatedAnswer, UploadedFile
from mephisto_core.errors import ConfigError

if TYPE_CHECKING:
    from mephisto_core.abstractions import TaskArgs

ASSETS = ("index.html", "annotate.js")


class AnnotateBlueprint(Blueprint):
    """Annotation schemes (labels, Likert, sliders, text, spans, comparisons) over rows of a data file.

    The schemes come from `[[blueprint.schemes]]` tables and are validated when the task file is read; `check()`
    reads the data and makes sure every row has the columns the schemes show. The page (annotate.js) checks each
    answer as the worker goes and the server checks the same rules again (`validate_outputs`).
    """

    type_name: ClassVar[str] = "annotate"
    Args: ClassVar[type[BlueprintArgs]] = AnnotateBlueprintArgs

    def __init__(self, args: BlueprintArgs, task: TaskArgs, task_dir: Path) -> None:
        super().__init__(args, task, task_dir)
        self._rows: list[dict[str, Any]] | None = None

    @property
    def annotate_args(self) -> AnnotateBlueprintArgs:
        """The arguments with their concrete type."""
        if not isinstance(self.args, AnnotateBlueprintArgs):
            raise TypeError(f"AnnotateBlueprint needs AnnotateBlueprintArgs, got {type(self.args).__name__}")
        return self.args

    @property
    def schemes(self) -> list[Scheme]:
        """The task's schemes, in page order."""
        return self.annotate_args.schemes

    def _load(self) -> list[dict[str, Any]]:
        if self._rows is None:
            args = self.annotate_args
            path = args.data_path if args.data_path.is_absolute() else (self.task_dir / args.data_path).resolve()
            rows = read_rows(path, args.data_key)
            needed = {column: scheme.name for scheme in self.schemes for column in scheme.columns}
            needed.update({column: "display_fields" for column in args.display_fields or []})
            for number, (line, row) in enumerate(rows, start=1):
                for column, user in needed.items():
                    if not isinstance(row.get(column), str):
                        found = "is missing" if column not in row else f"is not text ({row[column]!r})"
                        raise ConfigError(
                            f"row {number}: the column {column!r} ({user} shows it) {found}",
                            file=path,
                            key=f"blueprint.{args.data_key}",
                            line=line or None,
                        )
            self._rows = [row for _, row in rows]
        return self._rows

    # ---- Blueprint -----------------------------------------------------------------------------------

    def check(self) -> None:
        """The data file reads and every row has the text columns the schemes and display_fields name."""
        self._rows = None
        self._load()

    def iter_assignments(self) -> Iterator[dict[str, Any]]:
        """One assignment per data row; its inputs are the row."""
        yield from self._load()

    def count_assignments(self) -> int:
        """How many rows the data has."""
        return len(self._load())

    def build(self, build_dir: Path) -> None:
        """Write index.html and annotate.js (static files: nothing to compile)."""
        build_dir.mkdir(parents=True, exist_ok=True)
        for name in ASSETS:
            text = resources.files("mephisto_blueprint_annotate").joinpath("assets", name).read_text(encoding="utf-8")
            if name == "index.html":
                text = text.replace("__TASK_TITLE__", html.escape(self.task.title, quote=True))
            (build_dir / name).write_text(text, encoding="utf-8")

    def _display_fields(self, row: dict[str, Any]) -> list[str]:
        if self.annotate_args.display_fields is not None:
            return self.annotate_args.display_fields
        shown_by_schemes = {column for scheme in self.schemes for column in scheme.columns}
        return [column for column in row if column not in shown_by_schemes]

    def _page_data(self, row: dict[str, Any]) -> dict[str, Any]:
        args = self.annotate_args
        display = self._display_fields(row)
        limit = self.task.maximum_units_per_worker
        total = self.count_assignments()
        return {
            "row": row,
            "display_fields": display,
            "schemes": [scheme.model_dump(mode="json") for scheme in self.schemes],
            "instructions": args.instructions,
            "submit_button_text": args.submit_button_text,
            # The page counts the units done in this browser session; the most a worker can do is this.
            "progress": {"task": self.task.name, "total": min(total, limit) if limit else total},
        }

    def init_data(self, inputs: dict[str, Any], unit_index: int) -> dict[str, Any]:
        """The row, the schemes and what the progress line needs."""
        return self._page_data(inputs)

    def preview_data(self) -> dict[str, Any]:
        """The first row, shown with every control disabled."""
        return self._page_data(self._load()[0])

    def validate_outputs(
        self, inputs: dict[str, Any], outputs: dict[str, Any], files: list[UploadedFile]
    ) -> dict[str, str]:
        """Every scheme's answer by the page's rules; files are not part of an annotation."""
        problems = submission_problems(self.schemes, inputs, outputs)
        for upload in files:
            problems[upload.field] = "this task takes no files"
        return problems

    def review_html(
        self, inputs: dict[str, Any], outputs: dict[str, Any], file_urls: dict[str, list[str]]
    ) -> str | None:
        """The row's displayed columns, then each question with its answer (spans highlighted)."""
        shown = "".join(
            f"<p><b>{html.escape(column)}</b>: {html.escape(str(inputs.get(column, '')))}</p>"
            for column in self._display_fields(inputs)
        )
        return shown + review_html(self.schemes, inputs, outputs)

    def simulate_answer(self, init_data: dict[str, Any], rng: random.Random) -> SimulatedAnswer:
        """A valid answer to every scheme of the unit's row."""
        return simulate_answer(self.schemes, init_data["row"], rng)
