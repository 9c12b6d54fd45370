"""Fixtures of the export tests: row builders on the database under test. `mephisto export` runs as a real
subprocess that reads the same database (MEPHISTO_DATA_DIR / MEPHISTO_DATABASE_URL set by the fixtures)."""

from __future__ import annotations

import pytest
from export_helpers import ExportRows

from mephisto_core.data_model import Database
from mephisto_core.settings import Settings


@pytest.fixture
def rows(database: Database, mephisto_settings: Settings) -> ExportRows:
    """Row builders on the test's database (once on SQLite, once on PostgreSQL)."""
    return ExportRows(database, mephisto_settings.data_dir)


@pytest.fixture
def sqlite_rows(sqlite_database: Database, mephisto_settings: Settings) -> ExportRows:
    """Row builders on an SQLite-only database, for tests about formats rather than queries."""
    return ExportRows(sqlite_database, mephisto_settings.data_dir)
