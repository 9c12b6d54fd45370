"""pytest fixtures for mephisto-core, its plugins and third-party plugin authors.

Loaded automatically through the `pytest11` entry point `mephisto`. Fixtures:

- `mephisto_settings`: a `Settings` whose data dir and config file are in `tmp_path` (also exported as
  MEPHISTO_DATA_DIR / MEPHISTO_CONFIG_FILE for subprocesses).
- `postgres_url`: a fresh database on a throwaway PostgreSQL server (one per test session), or on the server
  named by MEPHISTO_TEST_POSTGRES_URL.
- `database_target` / `database`: where an empty database is / that database opened, once on SQLite and
  once on PostgreSQL; `sqlite_database`: SQLite only.
- `browser` (one per session) and `page` (a fresh context and page per test): Debian's Chromium.
- `mephisto_register_plugin`: register a plugin module or object (hooks) for one test, as if it were installed.
- `mephisto_cli`: run `mephisto ARGS` in this process against the test's settings (click's CliRunner).
- `mephisto_cli_env`: the environment for `mephisto` subprocesses (the test's data dir and config, wide output).
- `mephisto_init`: a task folder made by the real `mephisto init` from a template; returns its task.toml.
- `mephisto_launch`: start `mephisto launch ARGS` as a background process (testing.processes.LaunchProcess),
  killed after the test.
- `mephisto_review`: start `mephisto review --no-browser ARGS` the same way (testing.processes.ReviewProcess);
  `wait_for_link()` gives the review app's link.
- `make_held_unit` / `make_submitted_run`: a unit held by a worker / a run with N submitted units, written to
  `mephisto_rows_database` (SQLite; override that fixture with `database` to build on PostgreSQL too).

When PostgreSQL or Chromium is missing, tests that need them are skipped with a message saying what to
install; with CI=true they fail instead, so a CI machine cannot pass by skipping.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import pytest

from mephisto_core.testing.browser import BrowserUnavailable, check_browser_available, launch_chromium
from mephisto_core.testing.postgres import (
    PostgresUnavailable,
    create_database,
    drop_database,
    external_server,
    new_database_name,
    reset_database,
    start_postgres,
)
from mephisto_core.testing.processes import LaunchProcess, MephistoProcess, ReviewProcess, run_mephisto
from mephisto_core.testing.runs import (
    HeldUnit,
    SubmittedRun,
    create_held_unit,
    create_submitted_run,
    plugins_registered,
)

if TYPE_CHECKING:
    from click.testing import Result
    from playwright.sync_api import Browser, Page

    from mephisto_core.data_model import Database
    from mephisto_core.settings import Settings

EXTERNAL_POSTGRES_ENV = "MEPHISTO_TEST_POSTGRES_URL"
_MARKERS = {
    "postgres": "needs a PostgreSQL server (started by the fixture)",
    "browser": "drives Debian's Chromium through playwright",
}


def pytest_configure(config: pytest.Config) -> None:
    for name, description in _MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Mark tests by the fixtures they use, so `-m "not browser"` works without every author remembering marks.
    for item in items:
        if _uses_browser(item):
            item.add_marker(pytest.mark.browser)
        if "postgres_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


# Playwright's sync API runs its asyncio loop in a greenlet and leaves that loop marked as the thread's
# running loop between calls, so once the session browser exists, `asyncio.run()` in any later test would
# fail with "cannot be called from a running event loop". Tests that do not use the browser run with that
# mark lifted; nothing of playwright's runs meanwhile: its greenlet resumes only when a browser call is made.
_playwright_loop: asyncio.AbstractEventLoop | None = None


def _uses_browser(item: pytest.Item) -> bool:
    names = getattr(item, "fixturenames", ())
    return "browser" in names or "page" in names


@contextlib.contextmanager
def _playwright_loop_hidden(item: pytest.Item) -> Iterator[None]:
    loop = asyncio._get_running_loop()
    if _playwright_loop is None or loop is not _playwright_loop or _uses_browser(item):
        yield
        return
    asyncio._set_running_loop(None)
    try:
        yield
    finally:
        asyncio._set_running_loop(loop)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    with _playwright_loop_hidden(item):
        return (yield)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with _playwright_loop_hidden(item):
        return (yield)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    if nextitem is None:  # the session's fixtures, the browser among them, are finalised now: leave it be
        return (yield)
    with _playwright_loop_hidden(item):
        return (yield)


def unavailable(message: str) -> NoReturn:
    """Skip the current test because something is not installed, or fail it when CI=true."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: missing dependencies fail instead of skipping)", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def mephisto_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings that keep everything under `tmp_path`; subprocesses see the same through the environment."""
    from mephisto_core.settings import Settings

    data_dir = tmp_path / "mephisto-data"
    config_file = tmp_path / "mephisto-config" / "config.toml"
    monkeypatch.setenv("MEPHISTO_DATA_DIR", str(data_dir))
    monkeypatch.setenv("MEPHISTO_CONFIG_FILE", str(config_file))
    # A developer's own database must never be touched by a test.
    monkeypatch.delenv("MEPHISTO_DATABASE_URL", raising=False)
    return Settings(data_dir=data_dir, config_file=config_file, database_url=None)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a fresh database for this test session on a real PostgreSQL server.

    Every test that asks for it shares that one database; `database_target` / `database` empty it after
    each test, so ask for those when a test needs a clean slate.
    """
    external = os.environ.get(EXTERNAL_POSTGRES_ENV)
    try:
        server = external_server(external) if external else start_postgres()
    except PostgresUnavailable as exc:
        unavailable(str(exc))
    try:
        dbname = new_database_name()
        try:
            url = create_database(server.admin_url, dbname)
        except PostgresUnavailable as exc:
            unavailable(str(exc))
        yield url
        drop_database(server.admin_url, dbname)
    finally:
        server.stop()


