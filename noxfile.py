"""Developer and CI sessions: `nox -s tests` (what CI runs), `lint`, `demo` and `bench`.

Every session installs the core and every plugin under plugins/ editable into its own virtualenv, so the
tests see the plugins exactly as a user's `pip install` would register them (entry points included).
"""

from __future__ import annotations

import fnmatch
import hashlib
import shutil
import time
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
    """ruff lint and format check over the tree; mypy --strict on the core, every plugin's src/ and the benchmarks."""
    install_project(session, "ruff>=0.5", "mypy>=1.10")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    packages = [str(package.parent) for package in sorted(ROOT.glob("plugins/*/src/*/__init__.py"))]
    session.run("mypy", "src/mephisto_core", *packages)
    session.run("mypy", "benchmarks")  # apart: its scripts import their helpers as top-level modules


def install_for_demo(session: nox.Session) -> None:
    """The core and every plugin, editable, without extras; skipped when a reused virtualenv has them already.

    Editable installs follow code changes by themselves; only a changed pyproject.toml (dependencies, entry
    points) needs pip again, so a stamp of those files decides. Building 13 editable wheels in isolated build
    environments costs most of a minute; building them with the venv's own setuptools costs seconds.
    """
    projects = [ROOT, *plugin_dirs()]
    digest = hashlib.sha256(b"".join((p / "pyproject.toml").read_bytes() for p in projects)).hexdigest()
    stamp = Path(session.virtualenv.location) / "demo-installed.sha256"
    if stamp.is_file() and stamp.read_text() == digest:
        session.log("core and plugins already installed (pyproject files unchanged)")
        return
    session.install("setuptools>=68", "wheel")
    session.install("--no-build-isolation", *(arg for project in projects for arg in ("-e", str(project))))
    stamp.write_text(digest)


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """Create a task from the `static` template and run it with 5 simulated workers on the default SQLite.

    Installs only what the demo runs (the core and the plugins, no test or lint tools), on a free port, in a fresh
    data dir under the session's tmp folder that stays there afterwards for `mephisto review` and `export`.
    """
    install_for_demo(session)
    workdir = Path(session.create_tmp()).resolve() / "demo"
    # Reused virtualenvs keep .nox/demo/tmp; a task folder left by the last run would make `init` refuse.
    shutil.rmtree(workdir, ignore_errors=True)
    data_dir = workdir / "data"
    env = {"MEPHISTO_DATA_DIR": str(data_dir), "MEPHISTO_CONFIG_FILE": str(workdir / "config.toml")}
    task_dir = workdir / "demo-task"  # the folder name becomes the task name
    session.log(f"demo data dir: {data_dir}")
    session.run("mephisto", "init", str(task_dir), "--template", "static", env=env)
    # architect.port=0: the system picks a free port, so a rerun never fails on a port left busy.
    session.run("mephisto", "launch", str(task_dir / "task.toml"), "architect.port=0", "--simulate", "5", env=env)
    mephisto = Path(session.bin) / "mephisto"
    session.log(
        f"The demo's data is in {data_dir}. To review or export it, point mephisto at it:\n"
        f"  export MEPHISTO_DATA_DIR={data_dir} MEPHISTO_CONFIG_FILE={workdir / 'config.toml'}\n"
        f"  {mephisto} review --task demo-task\n"
        f"  {mephisto} export --task demo-task --format csv -o demo.csv"
    )


