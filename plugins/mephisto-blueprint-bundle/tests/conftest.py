"""Fixtures: a bundle task folder (a built dist/ and a data file) and its blueprint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from bundle_support import MakeBundle, write_files
from mephisto_blueprint_bundle.args import BundleBlueprintArgs
from mephisto_blueprint_bundle.blueprint import BundleBlueprint

from mephisto_core.abstractions import TaskArgs

BUILT_PAGE = (
    '<!doctype html><html><head><meta charset="utf-8"><title>t</title>'
    '<script type="module" crossorigin src="./assets/app.js"></script></head>'
    '<body><div id="root"></div></body></html>'
)


@pytest.fixture
def task_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "task"
    folder.mkdir()
    return folder


@pytest.fixture
def make_bundle(task_dir: Path) -> MakeBundle:
    """make_bundle(files={name: text}, built=True, **blueprint_args) -> BundleBlueprint for a task in `task_dir`.

    Without a data key a two-row CSV is written; with `built`, dist/index.html and dist/assets/app.js are
    written after the other files (so the bundle is newer than its sources).
    """

    def make(files: dict[str, str] | None = None, built: bool = True, **args: Any) -> BundleBlueprint:
        files = dict(files or {})
        if not any(key in args for key in ("data_csv", "data_json", "data_jsonl")):
            files.setdefault("data.csv", "sentence\nfirst one\nsecond one\n")
            args["data_csv"] = "data.csv"
        write_files(task_dir, files)
        if built:
            write_files(task_dir, {"dist/index.html": BUILT_PAGE, "dist/assets/app.js": "console.log('app');\n"})
        task = TaskArgs(name="bundle-test", title="Rate <things>", description="Say how they sound.")
        return BundleBlueprint(BundleBlueprintArgs(**args), task, task_dir)

    return make
