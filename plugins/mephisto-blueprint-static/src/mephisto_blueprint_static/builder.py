"""Write what the router serves for a static task: the page, its script, and the task's extra files."""

from __future__ import annotations

import html
from importlib import resources
from pathlib import Path

from mephisto_blueprint_static.served_folder import check_links, copy_served_folder
from mephisto_core.errors import ConfigError

PAGE_NAME = "index.html"
SCRIPT_NAME = "static-task.js"
CLIENT_NAME = "mephisto-task.js"  # served by the router itself
RESERVED_NAMES = frozenset({PAGE_NAME, SCRIPT_NAME, CLIENT_NAME})
EXTRA_KEY = "blueprint.extra_source_dir"


def _asset(name: str) -> str:
    return resources.files("mephisto_blueprint_static").joinpath("assets", name).read_text(encoding="utf-8")


def render_page(title: str, submit_button_text: str) -> str:
    """index.html for a task with this title and submit button label."""
    page = _asset(PAGE_NAME)
    page = page.replace("__TASK_TITLE__", html.escape(title, quote=True))
    return page.replace("__SUBMIT_BUTTON_TEXT__", html.escape(submit_button_text, quote=True))


def write_build(build_dir: Path, title: str, submit_button_text: str, extra_source_dir: Path | None) -> None:
    """Fill `build_dir` with the extra files (if any), then the page and its script."""
    if extra_source_dir is not None:
        check_extra_source_dir(extra_source_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    if extra_source_dir is not None:
        copy_served_folder(extra_source_dir, build_dir, EXTRA_KEY)
    (build_dir / PAGE_NAME).write_text(render_page(title, submit_button_text), encoding="utf-8")
    (build_dir / SCRIPT_NAME).write_text(_asset(SCRIPT_NAME), encoding="utf-8")


def check_extra_source_dir(path: Path) -> None:
    """The folder exists, holds none of the names the page itself needs, and no link that leaves it."""
    if not path.exists():
        raise ConfigError("folder not found", file=path, key=EXTRA_KEY)
    if not path.is_dir():
        raise ConfigError("is not a folder", file=path, key=EXTRA_KEY)
    try:
        clashes = sorted(entry.name for entry in path.iterdir() if entry.name in RESERVED_NAMES)
    except PermissionError as exc:
        raise ConfigError("cannot be read (permission denied)", file=path, key=EXTRA_KEY) from exc
    if clashes:
        raise ConfigError(
            f"holds {', '.join(clashes)}, which the static task page itself uses; rename "
            f"{'it' if len(clashes) == 1 else 'them'} (reserved names: {', '.join(sorted(RESERVED_NAMES))})",
            file=path,
            key=EXTRA_KEY,
        )
    check_links(path, EXTRA_KEY)
