"""Whether the built bundle exists and is newer than what it is built from (the launch never builds it)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from mephisto_core.errors import ConfigError

KEY = "blueprint.bundle_dir"
# Never part of a bundle's sources even inside a source folder.
_SKIPPED_DIRS = {"node_modules", ".git", "__pycache__"}


def newest_file(paths: Iterable[Path]) -> tuple[float, Path] | None:
    """The latest modification time among the files under `paths` (folders walked), with its file."""
    newest: tuple[float, Path] | None = None
    for path in paths:
        if path.is_file():
            candidates: Iterable[Path] = [path]
        elif path.is_dir():
            candidates = _walk(path)
        else:
            continue
        for file in candidates:
            stamp = file.stat().st_mtime
            if newest is None or stamp > newest[0]:
                newest = (stamp, file)
    return newest


def _walk(folder: Path) -> Iterable[Path]:
    for directory, dirnames, filenames in os.walk(folder):
        dirnames[:] = [name for name in dirnames if name not in _SKIPPED_DIRS]
        for name in filenames:
            yield Path(directory) / name


def check_built(bundle_dir: Path, sources: list[Path], project_dir: Path, command: str, fresh: bool) -> None:
    """Raise ConfigError telling the user to build when `bundle_dir/index.html` is missing or (with `fresh`)
    older than the newest file of `sources`."""
    how = f"build it first: cd {project_dir} && npm install && {command}"
    if not bundle_dir.is_dir():
        raise ConfigError(
            f"the built bundle is missing (no folder {bundle_dir.name}/); {how}", file=bundle_dir, key=KEY
        )
    page = bundle_dir / "index.html"
    if not page.is_file():
        raise ConfigError(f"has no index.html, so it is not a built page; {how}", file=bundle_dir, key=KEY)
    if not fresh:
        return
    newest = newest_file(sources)
    if newest is not None and newest[0] > page.stat().st_mtime:
        changed = newest[1]
        shown = changed.relative_to(project_dir) if changed.is_relative_to(project_dir) else changed
        raise ConfigError(
            f"is older than its sources ({shown} changed after the last build); rebuild it: cd {project_dir} && "
            f"{command} (or set check_freshness = false for a bundle built elsewhere)",
            file=bundle_dir,
            key=KEY,
        )
