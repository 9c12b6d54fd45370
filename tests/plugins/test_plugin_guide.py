"""Meta-tests: docs/plugins.md documents every hook and every public method of the three base classes, and each
of them is exercised by at least one test (called, or implemented by a test plugin the core then drives)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from mephisto_core import hookspecs
from mephisto_core.abstractions import Architect, Blueprint, CrowdProvider

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "plugins.md"
BASES: tuple[type, ...] = (Blueprint, Architect, CrowdProvider)


def _hooks() -> list[str]:
    return sorted(name for name in vars(hookspecs) if name.startswith("mephisto_") and callable(vars(hookspecs)[name]))


def _public_methods(cls: type) -> list[str]:
    """The methods (plain, class- and static) a subclass may override or call, as the class defines them."""
    return sorted(
        name
        for name, value in vars(cls).items()
        if not name.startswith("_") and (inspect.isfunction(value) or isinstance(value, (classmethod, staticmethod)))
    )


def _test_sources() -> str:
    files = [*REPO.glob("tests/**/*.py"), *REPO.glob("plugins/*/tests/**/*.py")]
    return "\n".join(p.read_text(encoding="utf-8") for p in files if p.resolve() != Path(__file__).resolve())


METHODS = [(cls.__name__, name) for cls in BASES for name in _public_methods(cls)]


def test_the_scan_sees_the_hooks_and_methods() -> None:
    assert len(_hooks()) >= 4
    assert ("CrowdProvider", "simulated_worker_params") in METHODS
    assert ("Architect", "deploy") in METHODS
    assert ("Blueprint", "iter_assignments") in METHODS


@pytest.mark.parametrize("hook", _hooks())
def test_every_hook_is_documented_and_implemented_in_a_test(hook: str) -> None:
    assert f"`{hook}`" in GUIDE.read_text(encoding="utf-8"), f"docs/plugins.md does not document {hook}"
    assert re.search(rf"def {hook}\(", _test_sources()), f"no test plugin implements {hook}"


@pytest.mark.parametrize(("cls_name", "method"), METHODS, ids=[f"{c}.{m}" for c, m in METHODS])
def test_every_base_class_method_is_documented_and_exercised(cls_name: str, method: str) -> None:
    guide = GUIDE.read_text(encoding="utf-8")
    section = guide.split(f"\n## {cls_name}\n", 1)[-1].split("\n## ", 1)[0]
    assert f"`{method}(" in section or f"`{method}`" in section, f"docs/plugins.md's {cls_name} section lacks {method}"
    # Called directly (`.method(`), or implemented by a test's plugin class that the core then calls.
    assert re.search(rf"(\.{method}\(|def {method}\()", _test_sources()), f"no test exercises {cls_name}.{method}"
