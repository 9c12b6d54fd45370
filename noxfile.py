"""Developer and CI sessions: `nox -s tests` (what CI runs), `lint`, `demo` and `bench`.

Every session installs the core and every plugin under plugins/ editable into its own virtualenv, so the
tests see the plugins exactly as a user's `pip install` would register them (entry points included).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "tests"]

PYTHON = "3.11"
ROOT = Path(__file__).parent


def plugin_dirs() -> list[Path]:
    """Every first-party plugin distribution (a folder of plugins/ with a pyproject.toml)."""
    return sorted(pyproject.parent for pyproject in (ROOT / "plugins").glob("*/pyproject.toml"))


def install_project(session: nox.Session, *extra: str) -> None:
    """The core with its test extra and every plugin, editable, in one pip run so they resolve together."""
    editable_plugins = [arg for plugin in plugin_dirs() for arg in ("-e", str(plugin))]
    session.install("-e", f"{ROOT}[test]", *editable_plugins, *extra)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the core's and the plugins' tests. No test collected is a failure (pytest exits 5)."""
    install_project(session)
    # Any non-zero exit fails the session, including 5 ("no tests collected"): an empty run proves nothing.
    session.run("pytest", "tests", "plugins", "-p", "no:cacheprovider", *session.posargs, success_codes=[0])


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff lint and format check over the tree; mypy --strict on the core and every plugin's src/."""
    install_project(session, "ruff>=0.5", "mypy>=1.10")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    packages = [str(package.parent) for package in sorted(ROOT.glob("plugins/*/src/*/__init__.py"))]
    session.run("mypy", "src/mephisto_core", *packages)


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """Create a task from the `static` template and run it with 5 simulated workers on the default SQLite."""
    install_project(session)
    workdir = Path(session.create_tmp()) / "demo"
    # Reused virtualenvs keep .nox/demo/tmp; a task folder left by the last run would make `init` refuse.
    shutil.rmtree(workdir, ignore_errors=True)
    env = {"MEPHISTO_DATA_DIR": str(workdir / "data"), "MEPHISTO_CONFIG_FILE": str(workdir / "config.toml")}
    task_dir = workdir / "task"
    session.run("mephisto", "init", str(task_dir), "--template", "static", env=env)
    session.run("mephisto", "launch", str(task_dir / "task.toml"), "--simulate", "5", env=env)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Run every benchmarks/*.py script; each prints one JSON line with its measurements."""
    install_project(session)
    scripts = sorted((ROOT / "benchmarks").glob("*.py"))
    if not scripts:
        session.error("no benchmarks/*.py scripts found")
    for script in scripts:
        session.run("python", str(script))
