"""Fixtures for the review app's tests: real runs made once per session, a real server per test, an HTTP client.

The session builds a data dir by running two tasks end to end in this process (real router on 127.0.0.1,
simulated workers over real HTTP and WebSocket, the mock provider): the static template with two units per
assignment (so agreement has something to measure) and a small test blueprint that renders its own review HTML.
Each test gets a fresh copy of that data dir, so tests may change it freely.
"""

from __future__ import annotations

import asyncio
import html
import json
import random
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.resources import as_file
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from review_helpers import pg_run

from mephisto_core.abstractions import Blueprint, BlueprintArgs, SimulatedAnswer
from mephisto_core.cli.init_cmd import available_templates
from mephisto_core.data_model import Database, open_database
from mephisto_core.hookspecs import hookimpl
from mephisto_core.operations.run.operator import Operator
from mephisto_core.operations.run.simulate import run_crowd
from mephisto_core.review_app import ReviewApp, ReviewServer
from mephisto_core.settings import Settings
from mephisto_core.task_config import load_task_config
from mephisto_core.testing import plugins_registered
from mephisto_core.testing.postgres import create_database, drop_database, new_database_name, with_database_name

STATIC_TASK = "study"
NOTE_TASK = "notes"


class NoteArgs(BlueprintArgs):
    rows: int = 3


class NoteBlueprint(Blueprint):
    """Assignments {"n": i}; answers {"note": ...} with a text file; its review HTML is its own fragment.

    Unit inputs with n == 2 make `review_html` fail, so the app's fallback can be checked.
    """

    type_name = "review_note_test"
    Args = NoteArgs

    def iter_assignments(self) -> Iterator[dict[str, Any]]:
        assert isinstance(self.args, NoteArgs)
        return ({"n": i} for i in range(self.args.rows))

    def build(self, build_dir: Path) -> None:
        (build_dir / "index.html").write_text("<!doctype html><script src='/mephisto-task.js'></script>note")

    def simulate_answer(self, init_data: dict[str, Any], rng: random.Random) -> SimulatedAnswer:
        n = init_data["n"]
        return SimulatedAnswer({"note": f"<b>note {n}</b>"}, [("doc", f"note-{n}.txt", "text/plain", b"note %d" % n)])

    def review_html(self, inputs: dict[str, Any], outputs: dict[str, Any], file_urls: dict[str, list[str]]) -> str:
        if inputs["n"] == 2:
            raise RuntimeError("this fragment is broken on purpose")
        links = "".join(f'<a class="doc" href="{html.escape(url)}">document</a>' for url in file_urls.get("doc", []))
        return f'<div class="note-review">Note: {html.escape(outputs["note"])} {links}</div>'


class _NotePlugin:
    @hookimpl
    def mephisto_register_blueprints(self, register: Any) -> None:
        register(NoteBlueprint)


@pytest.fixture(autouse=True)
def note_plugin(mephisto_register_plugin: Callable[[object], None]) -> None:
    """The test blueprint, registered during each review test only (the app builds it from stored runs)."""
    mephisto_register_plugin(_NotePlugin())


async def _run_with_crowd(operator: Operator, config: Any, bots: int) -> None:
    run = asyncio.create_task(operator.run(config))
    await asyncio.wait_for(operator.ready.wait(), 20)
    assert operator.ctx is not None
    report = await asyncio.wait_for(run_crowd(operator.stats.worker_url, operator.ctx.blueprint, bots), 60)
    await asyncio.wait_for(run, 30)
    assert report.errors == 0


def _launch(settings: Settings, task_file: Path, overrides: list[str]) -> None:
    database = open_database(None, settings.sqlite_path)
    try:
        asyncio.run(_run_with_crowd(Operator(settings, database), load_task_config(task_file, overrides), bots=3))
    finally:
        database.close()


@pytest.fixture(scope="session")
def review_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir holding both finished runs, every unit completed and awaiting review."""
    with plugins_registered(_NotePlugin()):
        return _build_template(tmp_path_factory.mktemp("review-template"))


def _build_template(root: Path) -> Path:
    settings = Settings(data_dir=root / "data", config_file=root / "config.toml", database_url=None)
    with as_file(available_templates()["static"]) as template:
        shutil.copytree(template, root / "static")
    _launch(
        settings,
        root / "static" / "task.toml",
        [f"task.name={STATIC_TASK}", "architect.port=0", "task.units_per_assignment=2"],
    )
    note_file = root / "notes" / "task.toml"
    note_file.parent.mkdir()
    note_file.write_text(
        tomli_w.dumps(
            {
                "task": {"name": NOTE_TASK, "title": "Notes"},
                "blueprint": {"type": "review_note_test", "rows": 3},
                "architect": {"type": "local", "port": 0},
                "provider": {"type": "mock"},
            }
        )
    )
    _launch(settings, note_file, [])
    return settings.data_dir


@pytest.fixture
def review_data(review_template: Path, mephisto_settings: Settings) -> Path:
    """This test's copy of the session's data dir (not opened: for tests that run the CLI)."""
    shutil.copytree(review_template, mephisto_settings.data_dir)
    return mephisto_settings.data_dir


@pytest.fixture
def review_db(review_data: Path, mephisto_settings: Settings) -> Iterator[Database]:
    """This test's copy of the session's data dir, opened."""
    database = open_database(None, mephisto_settings.sqlite_path)
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
def review_app(review_db: Database, mephisto_settings: Settings) -> ReviewApp:
    return ReviewApp(mephisto_settings, review_db)


@pytest.fixture
def review_server(review_app: ReviewApp) -> Iterator[ReviewServer]:
    """The review app on 127.0.0.1 and a free port, serving from a background thread."""
    with ReviewServer(review_app, "127.0.0.1", 0) as server:
        yield server


@dataclass
class Reply:
    """An HTTP answer: status, headers and body (parsed when it is JSON)."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        assert self.headers.get("content-type", "").startswith("application/json"), self.headers
        return json.loads(self.body)

    @property
    def error(self) -> str:
        message: str = self.json["error"]
        return message


class Client:
    """Real HTTP requests (urllib) to the review server, with the session token unless told otherwise."""

    def __init__(self, server: ReviewServer) -> None:
        self.base = server.base_url
        self.token = server.app.token

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = "",
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """`token=""` (default) sends the right token as a bearer header; None sends none; else that value."""
        sent = dict(headers or {})
        bearer = self.token if token == "" else token
        if bearer is not None:
            sent["Authorization"] = f"Bearer {bearer}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        if method == "POST" and data is None:
            data = b""
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return Reply(response.status, _lower(response.headers.items()), response.read())
        except urllib.error.HTTPError as exc:
            return Reply(exc.code, _lower(exc.headers.items()), exc.read())

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return self.request("POST", path, body if body is not None else {}, **kwargs)


def _lower(items: Any) -> dict[str, str]:
    return {key.lower(): value for key, value in items}


@pytest.fixture
def client(review_server: ReviewServer) -> Client:
    return Client(review_server)


@pytest.fixture
def own_database(postgres_url: str) -> Iterator[str]:
    """A PostgreSQL database of this test's own, so its connections are the app's alone (and it may refuse
    connections)."""
    admin = with_database_name(postgres_url, "postgres")
    name = new_database_name("mephisto_kept")
    url = create_database(admin, name)
    try:
        yield url
    finally:
        pg_run(admin, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        drop_database(admin, name)
