"""Shared by the bundle blueprint's tests (imported by bare name)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from mephisto_blueprint_bundle.blueprint import BundleBlueprint


class MakeBundle(Protocol):
    """The `make_bundle` fixture's signature."""

    def __call__(self, files: dict[str, str] | None = None, built: bool = True, **args: Any) -> BundleBlueprint: ...


def write_files(folder: Path, files: dict[str, str]) -> None:
    """Write each relative path's text under `folder`, making folders as needed."""
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
