"""The writer on PostgreSQL shortens the interpreter's switch interval (its thread waits for the GIL after every
round trip), never lengthens it, and leaves it alone on SQLite."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from mephisto_core.data_model import Database
from mephisto_core.operations.run.db_writer import POSTGRES_SWITCH_INTERVAL_S, DatabaseWriter


@pytest.fixture
def switch_interval() -> Iterator[None]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    yield
    sys.setswitchinterval(before)


@pytest.mark.usefixtures("switch_interval")
def test_starting_the_writer_sets_the_switch_interval_by_database(database: Database) -> None:
    writer = DatabaseWriter(database)
    writer.start()
    writer.stop()
    expected = 0.005 if database.is_sqlite else POSTGRES_SWITCH_INTERVAL_S
    assert sys.getswitchinterval() == pytest.approx(expected)


@pytest.mark.usefixtures("switch_interval")
def test_a_shorter_interval_already_set_is_kept(database: Database) -> None:
    sys.setswitchinterval(POSTGRES_SWITCH_INTERVAL_S / 2)
    writer = DatabaseWriter(database)
    writer.start()
    writer.stop()
    assert sys.getswitchinterval() == pytest.approx(POSTGRES_SWITCH_INTERVAL_S / 2)
