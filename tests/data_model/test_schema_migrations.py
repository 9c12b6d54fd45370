"""Versioned migrations: a fresh database ends at the newest version, re-opening changes nothing, a failing
migration leaves no trace, and a database from a newer mephisto-core is refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import peewee as pw
import pytest
from playhouse.migrate import SchemaMigrator, migrate

from mephisto_core.data_model import Database, Task, Worker, open_database
from mephisto_core.data_model.migrations import MIGRATIONS, Migration, apply_migrations, current_version
from mephisto_core.data_model.models import ALL_MODELS, SchemaVersion
from mephisto_core.errors import MigrationError
from mephisto_core.testing.postgres import reset_database
from mephisto_core.testing.pytest_plugin import DatabaseTarget

NEWEST = max(m.version for m in MIGRATIONS)


def _schema_versions() -> list[tuple[int, str]]:
    return [(row.version, row.name) for row in SchemaVersion.select().order_by(SchemaVersion.version)]


def test_a_fresh_database_ends_at_the_newest_version(database: Database) -> None:
    assert current_version(database.db) == NEWEST
    assert _schema_versions() == [(m.version, m.name) for m in sorted(MIGRATIONS, key=lambda m: m.version)]
    assert all(database.db.table_exists(model._meta.table_name) for model in ALL_MODELS)


def test_reopening_a_migrated_database_changes_nothing(database: Database, database_target: DatabaseTarget) -> None:
    with database.write():
        Task.create(name="kept", blueprint_type="static")
    applied_at = [row.applied_at for row in SchemaVersion.select().order_by(SchemaVersion.version)]
    database.close()

    reopened = database_target.open()
    try:
        assert apply_migrations(reopened) == NEWEST
        assert [row.applied_at for row in SchemaVersion.select().order_by(SchemaVersion.version)] == applied_at
        assert [t.name for t in Task.select()] == ["kept"]
    finally:
        reopened.close()


def _add_column_then_fail(db: pw.Database) -> None:
    migrate(SchemaMigrator.from_database(db).add_column("worker", "nickname", pw.CharField(null=True)))
    db.execute_sql("CREATE TABLE half_done (id INTEGER PRIMARY KEY)")
    Worker.create(provider_type="mock", name="written-by-the-migration")
    raise OSError("disk full")


def test_a_failing_migration_is_named_and_leaves_nothing_behind(database: Database) -> None:
    broken = Migration(NEWEST + 1, "add worker nicknames", _add_column_then_fail)

    with pytest.raises(MigrationError) as failed:
        apply_migrations(database, [*MIGRATIONS, broken])

    message = str(failed.value)
    assert f"migration {NEWEST + 1} (add worker nicknames)" in message
    assert "disk full" in message
    assert f"still at version {NEWEST}" in message
    assert current_version(database.db) == NEWEST
    assert not database.db.table_exists("half_done")
    assert "nickname" not in {c.name for c in database.db.get_columns("worker")}
    assert Worker.select().count() == 0


def test_a_migration_after_a_failed_one_is_applied_on_the_next_start(database: Database) -> None:
    def add_nickname(db: pw.Database) -> None:
        migrate(SchemaMigrator.from_database(db).add_column("worker", "nickname", pw.CharField(null=True)))

    with pytest.raises(MigrationError):
        apply_migrations(database, [*MIGRATIONS, Migration(NEWEST + 1, "broken", _add_column_then_fail)])
    fixed = [*MIGRATIONS, Migration(NEWEST + 1, "add worker nicknames", add_nickname)]

    assert apply_migrations(database, fixed) == NEWEST + 1
    assert "nickname" in {c.name for c in database.db.get_columns("worker")}
    assert _schema_versions()[-1] == (NEWEST + 1, "add worker nicknames")
    assert apply_migrations(database, fixed) == NEWEST + 1  # and only once


def test_a_database_from_a_newer_mephisto_is_refused_with_upgrade_advice(
    database: Database, database_target: DatabaseTarget
) -> None:
    with database.write():
        SchemaVersion.create(version=NEWEST + 5, name="from the future")
    database.close()

    with pytest.raises(MigrationError) as refused:
        database_target.open()

    message = str(refused.value)
    assert f"schema version {NEWEST + 5}" in message
    assert "upgrade mephisto-core" in message
    assert "pip install -U mephisto-core" in message


_OPEN_AND_CLOSE = """
import sys
from pathlib import Path
from mephisto_core.data_model import open_database

url = sys.argv[1] or None
open_database(url, Path(sys.argv[2])).close()
"""


def _start_together(url: str | None, sqlite_path: Path, processes: int) -> list[str]:
    """Open the database from `processes` processes at once; the last error line of each that failed."""
    started = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN_AND_CLOSE, url or "", str(sqlite_path)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    errors = [process.communicate(timeout=120)[1] for process in started]
    return [
        error.strip().splitlines()[-1] for process, error in zip(started, errors, strict=True) if process.returncode
    ]


def test_processes_starting_together_on_a_fresh_database_all_start(database_target: DatabaseTarget) -> None:
    # Several operator processes may share one database (the design's PostgreSQL set-up) and start at once.
    # The race is in the timing, so it is tried on a few fresh databases.
    for attempt in range(3):
        sqlite_path = database_target.sqlite_path.with_name(f"fresh-{attempt}.db")
        if database_target.url is not None:
            reset_database(database_target.url)
        assert _start_together(database_target.url, sqlite_path, processes=8) == []
        database = open_database(database_target.url, sqlite_path)
        try:
            assert _schema_versions() == [(m.version, m.name) for m in sorted(MIGRATIONS, key=lambda m: m.version)]
        finally:
            database.close()
