"""What a plugin may import from mephisto-core (its public API), and a scan that finds anything else.

The public API is, on purpose, small and explicit:

- `mephisto_core` itself: `hookimpl` and `__version__`;
- the names in `__all__` of the packages in `PUBLIC_PACKAGES` (`from mephisto_core.abstractions import
  CrowdProvider`), imported from the package, never from the module inside it that defines them;
- every name without a leading underscore of the one-module APIs in `PUBLIC_MODULES` (hooks, errors, settings,
  text_files).

Everything else (operations, cli, plugins, task_config, review_app, router internals, the packages' own
submodules) may change in any release. `internal_core_imports(folder)` lists the imports in a plugin's source
that reach past this line; docs/plugins.md explains the rule and tests/plugins/test_public_api.py applies it to
every plugin in this repository.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

CORE = "mephisto_core"
#: Packages whose `__all__` is public, imported from the package itself.
PUBLIC_PACKAGES: tuple[str, ...] = (
    "mephisto_core.abstractions",
    "mephisto_core.data_model",
    "mephisto_core.router",
    "mephisto_core.testing",
)
#: One-module APIs: every name in them without a leading underscore is public.
PUBLIC_MODULES: tuple[str, ...] = (
    "mephisto_core.hookspecs",
    "mephisto_core.errors",
    "mephisto_core.settings",
    "mephisto_core.text_files",
)
#: The names the top-level package offers.
TOP_LEVEL_NAMES: frozenset[str] = frozenset({"hookimpl", "__version__"})


@dataclass(frozen=True)
class InternalImport:
    """One import of a core name or module that is not public: where it is and what it imports."""

    file: Path
    line: int
    imported: str  # e.g. "mephisto_core.operations.providers" or "mephisto_core.abstractions.ledger.ActionLedger"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.imported}"


def public_names(module: str) -> frozenset[str]:
    """The names a plugin may import from `module`; empty when the module is not public at all."""
    if module == CORE:
        return TOP_LEVEL_NAMES
    if module in PUBLIC_PACKAGES:
        return frozenset(getattr(importlib.import_module(module), "__all__", ()))
    if module in PUBLIC_MODULES:
        return frozenset(name for name in vars(importlib.import_module(module)) if not name.startswith("_"))
    return frozenset()


def _problems_in(tree: ast.AST, file: Path) -> Iterable[InternalImport]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                # `import mephisto_core.x` binds the module: only a public package or module is allowed.
                if _is_core(alias.name) and alias.name not in (CORE, *PUBLIC_PACKAGES, *PUBLIC_MODULES):
                    yield InternalImport(file, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and _is_core(node.module):
            allowed = public_names(node.module)
            for alias in node.names:
                if alias.name not in allowed:
                    yield InternalImport(file, node.lineno, f"{node.module}.{alias.name}")


def _is_core(module: str) -> bool:
    return module == CORE or module.startswith(CORE + ".")


def internal_core_imports(folder: Path) -> list[InternalImport]:
    """Every import under `folder` (all `*.py`, TYPE_CHECKING blocks and function bodies included) of a core
    module or name that is not public."""
    found: list[InternalImport] = []
    for file in sorted(Path(folder).rglob("*.py")):
        tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
        found.extend(_problems_in(tree, file))
    return found
