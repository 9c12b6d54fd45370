"""Driving a worker pool directly (no router): build a launched run from a task file, say hello, submit."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mephisto_core.data_model import Database
from mephisto_core.data_model import pool_sql as pool_sql_module
from mephisto_core.operations.run.launcher import TaskLauncher
from mephisto_core.operations.run.run_context import RunContext
from mephisto_core.operations.run.run_setup import select_run
from mephisto_core.operations.run.uploads import UploadStore
from mephisto_core.operations.run.worker_pool import WorkerPool
from mephisto_core.operations.run.worker_rules import RunRules
from mephisto_core.plugins import get_registry
from mephisto_core.settings import Settings
from mephisto_core.task_config import load_task_config


def build_pool(database: Database, settings: Settings, path: Path) -> WorkerPool:
    config = load_task_config(path)
    registry = get_registry()
    blueprint = registry.get("blueprint", "echo_test")(config.blueprint_args, config.task, config.task_dir)
    provider = registry.get("provider", "crowd_test")(config.provider_args, "TEST_REQUESTER", {}, settings.data_dir)
    with database.write():
        selection = select_run(config, "TEST_REQUESTER", "test:1", sandbox=True)
        ctx = RunContext(
            settings,
            config,
            selection.task,
            selection.run,
            blueprint,
            provider,
            "http://x/",
            rules=RunRules.from_config(config),
        )
        launcher = TaskLauncher(ctx)
        launcher.create_assignments(list(blueprint.iter_assignments()))
        launcher.launch_available()
    return WorkerPool(ctx, UploadStore(settings.data_dir))


def call(database: Database, fn: Any, *args: Any) -> Any:
    with database.write():
        return fn(*args)


def hello(database: Database, pool: WorkerPool, name: str | None, token: str | None = None) -> Any:
    params = {} if name is None else {"worker_id": name}
    return call(database, pool.register, params, token)


def statements_run(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the pool statements run from now on (in order), recorded through `PoolQueries._run`."""
    names: list[str] = []
    original = pool_sql_module.PoolQueries._run

    def counting(self: Any, name: str, params: tuple[Any, ...]) -> Any:
        names.append(name)
        return original(self, name, params)

    monkeypatch.setattr(pool_sql_module.PoolQueries, "_run", counting)
    return names


def rows_read(database: Any, tables: tuple[str, ...]) -> dict[str, int]:
    """Rows of each table that this transaction's scans read so far (PostgreSQL's per-transaction statistics)."""
    rows = database.db.execute_sql(
        "SELECT relname, COALESCE(seq_tup_read, 0) + COALESCE(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables "
        "WHERE relname IN %s",
        (tables,),
    ).fetchall()
    return {name: int(count) for name, count in rows}


@contextlib.contextmanager
def explained(database: Any) -> Iterator[list[dict[str, Any]]]:
    """The executed plans (EXPLAIN ANALYZE's, as JSON) of the statements run on this connection meanwhile."""
    connection = database.db.connection()
    notices, connection.notices = connection.notices, []  # psycopg2 keeps the last 50 in its own list
    settings = {"auto_explain.log_min_duration": "0", "auto_explain.log_analyze": "on"}
    settings |= {"auto_explain.log_format": "json", "auto_explain.log_level": "notice", "client_min_messages": "notice"}
    database.db.execute_sql("LOAD 'auto_explain'")
    for name, value in settings.items():
        database.db.execute_sql(f"SET {name} = '{value}'")
    plans: list[dict[str, Any]] = []
    try:
        yield plans
    finally:
        for name in settings:
            database.db.execute_sql(f"RESET {name}")
        for notice in connection.notices:
            if "Plan" in notice:
                plans.append(json.loads(notice[notice.index("{") :])["Plan"])
        connection.notices = notices


def rows_removed_by_join_filters(plans: list[dict[str, Any]]) -> int:
    """The rows that the plans' join filters compared and dropped: the work of nested loops without an index."""

    def removed(node: dict[str, Any]) -> int:
        own = int(node.get("Rows Removed by Join Filter", 0)) * int(node.get("Actual Loops", 1))
        return own + sum(removed(child) for child in node.get("Plans", ()))

    return sum(removed(plan) for plan in plans)
