"""A large run's units counted off the database writer (`background_count.py`): on a thread and connection of their
own, taken only when this process moved no unit meanwhile, and the connection closed with the run."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from launcher_helpers import create_units, make_launcher, set_status

from mephisto_core.data_model import Database, Unit, UnitStatus
from mephisto_core.operations.run import status_counts
from mephisto_core.operations.run.background_count import BackgroundCounts
from mephisto_core.operations.run.db_writer import DatabaseWriter
from mephisto_core.operations.run.side_connection import SideConnection
from mephisto_core.settings import Settings

pytestmark = pytest.mark.usefixtures("test_types")


@pytest.fixture
def costly_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every count counts as costly, and one off the writer is due as soon as the last one is made."""
    monkeypatch.setattr(status_counts, "ON_WRITER_UNDER_S", 0.0)
    monkeypatch.setattr(status_counts, "BACKGROUND_SHARE", 1e9)
    monkeypatch.setattr(status_counts, "COUNT_SHARE", 1e-9)  # and the writer reuses a count as long as it may


def _client_backends(database: Database) -> int:
    return int(
        database.db.execute_sql(
            "SELECT COUNT(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND backend_type = 'client backend'"
        ).fetchone()[0]
    )


@pytest.mark.usefixtures("costly_counts")
def test_a_costly_count_is_made_again_off_the_writer_and_its_connection_closed_with_the_run(
    database: Database, mephisto_settings: Settings, task_file: Any
) -> None:
    launcher, _ = make_launcher(database, mephisto_settings, task_file(), publishes=False)
    create_units(database, launcher, 3)
    threads: list[str] = []
    counted = launcher.count_by_status

    def count() -> dict[str, int]:
        threads.append(threading.current_thread().name)
        return counted()

    launcher.counts._count = count

    async def scenario() -> None:
        writer = DatabaseWriter(database)
        writer.start()
        reads = SideConnection(database)
        counting = BackgroundCounts(reads, writer, launcher.counts, count)
        try:
            assert await writer.call(launcher.status_counts) == {"launched": 3}  # the first count: on the writer
            backends = _client_backends(database) if not database.is_sqlite else 0
            first = Unit.select(Unit.id).order_by(Unit.id).scalar()
            set_status(database, first, UnitStatus.COMPLETED)  # a worker's unit done: no status left or appeared
            assert await writer.call(launcher.status_counts) == {"launched": 3}  # the last count stands
            counting.kick()
            assert counting._task is not None
            await counting._task
            assert await writer.call(launcher.status_counts) == {"launched": 2, "completed": 1}
            if not database.is_sqlite:
                assert _client_backends(database) == backends + 1  # the counting thread's own connection
            await counting.close()
            await reads.close()
            if not database.is_sqlite:  # closed with the run (its backend ends a moment after the client)
                for _ in range(100):
                    if _client_backends(database) == backends:
                        break
                    await asyncio.sleep(0.02)
                assert _client_backends(database) == backends
        finally:
            await counting.close()
            await reads.close()
            writer.stop()
        assert threads[0] == "mephisto-db-writer" and threads[1:] == [threads[1]]
        assert threads[1].startswith("mephisto-side-connection")

    asyncio.run(scenario())


@pytest.mark.usefixtures("costly_counts")
def test_a_count_made_while_this_process_created_units_is_not_taken(
    database: Database, mephisto_settings: Settings, task_file: Any
) -> None:
    launcher, _ = make_launcher(database, mephisto_settings, task_file(), publishes=False)
    create_units(database, launcher, 2)
    with database.write():
        assert launcher.status_counts() == {"launched": 2}
        generation = launcher.counts.generation()
    create_units(database, launcher, 3)  # while a count off the writer ran: its snapshot may or may not hold them
    with database.write():
        assert not launcher.counts.install({"launched": 2}, 0.05, generation)
        assert launcher.status_counts() == {"launched": 5}  # the last count plus the units created since
    set_status(database, Unit.select(Unit.id).order_by(Unit.id).scalar(), UnitStatus.COMPLETED)
    with database.write():
        generation = launcher.counts.generation()
    assert launcher.counts.install(launcher.count_by_status(), 0.05, generation)  # nothing moved meanwhile
    with database.write():
        assert launcher.status_counts() == {"launched": 4, "completed": 1}


def test_a_count_during_which_another_thread_created_units_does_not_stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """On PostgreSQL the tick counts beside the writer, which may create units meanwhile: the database is read
    without the lock held (the creating thread is not kept waiting), and such a count is not reused."""
    monkeypatch.setattr(status_counts, "COUNT_SHARE", 1e-9)  # a count may stand in as long as it may
    # the first count misses the 2 units created while it read; the probes cannot tell (some were created before)
    counted = [{"launched": 3, "created": 1}, {"launched": 3, "created": 3}]
    calls: list[int] = []
    counts: status_counts.StatusCounts

    def count() -> dict[str, int]:
        calls.append(1)
        if len(calls) == 1:  # the writer's thread creates units while this first count reads the database
            creating = threading.Thread(target=counts.created, args=("created", 2))
            creating.start()
            creating.join(5)
            assert not creating.is_alive(), "the creating thread waited for the count's lock"
        return counted[len(calls) - 1]

    def present(statuses: Any) -> set[str]:
        return {"launched", "created"} & set(statuses)

    counts = status_counts.StatusCounts(count, present)
    assert counts.get() == {"launched": 3, "created": 1}  # what was counted, returned as it is
    assert counts.get() == {"launched": 3, "created": 3}  # counted again: the first may have missed units
    assert counts.get() == {"launched": 3, "created": 3} and len(calls) == 2  # this one stands in
