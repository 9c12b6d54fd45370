"""Fixtures for operations tests: a tiny blueprint and provider registered as a test plugin, and a run context."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from mephisto_core.abstractions import (
    Architect,
    Blueprint,
    BlueprintArgs,
    CrowdProvider,
    SimulatedAnswer,
    UploadedFile,
    WorkerIdentity,
)
from mephisto_core.hookspecs import hookimpl


class EchoArgs(BlueprintArgs):
    rows: int = 3
    onboarding: bool = False


class EchoBlueprint(Blueprint):
    """Each assignment has inputs {"n": i}; a valid answer is {"answer": <non-empty string>}."""

    type_name = "echo_test"
    Args = EchoArgs

    def iter_assignments(self) -> Iterator[dict[str, Any]]:
        assert isinstance(self.args, EchoArgs)
        return ({"n": i} for i in range(self.args.rows))

    def build(self, build_dir: Path) -> None:
        (build_dir / "index.html").write_text("<!doctype html><script src='/mephisto-task.js'></script>echo")

    def init_data(self, inputs: dict[str, Any], unit_index: int) -> dict[str, Any]:
        return {"n": inputs["n"], "unit_index": unit_index}

    def preview_data(self) -> dict[str, Any]:
        return {"preview": True}

    def has_onboarding(self) -> bool:
        assert isinstance(self.args, EchoArgs)
        return self.args.onboarding

    def onboarding_data(self) -> dict[str, Any]:
        return {"question": "say yes"}

    def validate_onboarding(self, outputs: dict[str, Any]) -> bool:
        return outputs.get("answer") == "yes"

    def validate_outputs(
        self, inputs: dict[str, Any], outputs: dict[str, Any], files: list[UploadedFile]
    ) -> dict[str, str]:
        if not isinstance(outputs.get("answer"), str) or not outputs["answer"]:
            return {"answer": "This field is required."}
        return {}

    def simulate_answer(self, init_data: dict[str, Any], rng: random.Random) -> SimulatedAnswer:
        return SimulatedAnswer(
            {"answer": f"n={init_data['n']}"},
            [("doc", "note.txt", "text/plain", b"hello %d" % init_data["n"])],
        )


class CrowdTestProvider(CrowdProvider):
    """Workers are named by the `worker_id` query parameter; nothing to publish."""

    type_name = "crowd_test"
    default_requester_name = "TEST_REQUESTER"
    publishes_units = False  # offering a unit is its status change: no publish intents, no Publisher needed

    def identify_worker(self, params: Any) -> WorkerIdentity:
        name = params.get("worker_id")
        if name == "":
            return WorkerIdentity(None, refusal="empty worker id")
        return WorkerIdentity(name)


class NullArchitect(Architect):
    """Serves nothing: for tests that call the worker pool directly."""

    type_name = "null_test"


class _Plugin:
    @hookimpl
    def mephisto_register_blueprints(self, register: Any) -> None:
        register(EchoBlueprint)

    @hookimpl
    def mephisto_register_architects(self, register: Any) -> None:
        register(NullArchitect)

    @hookimpl
    def mephisto_register_providers(self, register: Any) -> None:
        register(CrowdTestProvider)


@pytest.fixture
def test_types(mephisto_register_plugin: Callable[[object], None]) -> None:
    """The echo blueprint, null architect and test provider, registered for this test (the core's fixture)."""
    mephisto_register_plugin(_Plugin())


def write_task(folder: Path, rows: int = 3, onboarding: bool = False, architect: str = "local", **task: Any) -> Path:
    """A task file using the test blueprint, the local architect on a free port and the test provider."""
    if "task_onboarding" in task:
        task["onboarding"] = task.pop("task_onboarding")
    config = {
        "task": {"name": "echo", "title": "Echo", **task},
        "blueprint": {"type": "echo_test", "rows": rows, "onboarding": onboarding},
        "architect": {"type": architect, **({"port": 0} if architect == "local" else {})},
        "provider": {"type": "crowd_test"},
    }
    path = folder / "task.toml"
    path.write_text(tomli_w.dumps(config))
    return path


@pytest.fixture
def task_file(tmp_path: Path) -> Any:
    """`task_file(**task_args)` writes a task file for the test types and returns its path."""

    def make(**kwargs: Any) -> Path:
        return write_task(tmp_path, **kwargs)

    return make


@pytest.fixture
def make_pool(database: Any, mephisto_settings: Any, task_file: Any) -> Any:
    """`make_pool(**task_args)`: a worker pool over a freshly created and launched run (no router)."""
    from pool_helpers import build_pool

    def make(**task: Any) -> Any:
        return build_pool(database, mephisto_settings, task_file(architect="null_test", **task))

    return make


@pytest.fixture
def many_at_once(database: Any) -> None:
    """For tests of a batch's hellos and submissions done together: SQLite before 3.35 has no RETURNING, and there
    each runs on its own (`pool_sql_many.runs_many`), so such a test has nothing to test on it."""
    from mephisto_core.data_model.pool_sql import SQLITE_HAS_RETURNING

    if database.is_sqlite and not SQLITE_HAS_RETURNING:
        pytest.skip("SQLite before 3.35 runs each hello and submission on its own (no RETURNING)")


@pytest.fixture
def sent(database: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the writer's PostgreSQL connection sends, one entry per round trip (nothing on SQLite)."""
    statements: list[str] = []
    if database.is_sqlite:
        return statements
    from psycopg2.extensions import cursor

    class Counting(cursor):  # type: ignore[misc]
        def execute(self, query: Any, vars: Any = None) -> Any:
            statements.append(query if isinstance(query, str) else str(query))
            return super().execute(query, vars)

    from mephisto_core.operations.run import db_writer

    monkeypatch.setattr(db_writer, "_deferring_cursor", db_writer._make_deferring_cursor(Counting))
    return statements
