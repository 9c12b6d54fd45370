"""The `bundle` blueprint: serve a page the researcher built (dist/ of Vite, webpack, ...), one unit per data row."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from mephisto_blueprint_static.data import iter_rows, read_text
from mephisto_blueprint_static.served_folder import check_links, copy_served_folder, warn_private_files_served

from mephisto_blueprint_bundle.args import BundleBlueprintArgs
from mephisto_blueprint_bundle.freshness import KEY as BUNDLE_KEY
from mephisto_blueprint_bundle.freshness import check_built
from mephisto_blueprint_bundle.page import NoPlaceForClient, inject_client
from mephisto_core.abstractions import Blueprint, BlueprintArgs, SimulatedAnswer, UploadedFile
from mephisto_core.errors import ConfigError

if TYPE_CHECKING:
    from mephisto_core.abstractions import TaskArgs

PAGE_NAME = "index.html"
MODULE_NAME = "mephisto-task.mjs"  # the ES module, for pages that import it without a bundler
RESERVED_NAMES = frozenset({"mephisto-task.js", MODULE_NAME})  # the first is served by the router itself


def client_module() -> str:
    """The text of the `mephisto-task` ES module (index.mjs), served at /mephisto-task.mjs."""
    folder = resources.files("mephisto_blueprint_bundle").joinpath("client", "mephisto-task")
    return folder.joinpath("index.mjs").read_text(encoding="utf-8")


class BundleBlueprint(Blueprint):
    """A prebuilt app as the task page, as the original's `static_react_task` ran a React bundle.

    The researcher builds `bundle_dir` with their own toolchain; the launch never runs npm. The build copies the
    folder, puts `<script src="/mephisto-task.js">` first in its index.html (so `window.mephisto` exists before
    the app runs) and adds the ES module as /mephisto-task.mjs. Each data row is one assignment, and the row
    itself is the page's `initialTaskData`. Answers are whatever object the app submits; `required_outputs`
    and `upload_fields` are checked on the server.
    """

    type_name: ClassVar[str] = "bundle"
    Args: ClassVar[type[BlueprintArgs]] = BundleBlueprintArgs

    def __init__(self, args: BlueprintArgs, task: TaskArgs, task_dir: Path) -> None:
        super().__init__(args, task, task_dir)
        self._rows_checked: int | None = None
        self._preview: str | None = None
        self._onboarding: dict[str, Any] | None = None

    @property
    def bundle_args(self) -> BundleBlueprintArgs:
        """The arguments with their concrete type."""
        if not isinstance(self.args, BundleBlueprintArgs):
            raise TypeError(f"BundleBlueprint needs BundleBlueprintArgs, got {type(self.args).__name__}")
        return self.args

    def _resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else (self.task_dir / path).resolve()

    @property
    def bundle_dir(self) -> Path:
        """The built folder, resolved against the task folder."""
        return self._resolve(self.bundle_args.bundle_dir)

    def _data_path(self) -> Path:
        value = getattr(self.bundle_args, self.bundle_args.data_key)
        assert isinstance(value, Path)  # the args model requires one data key
        return self._resolve(value)

    # ---- checks --------------------------------------------------------------------------------------

    def _check_bundle(self) -> None:
        args = self.bundle_args
        bundle = self.bundle_dir
        if bundle == self.task_dir.resolve() or self.task_dir.resolve().is_relative_to(bundle):
            raise ConfigError(
                "is the task folder (or holds it): every file in it would be served to workers; point it at "
                "the build output (dist)",
                file=bundle,
                key=BUNDLE_KEY,
            )
        sources = [self._resolve(source) for source in args.sources]
        check_built(bundle, sources, self.task_dir, args.build_command, args.check_freshness)
        clashes = sorted(name for name in RESERVED_NAMES if (bundle / name).exists())
        if clashes:
            raise ConfigError(
                f"holds {', '.join(clashes)}, which Mephisto serves itself; rename or remove it",
                file=bundle,
                key=BUNDLE_KEY,
            )
        check_links(bundle, BUNDLE_KEY)
        private = [("the data file " + self._data_path().name, self._data_path())]
        warn_private_files_served(bundle, private, BUNDLE_KEY)

    def _check_side_files(self) -> None:
        self.preview_data()
        self.onboarding_data()

    def check(self) -> None:
        """The bundle is built and fresh, the preview and onboarding files read, every data row parses."""
        self._check_bundle()
        self._check_side_files()
        self._rows_checked = sum(1 for _ in iter_rows(self._data_path(), self.bundle_args.data_key))

    def check_launch(self) -> None:
        """As `check()`, but only the first data row: `iter_assignments` checks the others as it reads them."""
        self._check_bundle()
        self._check_side_files()
        next(iter_rows(self._data_path(), self.bundle_args.data_key))

    # ---- assignments ---------------------------------------------------------------------------------

    def iter_assignments(self) -> Iterator[dict[str, Any]]:
        """Each data row as a dict of column name to value; a bad row raises ConfigError naming its line."""
        for row in iter_rows(self._data_path(), self.bundle_args.data_key):
            yield row.values

    def count_assignments(self) -> int:
        """The number of data rows (counted by `check()` when it ran)."""
        if self._rows_checked is not None:
            return self._rows_checked
        return sum(1 for _ in self.iter_assignments())

    def build(self, build_dir: Path) -> None:
        """Copy the bundle, put the client's script first in its index.html, and add /mephisto-task.mjs."""
        self._check_bundle()
        build_dir.mkdir(parents=True, exist_ok=True)
        copy_served_folder(self.bundle_dir, build_dir, BUNDLE_KEY)
        page = build_dir / PAGE_NAME
        try:
            page.write_text(inject_client(page.read_text(encoding="utf-8")), encoding="utf-8")
        except NoPlaceForClient as exc:
            raise ConfigError(str(exc), file=self.bundle_dir / PAGE_NAME, key=BUNDLE_KEY) from exc
        except UnicodeDecodeError as exc:
            raise ConfigError("index.html is not UTF-8 text", file=self.bundle_dir / PAGE_NAME, key=BUNDLE_KEY) from exc
        (build_dir / MODULE_NAME).write_text(client_module(), encoding="utf-8")

    # ---- what the page receives ------------------------------------------------------------------------

    def init_data(self, inputs: dict[str, Any], unit_index: int) -> dict[str, Any]:
        """The data row itself."""
        return dict(inputs)

    def preview_data(self) -> dict[str, Any]:
        """The task's title and description, and the preview file's HTML when one is given."""
        data: dict[str, Any] = {"title": self.task.title, "description": self.task.description}
        source = self.bundle_args.preview_source
        if source is not None:
            if self._preview is None:
                self._preview = read_text(self._resolve(source), "blueprint.preview_source")
            data["html"] = self._preview
        return data

    def has_onboarding(self) -> bool:
        """Whether an onboarding data file was given."""
        return self.bundle_args.onboarding_data is not None

    def onboarding_data(self) -> dict[str, Any]:
        """The onboarding file's object (empty without onboarding)."""
        source = self.bundle_args.onboarding_data
        if source is None:
            return {}
        if self._onboarding is None:
            path = self._resolve(source)
            try:
                value = json.loads(read_text(path, "blueprint.onboarding_data"))
            except json.JSONDecodeError as exc:
                raise ConfigError(
                    f"is not valid JSON: {exc.msg}", file=path, key="blueprint.onboarding_data", line=exc.lineno
                ) from exc
            if not isinstance(value, dict):
                raise ConfigError(
                    f"must hold one JSON object (the onboarding page's data), not a {type(value).__name__}",
                    file=path,
                    key="blueprint.onboarding_data",
                )
            self._onboarding = value
        return dict(self._onboarding)

    def validate_onboarding(self, outputs: dict[str, Any]) -> bool:
        """Every onboarding submission passes; `[task.onboarding]` in the task file grades it instead."""
        return True

    def validate_outputs(
        self, inputs: dict[str, Any], outputs: dict[str, Any], files: list[UploadedFile]
    ) -> dict[str, str]:
        """Each of `required_outputs` is present and not empty; files come only under `upload_fields`."""
        args = self.bundle_args
        problems: dict[str, str] = {}
        for name in args.required_outputs:
            if outputs.get(name) in (None, "", [], {}):
                problems[name] = "This answer is required."
        allowed = set(args.upload_fields)
        for file in files:
            if file.field not in allowed:
                accepted = ", ".join(args.upload_fields) or "none"
                problems[file.field] = f"This task takes no file named {file.field!r} (upload fields: {accepted})."
        return problems

    def simulate_answer(self, init_data: dict[str, Any], rng: random.Random) -> SimulatedAnswer:
        """A word for each required output (the app's own answer shape is unknown to the server)."""
        words = ("alpha", "bravo", "charlie", "delta")
        return SimulatedAnswer(outputs={name: rng.choice(words) for name in self.bundle_args.required_outputs})