@dataclass(frozen=True)
class DatabaseTarget:
    """Where a test's empty database is: `url` is None for the SQLite file at `sqlite_path`."""

    kind: str  # "sqlite" or "postgresql"
    url: str | None
    sqlite_path: Path

    def open(self) -> Database:
        """Open it as the code does (`open_database`), which applies the migrations."""
        from mephisto_core.data_model import open_database

        return open_database(self.url, self.sqlite_path)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_target(
    request: pytest.FixtureRequest, mephisto_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DatabaseTarget]:
    """An empty database, once on SQLite (in the settings' data dir) and once on PostgreSQL.

    On PostgreSQL the settings and MEPHISTO_DATABASE_URL point at it, and its schema is dropped afterwards
    so the next test starts empty again.
    """
    if request.param == "sqlite":
        yield DatabaseTarget("sqlite", None, mephisto_settings.sqlite_path)
        return
    url: str = request.getfixturevalue("postgres_url")
    mephisto_settings.database_url = url
    monkeypatch.setenv("MEPHISTO_DATABASE_URL", url)
    try:
        yield DatabaseTarget("postgresql", url, mephisto_settings.sqlite_path)
    finally:
        reset_database(url)


@pytest.fixture
def database(database_target: DatabaseTarget) -> Iterator[Database]:
    """The test's empty database, migrated and bound to the models; runs on SQLite and on PostgreSQL."""
    db = database_target.open()
    try:
        yield db
    finally:
        db.close()


@pytest.fixture
def sqlite_database(mephisto_settings: Settings) -> Iterator[Database]:
    """An empty SQLite database in the settings' data dir, migrated and bound to the models."""
    db = DatabaseTarget("sqlite", None, mephisto_settings.sqlite_path).open()
    try:
        yield db
    finally:
        db.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, started once per session through playwright."""
    try:
        check_browser_available()
    except BrowserUnavailable as exc:
        unavailable(str(exc))
    from playwright.sync_api import sync_playwright

    global _playwright_loop
    with sync_playwright() as playwright:
        _playwright_loop = asyncio._get_running_loop()
        chromium = launch_chromium(playwright)
        try:
            yield chromium
        finally:
            chromium.close()
            _playwright_loop = None


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a fresh browser context (no cookies or storage shared with other tests)."""
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def mephisto_register_plugin() -> Iterator[Callable[[object], None]]:
    """`mephisto_register_plugin(plugin)` registers a plugin module or object (its `mephisto_*` hooks) with the
    core's plugin manager for this test only, as an installed distribution would be; unregistered afterwards."""
    with contextlib.ExitStack() as stack:

        def register(plugin: object) -> None:
            stack.enter_context(plugins_registered(plugin))

        yield register


@pytest.fixture
def mephisto_cli(mephisto_settings: Settings) -> Callable[..., Result]:
    """`mephisto_cli("workers", "list", input=None, catch_exceptions=True)` runs the real `mephisto` command group
    in this process, against the test's settings; returns click's Result (exit_code, output, stderr, exception)."""
    from click.testing import CliRunner

    from mephisto_core.cli import cli

    def run(*args: str | Path, input: str | None = None, catch_exceptions: bool = True) -> Result:
        return CliRunner().invoke(cli, [str(arg) for arg in args], input=input, catch_exceptions=catch_exceptions)

    return run


