"""Payments tests: the `paytest` provider registered, rows on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from paytest_plugin import PayTestPlugin

from mephisto_core.data_model import Database


@pytest.fixture(autouse=True)
def paytest_provider(mephisto_register_plugin: Callable[[object], None]) -> None:
    mephisto_register_plugin(PayTestPlugin())


@pytest.fixture
def mephisto_rows_database(database: Database) -> Database:
    """make_submitted_run writes to the test's database: SQLite and PostgreSQL alike."""
    return database
