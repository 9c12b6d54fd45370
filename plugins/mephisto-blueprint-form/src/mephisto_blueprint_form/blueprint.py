"""The `form` blueprint: a form described in JSON, one config per assignment, checked in the page and on the server."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from mephisto_blueprint_form.args import FormBlueprintArgs
from mephisto_blueprint_form.builder import write_build
from mephisto_blueprint_form.config_files import load_json
from mephisto_blueprint_form.paths import Problem
from mephisto_blueprint_form.review import review_html
from mephisto_blueprint_form.schema import validate_data
from mephisto_blueprint_form.simulate import simulate_form
from mephisto_blueprint_form.submission import submission_problems
from mephisto_core.abstractions import Blueprint, BlueprintArgs, SimulatedAnswer, UploadedFile
from mephisto_core.errors import ConfigError

if TYPE_CHECKING:
    from mephisto_core.abstractions import TaskArgs

DATA_KEY = "blueprint.data_json"


def problems_text(problems: list[Problem], path: Path) -> str:
    """The message listing every problem of a config, one per line."""
    count = f"{len(problems)} problem" + ("" if len(problems) == 1 else "s")
    lines = [f"the form config has {count} (check it with: mephisto form validate {path}):"]
    lines += [f"  {problem}" for problem in problems]
    return "\n".join(lines)


class FormBlueprint(Blueprint):
    """Forms in the original form composer's JSON format.

    `data_json` holds one form config (every unit shows it; `units` says how many assignments) or a list of
    configs (one assignment each). The page renders sections, fieldsets, rows and fields, checks every answer
    with the rules in validators.json as the worker types, and the server checks the same rules again before it
    stores a submission. The answer is {field name: value}; uploaded files are stored beside it.
    """

    type_name: ClassVar[str] = "form"
    Args: ClassVar[type[BlueprintArgs]] = FormBlueprintArgs

    def __init__(self, args: BlueprintArgs, task: TaskArgs, task_dir: Path) -> None:
        super().__init__(args, task, task_dir)
        self._configs: list[dict[str, Any]] | None = None

    @property
    def form_args(self) -> FormBlueprintArgs:
        """The arguments with their concrete type."""
        if not isinstance(self.args, FormBlueprintArgs):
            raise TypeError(f"FormBlueprint needs FormBlueprintArgs, got {type(self.args).__name__}")
        return self.args

    @property
    def data_path(self) -> Path:
        """The data_json file, absolute."""
        path = Path(self.form_args.data_json)
        return path if path.is_absolute() else (self.task_dir / path).resolve()

    def _load_configs(self) -> list[dict[str, Any]]:
        if self._configs is None:
            path = self.data_path
            data = load_json(path, DATA_KEY)
            problems = validate_data(data)
            if problems:
                raise ConfigError(problems_text(problems, path), file=path, key=DATA_KEY)
            if isinstance(data, list) and "units" in self.form_args.model_fields_set:
                raise ConfigError(
                    f"blueprint.units applies only when data_json holds a single form, but it holds a list of "
                    f"{len(data)} (one assignment each); remove units",
                    file=path,
                    key="blueprint.units",
                )
            self._configs = data if isinstance(data, list) else [data] * self.form_args.units
        return self._configs

    # ---- Blueprint -----------------------------------------------------------------------------------

    def check(self) -> None:
        """The data file reads as JSON and every form config in it is valid (all problems listed at once)."""
        self._configs = None
        self._load_configs()

    def iter_assignments(self) -> Iterator[dict[str, Any]]:
        """Each assignment's form config (the same one `units` times when data_json holds a single form)."""
        yield from self._load_configs()

    def count_assignments(self) -> int:
        """How many assignments the data makes."""
        return len(self._load_configs())

    def build(self, build_dir: Path) -> None:
        """Write index.html (with the validator table inside) and the page's scripts."""
        write_build(build_dir, self.task.title)

    def init_data(self, inputs: dict[str, Any], unit_index: int) -> dict[str, Any]:
        """The form the unit's page shows."""
        return {"form": inputs["form"]}

    def preview_data(self) -> dict[str, Any]:
        """The first form, which the preview shows with every control disabled."""
        return {"form": self._load_configs()[0]["form"]}

    def validate_outputs(
        self, inputs: dict[str, Any], outputs: dict[str, Any], files: list[UploadedFile]
    ) -> dict[str, str]:
        """The shared rules applied to every field of the unit's form, and the files checked against the answer."""
        return submission_problems(inputs, outputs, files)

    def review_html(
        self, inputs: dict[str, Any], outputs: dict[str, Any], file_urls: dict[str, list[str]]
    ) -> str | None:
        """The form, read-only, with the worker's answers in it and the files as links."""
        return review_html(inputs, outputs, file_urls)

    def simulate_answer(self, init_data: dict[str, Any], rng: random.Random) -> SimulatedAnswer:
        """An answer that passes every validator of the unit's form."""
        return simulate_form(init_data["form"], rng)