@pytest.fixture
def mephisto_cli_env(mephisto_settings: Settings) -> dict[str, str]:
    """The environment for `mephisto` subprocesses: this process's, with the test's MEPHISTO_DATA_DIR and
    MEPHISTO_CONFIG_FILE (set by `mephisto_settings`) and 200 columns, so tables do not wrap what tests look for."""
    return {**os.environ, "COLUMNS": "200"}


@pytest.fixture
def mephisto_init(mephisto_cli_env: dict[str, str], tmp_path: Path) -> Callable[..., Path]:
    """`mephisto_init("static", folder="study")` runs the real `mephisto init tmp_path/FOLDER --template static`
    (a fresh process with `mephisto_cli_env`) and returns the task.toml it wrote; a failure shows its output."""

    def init(template: str = "static", folder: str = "study") -> Path:
        made = run_mephisto("init", tmp_path / folder, "--template", template, env=mephisto_cli_env)
        assert made.returncode == 0, f"mephisto init failed:\n{made.stdout}{made.stderr}"
        return tmp_path / folder / "task.toml"

    return init


@pytest.fixture
def mephisto_launch(mephisto_cli_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., LaunchProcess]]:
    """`mephisto_launch("task.toml", "architect.port=0", process_class=LaunchProcess)` runs `mephisto launch ARGS`
    in the background with `mephisto_cli_env`, its output in `tmp_path/launch-N.log`; returns the process
    (`wait_for_link()`, `output()`, `interrupt()`, `wait()`). Whatever still runs is killed after the test."""
    background = _Background(tmp_path, "launch")

    def start(*args: str | Path, process_class: type[LaunchProcess] = LaunchProcess) -> LaunchProcess:
        return background.add(process_class([str(arg) for arg in args], mephisto_cli_env, background.next_log()))

    yield start
    background.close_all()


@pytest.fixture
def mephisto_review(mephisto_cli_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., ReviewProcess]]:
    """`mephisto_review("--undo-seconds", "0")` runs `mephisto review --no-browser ARGS` in the background with
    `mephisto_cli_env`, its output in `tmp_path/review-N.log`; returns the process (`wait_for_link()` gives the
    review app's link with its token). Whatever still runs is killed after the test."""
    background = _Background(tmp_path, "review")

    def start(*args: str | Path) -> ReviewProcess:
        return background.add(ReviewProcess([str(arg) for arg in args], mephisto_cli_env, background.next_log()))

    yield start
    background.close_all()


_Process = TypeVar("_Process", bound=MephistoProcess)


class _Background:
    """The background processes one fixture started in a test, each logging to `tmp_path/NAME-N.log`."""

    def __init__(self, tmp_path: Path, name: str) -> None:
        self._folder = tmp_path
        self._name = name
        self._started: list[MephistoProcess] = []

    def next_log(self) -> Path:
        return self._folder / f"{self._name}-{len(self._started)}.log"

    def add(self, process: _Process) -> _Process:
        self._started.append(process)
        return process

    def close_all(self) -> None:
        for process in self._started:
            process.close()


@pytest.fixture
def mephisto_rows_database(sqlite_database: Database) -> Database:
    """The database `make_held_unit` and `make_submitted_run` write to: SQLite in the test's data dir.

    Override it in a conftest (`def mephisto_rows_database(database): return database`) to build the same rows
    on SQLite and on PostgreSQL."""
    return sqlite_database


@pytest.fixture
def make_held_unit(mephisto_rows_database: Database) -> Callable[..., HeldUnit]:
    """`make_held_unit(provider_type="mock", worker_name="alice", ...)`: a worker holding unit 0 of a new run,
    through an `in_task` agent; returns `HeldUnit(worker, unit, agent)` (see testing.runs.create_held_unit)."""

    def make(**options: Any) -> HeldUnit:
        return create_held_unit(mephisto_rows_database, **options)

    return make


@pytest.fixture
def make_submitted_run(mephisto_rows_database: Database) -> Callable[..., SubmittedRun]:
    """`make_submitted_run(5, provider_type="mock", outputs=lambda i: {...})`: a new run whose 5 units were all
    submitted and await review; returns `SubmittedRun(task, run, units)` (see testing.runs.create_submitted_run).
    Review, export and provider code can then act on real rows."""

    def make(units: int, **options: Any) -> SubmittedRun:
        return create_submitted_run(mephisto_rows_database, units, **options)

    return make
