"""Fixtures for the router tests: a build dir with traps for path traversal, and `async def` tests."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any

import pytest
from router_build_files import APP_JS, INDEX_HTML, OUTSIDE_SECRET


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run `async def` tests in a fresh event loop (the router tests need no async plugin)."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    arguments: dict[str, Any] = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    asyncio.run(pyfuncitem.obj(**arguments))
    return True


@pytest.fixture
def build_dir(tmp_path: Path) -> Path:
    """A task build dir next to files it must never serve.

    build/index.html, build/sub/app.js, build/sub/data.json, build/.env (dot-file), build/empty-dir/,
    build/link-out -> ../outside.txt (symlink leaving the dir), build/link-in -> sub/app.js (stays inside).
    """
    build = tmp_path / "build"
    (build / "sub").mkdir(parents=True)
    (build / "empty-dir").mkdir()
    (build / "index.html").write_bytes(INDEX_HTML)
    (build / "sub" / "app.js").write_bytes(APP_JS)
    (build / "sub" / "data.json").write_text('{"a": 1}')
    (build / ".env").write_text("SECRET=1\n")
    (tmp_path / "outside.txt").write_bytes(OUTSIDE_SECRET)
    (build / "link-out").symlink_to(tmp_path / "outside.txt")
    (build / "link-in").symlink_to(build / "sub" / "app.js")
    return build
