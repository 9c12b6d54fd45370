"""SQLite: the writer's job savepoints keep their sub-journal in memory, not in a temporary file written page by
page; the database's other connections keep SQLite's default (a large sort spills to disk rather than memory)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from mephisto_core.data_model import Database
from mephisto_core.data_model.models import database_proxy
from mephisto_core.operations.run.db_writer import DatabaseWriter

ROWS = 200
ROW = "x" * 2_000  # two rows a page: the update below changes ~100 pages, 400 KiB, past SQLite's 64 KiB spill

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads the process's open files")


def _open_temporary_files() -> list[str]:
    """SQLite's temporary files this process holds: unlinked at once, so only their descriptors show them."""
    found = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed since the listing
            continue
        if "etilqs_" in target:
            found.append(target)
    return found


def _change_every_row_and_look() -> list[str]:
    """A writer job: inside its savepoint, change every page of the table, then list the temporary files."""
    database_proxy.execute_sql("UPDATE filler SET x = upper(x)")
    return _open_temporary_files()


def _temp_store(database: Database) -> int:
    return int(database.db.execute_sql("PRAGMA temp_store").fetchone()[0])


def test_the_writers_savepoints_write_no_temporary_file(sqlite_database: Database) -> None:
    with sqlite_database.write():
        sqlite_database.db.execute_sql("CREATE TABLE filler (x TEXT)")
        for _ in range(ROWS):
            sqlite_database.db.execute_sql("INSERT INTO filler (x) VALUES (?)", (ROW,))

    async def run() -> list[str]:
        writer = DatabaseWriter(sqlite_database)
        writer.start()
        try:
            return await writer.call(_change_every_row_and_look)
        finally:
            writer.stop()

    assert asyncio.run(run()) == []
    assert _temp_store(sqlite_database) == 0  # this (test) thread's connection: SQLite's default
