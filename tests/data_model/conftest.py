"""Fixtures of the data-model tests: row builders on the database under test."""

from __future__ import annotations

import pytest
from data_model_rows import RowFactory

from mephisto_core.data_model import Database


@pytest.fixture
def rows(database: Database) -> RowFactory:
    """Row builders on the test's database (SQLite and PostgreSQL)."""
    return RowFactory(database)


@pytest.fixture
def sqlite_rows(sqlite_database: Database) -> RowFactory:
    """Row builders on an SQLite-only database."""
    return RowFactory(sqlite_database)