# The bench session's runs, in order: (script stem, its arguments). About 10-15 minutes on a 2-core machine.
# load_e2e at 10, 100 and 1,000 workers on SQLite runs inside scaling.py (which also draws
# docs/performance-scaling.png); the PostgreSQL and router-subprocess runs are listed here.
BENCH_RUNS: list[tuple[str, list[str]]] = [
    ("cli_startup", []),
    ("export_100k", []),
    ("export_100k", ["--db", "postgresql"]),
    # The review app's API calls at 100,000 units, SQLite then PostgreSQL (~1 min each).
    ("review_100k", []),
    ("review_100k", ["--db", "postgresql"]),
    # A bulk approve of 200 MTurk units, the fake MTurk answering each call in 0.1 s (~10 s).
    ("review_bulk_mturk", []),
    # The same on Prolific: a bulk approve and a bulk bonus of 200 units, the fake answering in 0.2 s (~30 s).
    ("review_bulk_prolific", []),
    ("review_bulk_prolific", ["--action", "bonus"]),
    # Ctrl-C on an MTurk launch of 200 units until every HIT is withdrawn, the fake answering in 0.1 s (~15 s).
    ("mturk_stop", []),
    # MTurk's in-run sync of 1,000 held units, one listing against a GetHIT each, at 0.1 s per call (~30 s).
    ("mturk_sync", []),
    # Prolific's in-run sync of 20 held units in a study of 3,000 submissions, at 0.2 s per call (~20 s).
    ("prolific_sync", []),
    ("launch_100k", []),
    ("idle_connections", []),
    # Page loads (page + script) over TLS, kept alive as browsers ask and one connection per request (~1 min).
    ("page_loads", []),
    # A worker's first and next visit in Chromium on a throttled connection (1.6 Mbit/s, 150 ms), form template.
    ("page_open_browser", []),
    # PostgreSQL and SQLite at the same load, one after the other: the ratio of their units/s (issue 20).
    ("load_e2e", ["--workers", "100", "--units", "3000", "--db", "postgresql"]),
    ("load_e2e", ["--workers", "100", "--units", "3000", "--db", "sqlite"]),
    # PostgreSQL "on another machine": 1 ms added each way by a relay (a round trip of ~2.5 ms, a cloud database).
    ("load_e2e", ["--workers", "100", "--units", "3000", "--db", "postgresql", "--db-one-way-ms", "1"]),
    # The default (`auto`: the router in its own process on 2+ cores) and the router in the operator's process.
    ("load_e2e", ["--workers", "1000", "--units", "15000"]),
    ("load_e2e", ["--workers", "1000", "--units", "15000", "--router-mode", "in_process"]),
    # Workers that think 1 s per unit: the start-up burst and the steady state at 1,000 and 5,000 (~30 s each).
    ("load_e2e", ["--workers", "1000", "--units", "10000", "--think-seconds", "1"]),
    # The same burst with two routers on the port (`router_processes`): the busiest router's CPU in the opening.
    (
        "load_e2e",
        ["--workers", "1000", "--units", "10000", "--think-seconds", "1", "--set", "architect.router_processes=2"],
    ),
    ("load_e2e", ["--workers", "5000", "--units", "15000", "--think-seconds", "1"]),
    # HEAD against the install named by MEPHISTO_BENCH_BASELINE (its `mephisto`), 2 rounds (~2 min); skipped without.
    ("ab", ["--rounds", "2", "--", "--workers", "1000", "--units", "15000"]),
    ("scaling", []),
    ("scale_out", []),
    # Live tasks: 250 two-worker conversations (docs/performance.md's quiet-machine p99 figure), procedure calls.
    ("live_chat", ["--conversations", "250", "--turns", "10", "--think", "0.5"]),
    ("live_procedures", ["--workers", "100", "--calls", "20", "--pause", "1"]),
]


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Run the benchmarks in BENCH_RUNS order; each prints one JSON line, collected into one file at the end.

    Arguments after `--` select scripts by name (shell-style patterns allowed): `./dev bench -- idle_connections`.
    """
    scripts = {path.stem for path in (ROOT / "benchmarks").glob("[!_]*.py")}
    unlisted = sorted(scripts - {name for name, _ in BENCH_RUNS})
    if unlisted:
        session.error(f"benchmarks/{', '.join(unlisted)}.py: not in noxfile.BENCH_RUNS; add it in its place")
    runs = BENCH_RUNS
    if session.posargs:
        unknown = [p for p in session.posargs if not fnmatch.filter(sorted(scripts), p)]
        if unknown:
            session.error(f"no benchmark matches {', '.join(unknown)}; the scripts are: {', '.join(sorted(scripts))}")
        runs = [run for run in BENCH_RUNS if any(fnmatch.fnmatch(run[0], p) for p in session.posargs)]
    install_project(session, "matplotlib")
    # Measure what users run: Python with its bytecode cache. Some machines (CI images among them) set
    # PYTHONDONTWRITEBYTECODE, which makes every `mephisto` start-up compile its sources again (~0.3 s).
    session.env["PYTHONDONTWRITEBYTECODE"] = ""
    # Written line by line, so the runs before a failing one keep their results.
    results = Path(session.create_tmp()) / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
    session.log(f"result lines go to {results}")
    for name, arguments in runs:
        # stderr (progress, abort messages) goes to the terminal; stdout is the script's JSON line.
        output = session.run("python", str(ROOT / "benchmarks" / f"{name}.py"), *arguments, silent=True, stderr=None)
        for line in str(output or "").splitlines():
            print(line)
            if line.startswith("{"):
                with results.open("a", encoding="utf-8") as fh:
                    fh.write(line + "\n")
