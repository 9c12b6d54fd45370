"""Fixtures for the annotate blueprint's tests: a task folder with data rows and a task file built from schemes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from annotate_support import write_task


@pytest.fixture
def make_task(tmp_path: Path) -> Callable[..., Path]:
    """make_task(schemes_toml, rows=None, extra="") -> task.toml in a fresh folder (see `write_task`)."""

    def make(schemes: str, rows: list[dict[str, str]] | None = None, extra: str = "") -> Path:
        return write_task(tmp_path / "task", schemes, rows, extra)

    return make
