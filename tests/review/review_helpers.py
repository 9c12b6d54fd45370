"""Small readers of the database and the mock provider's ledger for the review tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mephisto_provider_mock import ledger_path, read_ledger

from mephisto_core.data_model import Review, Task, Unit
from mephisto_core.data_model.qualifications import BLOCK_QUALIFICATION, granted_value
from mephisto_core.settings import Settings


def task_units(name: str) -> list[Unit]:
    """The units of a task, in id order."""
    task = Task.get(Task.name == name)
    return list(Unit.select().where(Unit.task == task).order_by(Unit.id))


def status_of(unit_id: int) -> str:
    status: str = Unit.get_by_id(unit_id).status
    return status


def reviews(unit_id: int | None = None) -> list[Review]:
    """Review records (of one unit, or all), oldest first, without the `platform` outcome records."""
    query = Review.select().where(Review.kind != "platform").order_by(Review.id)
    if unit_id is not None:
        query = query.where(Review.unit == unit_id)
    return list(query)


def mock_data_dir(settings: Settings) -> Path:
    """The mock provider's own data dir (`<data_dir>/providers/mock`)."""
    return settings.data_dir / "providers" / "mock"


def ledger(settings: Settings) -> list[dict[str, Any]]:
    """What the mock provider was asked to do, oldest first."""
    return read_ledger(mock_data_dir(settings))


def break_the_mock_provider(settings: Settings) -> None:
    """Make the mock provider fail every review action: its ledger path becomes a directory it cannot append to."""
    path = ledger_path(mock_data_dir(settings))
    if path.exists():
        path.unlink()
    path.mkdir(parents=True)


def is_blocked(worker_id: int) -> bool:
    return bool(granted_value(worker_id, BLOCK_QUALIFICATION))


def pg_run(url: str, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run `statement` on a plain connection of its own to `url` (autocommit, outside any pool); its rows."""
    import psycopg2  # PostgreSQL tests only

    conn = psycopg2.connect(url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(statement, params)
            return list(cur.fetchall()) if cur.description else []
    finally:
        conn.close()
