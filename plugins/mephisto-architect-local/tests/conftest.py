"""Fixtures: a build directory with a recognisable page, and a port some other program holds."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

PAGE = "<!doctype html><title>local architect test</title><p>hello from the build dir</p>"


@pytest.fixture
def build_dir(tmp_path: Path) -> Path:
    """A task build: index.html and one asset."""
    root = tmp_path / "build"
    root.mkdir()
    (root / "index.html").write_text(PAGE, encoding="utf-8")
    (root / "style.css").write_text("p { color: teal; }", encoding="utf-8")
    return root


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port on 127.0.0.1 with another program listening on it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]
