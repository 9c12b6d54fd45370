"""The `mephisto-task` type declarations, checked by the TypeScript compiler: a copy of the react template is
installed with npm (its lock file, `npm ci`; typescript is one of its devDependencies), and `tsc --strict --noEmit`
checks typecheck/uses_every_export.ts, which imports the module and the hook and uses every exported name with
its declared type. A declaration made wrong (a name dropped, a type changed) fails the check, naming the line.

npm's cache is the one tests/e2e/test_react_bundle_browser.py uses (MEPHISTO_TEST_NPM_CACHE, default
~/.cache/mephisto-tests/npm), so a second run installs from disk in seconds."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mephisto_core.cli.init_cmd import available_templates
from mephisto_core.testing.pytest_plugin import unavailable

HERE = Path(__file__).resolve().parent
NPM_CACHE = Path(os.environ.get("MEPHISTO_TEST_NPM_CACHE", Path.home() / ".cache" / "mephisto-tests" / "npm"))
CHECKED = "uses_every_export.ts"
TSCONFIG = {
    "compilerOptions": {
        "strict": True,
        "noEmit": True,
        "target": "ES2022",
        "module": "ESNext",
        "moduleResolution": "Bundler",
        "lib": ["ES2022", "DOM"],
        "types": [],
        "skipLibCheck": False,  # the declarations themselves are checked too
    },
    "files": [CHECKED],
}


def _run(project: Path, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command), cwd=project, capture_output=True, text=True, timeout=300, check=False, env=os.environ.copy()
    )


@pytest.fixture(scope="module")
def ts_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The react template copied and installed with `npm ci`, the checked file and a strict tsconfig.json added."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        unavailable("npm and node are needed to type-check the mephisto-task declarations (apt-get install nodejs npm)")
    project = tmp_path_factory.mktemp("typecheck") / "react-task"
    template = Path(str(available_templates()["react"]))
    shutil.copytree(template, project, ignore=shutil.ignore_patterns("node_modules", "dist"))
    npm_flags = ("--cache", str(NPM_CACHE), "--no-audit", "--no-fund", "--prefer-offline")
    installed = _run(project, "npm", "ci", *npm_flags)
    assert installed.returncode == 0, f"npm ci failed:\n{installed.stdout}\n{installed.stderr}"
    shutil.copy(HERE / "typecheck" / CHECKED, project / CHECKED)
    (project / "tsconfig.json").write_text(json.dumps(TSCONFIG, indent=2), encoding="utf-8")
    yield project


def _tsc(project: Path) -> subprocess.CompletedProcess[str]:
    # --no-install: the compiler must come from the template's own devDependencies, never fetched on the fly.
    return _run(project, "npx", "--no-install", "tsc", "--noEmit", "-p", "tsconfig.json")


def test_every_export_type_checks_as_declared(ts_project: Path) -> None:
    checked = _tsc(ts_project)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # The compiler is the template's own (the lock file's version), not one found elsewhere.
    installed = json.loads((ts_project / "node_modules" / "typescript" / "package.json").read_text(encoding="utf-8"))
    assert installed["version"].startswith("5."), installed["version"]


def _line_of(text: str) -> int:
    """The 1-based line of the checked file holding `text`."""
    lines = (HERE / "typecheck" / CHECKED).read_text(encoding="utf-8").splitlines()
    (number,) = [at for at, line in enumerate(lines, start=1) if text in line]
    return number


# (declaration file, what it says, the wrong version, what tsc then reports): one compiler run for all three.
WRONG = [
    (
        "index.d.ts",
        "export function call<Result = unknown>(name: string, args?: unknown): Promise<Result>;\n",
        "",
        f"({_line_of('  call,')},3): error TS2305: Module '\"mephisto-task\"' has no exported member 'call'.",
    ),
    (
        "react.d.ts",
        "  submitting: boolean;\n",
        "  submitting: number;\n",
        f"({_line_of('task.submitting,')},5): error TS2322: Type 'number' is not assignable to type 'boolean'.",
    ),
    (
        "index.d.ts",
        "export function getWorkerId(): string | null;",
        "export function getWorkerId(): any;",
        f"({_line_of('may carry no worker id')},3): error TS2578: Unused '@ts-expect-error' directive.",
    ),
]


def test_wrong_declarations_fail_the_check(ts_project: Path) -> None:
    """A name dropped, a type changed and a type loosened to `any`: each is reported against the checked file."""
    # The declarations tsc reads: node_modules/mephisto-task links to ./mephisto-task, except with Debian 12's npm
    # 9.2, whose `install-links` default copies a `file:` dependency instead.
    folder = (ts_project / "node_modules" / "mephisto-task").resolve()
    originals = {name: (folder / name).read_text(encoding="utf-8") for name in ("index.d.ts", "react.d.ts")}
    changed = dict(originals)
    for name, right, wrong, _ in WRONG:
        assert changed[name].count(right) == 1, f"{name} no longer holds {right!r}: update this test"
        changed[name] = changed[name].replace(right, wrong)
    try:
        for name, text in changed.items():
            (folder / name).write_text(text, encoding="utf-8")
        checked = _tsc(ts_project)
    finally:
        for name, text in originals.items():
            (folder / name).write_text(text, encoding="utf-8")
    output = checked.stdout + checked.stderr
    assert checked.returncode != 0, output
    for *_, reported in WRONG:
        assert f"{CHECKED}{reported}" in output, output
