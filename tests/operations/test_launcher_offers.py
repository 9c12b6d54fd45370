"""TaskLauncher: units are created already offered only when offering is nothing but a status change, and a
stop withdraws every unclaimed unit in one statement."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from launcher_helpers import create_units, make_launcher, set_status
from pool_helpers import rows_read

from mephisto_core.data_model import Database, Unit, UnitStatus
from mephisto_core.data_model.publishing import IntentState, PublishIntent
from mephisto_core.data_model.unit_probes import statuses_present, statuses_present_params, statuses_present_sql
from mephisto_core.operations.provider_calls import ProviderCalls
from mephisto_core.operations.run import status_counts
from mephisto_core.operations.run.db_writer import DatabaseWriter
from mephisto_core.operations.run.launcher import TaskLauncher, every_unit_by_status, special_units_by_status
from mephisto_core.operations.run.publishing import Publisher
from mephisto_core.settings import Settings

pytestmark = pytest.mark.usefixtures("test_types")


def _statuses() -> list[str]:
    return [u.status for u in Unit.select().order_by(Unit.id)]


def test_units_are_born_launched_without_a_limit_or_per_unit_publishing(
    database: Database, mephisto_settings: Settings, task_file: Any
) -> None:
    launcher, seen = make_launcher(database, mephisto_settings, task_file(units_per_assignment=2), publishes=False)
    assert create_units(database, launcher, 3) == 6
    assert _statuses() == ["launched"] * 6
    # PostgreSQL has no foreign keys for a unit's run and task (migration 14): they are its assignment's
    for unit in Unit.select():
        assert (unit.task_run_id, unit.task_id) == (unit.assignment.task_run_id, unit.assignment.task_run.task_id)
        assert unit.task_run_id == launcher.ctx.run.id
    assert launcher.ctx.offers == 1  # the worker pool forgets "nothing to offer"
    with database.write():
        assert launcher.launch_available() == 0
    assert seen.launched == []


def test_a_concurrency_limit_keeps_units_created_until_there_is_room(
    database: Database, mephisto_settings: Settings, task_file: Any
) -> None:
    launcher, _ = make_launcher(database, mephisto_settings, task_file(max_num_concurrent_units=2), publishes=False)
    create_units(database, launcher, 5)
    assert _statuses() == ["created"] * 5 and launcher.ctx.offers == 0
    with database.write():
        assert launcher.launch_available() == 2
        assert launcher.launch_available() == 0
    assert _statuses() == ["launched", "launched", "created", "created", "created"]


def test_a_publishing_provider_gets_every_unit_through_launch_units(
    database: Database, mephisto_settings: Settings, task_file: Any
) -> None:
    launcher, seen = make_launcher(database, mephisto_settings, task_file(), publishes=True)
    create_units(database, launcher, 3)
    assert _statuses() == ["created"] * 3
    with database.write():
        assert launcher.launch_available() == 3  # recorded as publish intents; the Publisher calls the platform
    assert seen.launched == [] and _statuses() == ["created"] * 3
    with database.write():
        assert launcher.launch_available() == 0  # units being published are not offered twice
    assert PublishIntent.select().where(PublishIntent.state == IntentState.PENDING.value).count() == 3
    asyncio.run(_publish(database, launcher))
    ids = [u.id for u in Unit.select().order_by(Unit.id)]
    assert seen.launched == ids
    assert _statuses() == ["launched"] * 3
    assert [u.provider_unit_id for u in Unit.select().order_by(Unit.id)] == [f"hit-{i}" for i in ids]
    assert [i.state for i in PublishIntent.select()] == [IntentState.PUBLISHED.value] * 3
    assert launcher.ctx.offers == 1


async def _publish(database: Database, launcher: TaskLauncher) -> None:
    writer = DatabaseWriter(database)
    writer.start()
    calls = ProviderCalls(launcher.ctx.provider)
    try:
        publisher = Publisher(launcher.ctx, writer, calls, launcher.expire_unclaimed, launcher.units_offered)
        await publisher.publish_pending()
    finally:
        calls.close()
        writer.stop()


def test_after_a_stop_began_new_units_wait_and_nothing_is_offered(
    database: Database, mephisto_settings: Settings, task_file: Any
) -> None:
    launcher, _ = make_launcher(database, mephisto_settings, task_file(), publishes=False)
    launcher.ctx.accepting = False
    create_units(database, launcher, 2)
    with database.write():
        assert launcher.launch_available() == 0
    assert _statuses() == ["created"] * 2


@pytest.mark.parametrize("publishes", [False, True], ids=["nothing-published", "published"])
def test_expire_unclaimed_withdraws_offered_units_only(
    database: Database, mephisto_settings: Settings, task_file: Any, publishes: bool
) -> None:
    launcher, seen = make_launcher(
        database, mephisto_settings, task_file(max_num_concurrent_units=3), publishes=publishes
    )
    create_units(database, launcher, 5)
    with database.write():
        launcher.launch_available()
    if publishes:
        asyncio.run(_publish(database, launcher))
    with database.write():
        first, second = [u.id for u in Unit.select().order_by(Unit.id).limit(2)]
        Unit.update(status=UnitStatus.ASSIGNED.value).where(Unit.id == first).execute()
        Unit.update(status=UnitStatus.COMPLETED.value).where(Unit.id == second).execute()
        withdrawn_here = launcher.expire_unclaimed()
    # The provider call is the Publisher's (off the writer thread): the launcher only names the units.
    assert [u.id for u in withdrawn_here] == (
        [u.id for u in Unit.select().where(Unit.status == "expired")] if publishes else []
    )
    if publishes:
        launcher.ctx.provider.expire_units(withdrawn_here)
    # Units never offered stay `created`: the next launch offers them within max_num_concurrent_units.
    assert _statuses() == ["assigned", "completed", "expired", "created", "created"]
    # Only a provider that published units is asked to withdraw them, and only the unclaimed ones.
    withdrawn = [u.id for u in Unit.select().where(Unit.status == UnitStatus.EXPIRED.value).order_by(Unit.id)]
    assert sorted(seen.expired) == (withdrawn if publishes else [])


def _counter(database: Database, launcher: Any) -> Any:
    def counts() -> dict[str, int]:
        with database.write():
            return launcher.status_counts()

    return counts


def test_status_counts_while_creating_add_new_units_to_the_last_count(
    database: Database, mephisto_settings: Settings, task_file: Any
) -> None:
    launcher, _ = make_launcher(database, mephisto_settings, task_file(), publishes=False)
    counts = _counter(database, launcher)
    create_units(database, launcher, 3)
    assert counts() == {"launched": 3}
    first, second = [u.id for u in Unit.select(Unit.id).order_by(Unit.id).limit(2)]
    set_status(database, first, UnitStatus.COMPLETED)  # a worker's unit done between two chunks
    create_units(database, launcher, 2)
    assert counts() == {"launched": 5}  # the last count plus the new units: no recount yet
    set_status(database, second, UnitStatus.ASSIGNED)  # a unit claimed: a status that had none has one now
    assert counts() == {"launched": 3, "assigned": 1, "completed": 1}  # so counted afresh
    create_units(database, launcher, 1)
    launcher.ctx.accepting = False  # a stop began: always a fresh count
    assert counts() == {"launched": 4, "assigned": 1, "completed": 1}


def test_a_costly_count_stands_in_while_the_statuses_with_units_stay_the_same(
    database: Database, mephisto_settings: Settings, task_file: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A count as costly as a 100,000-unit run's on PostgreSQL (here: any count) is not made again at every tick;
    which statuses have units stays exact, so the run's end is seen at once."""
    monkeypatch.setattr(status_counts, "COUNT_SHARE", 1e-9)  # whatever the count cost, it may stand MAX_REUSE_S
    launcher, _ = make_launcher(database, mephisto_settings, task_file(), publishes=False)
    counts = _counter(database, launcher)
    create_units(database, launcher, 2)
    first, second = [u.id for u in Unit.select(Unit.id).order_by(Unit.id)]
    for unit_id in (first, second):
        set_status(database, unit_id, UnitStatus.ASSIGNED)
    assert counts() == {"assigned": 2}
    set_status(database, first, UnitStatus.COMPLETED)
    assert counts() == {"assigned": 2}  # the last count stands: units are still assigned
    set_status(database, second, UnitStatus.COMPLETED)
    assert counts() == {"completed": 2}  # the last assigned unit is done: counted afresh
    set_status(database, second, UnitStatus.LAUNCHED)  # e.g. a unit offered again
    assert counts() == {"launched": 1, "completed": 1}


def test_status_counts_recount_once_the_last_count_is_old(
    database: Database, mephisto_settings: Settings, task_file: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    launcher, _ = make_launcher(database, mephisto_settings, task_file(), publishes=False)
    counts = _counter(database, launcher)
    create_units(database, launcher, 2)
    assert counts() == {"launched": 2}
    set_status(database, Unit.select(Unit.id).order_by(Unit.id).scalar(), UnitStatus.COMPLETED)
    create_units(database, launcher, 1)
    monkeypatch.setattr(status_counts, "RECOUNT_WHILE_CREATING_S", 0.0)
    monkeypatch.setattr(status_counts, "MAX_REUSE_S", 0.0)
    assert counts() == {"launched": 2, "completed": 1}


def _add_special_unit(database: Database, like: int, unit_index: int, status: UnitStatus) -> None:
    """A gold (-2) or screening (-1) unit beside unit `like`, as the launcher makes them."""
    model = Unit.get_by_id(like)
    with database.write():
        Unit.create(
            assignment=model.assignment_id,
            task_run=model.task_run_id,
            task=model.task_id,
            unit_index=unit_index,
            pay_amount=model.pay_amount,
            status=status.value,
        )


def test_status_counts_leave_gold_and_screening_units_out(
    database: Database, mephisto_settings: Settings, task_file: Any
) -> None:
    launcher, _ = make_launcher(database, mephisto_settings, task_file(), publishes=False)
    create_units(database, launcher, 3)
    first, second, third = [unit.id for unit in Unit.select(Unit.id).order_by(Unit.id)]
    set_status(database, first, UnitStatus.COMPLETED)
    _add_special_unit(database, first, -2, UnitStatus.LAUNCHED)
    _add_special_unit(database, second, -2, UnitStatus.COMPLETED)
    _add_special_unit(database, third, -1, UnitStatus.ASSIGNED)
    launcher.ctx.accepting = False  # counted afresh
    with database.write():
        assert launcher.status_counts() == {"launched": 2, "completed": 1}


def test_the_count_by_status_reads_indexes_only(sqlite_database: Database) -> None:
    """At every tick, on the writer's thread: no unit's row is read, only index entries (SQLite's plan)."""

    def plan(query: Any) -> str:
        sql, params = query.sql()
        return " ".join(str(row[-1]) for row in sqlite_database.db.execute_sql("EXPLAIN QUERY PLAN " + sql, params))

    assert "USING COVERING INDEX unit_task_run_id_status_id" in plan(every_unit_by_status(1))
    assert "USING INDEX unit_special" in plan(special_units_by_status(1))


@pytest.mark.parametrize("statistics", ["none", "from mid-run"])
def test_which_statuses_have_units_is_a_probe_of_the_index_however_many_units_moved(
    database: Database, mephisto_settings: Settings, task_file: Any, statistics: str
) -> None:
    """The question asked at every tick in place of a count, and at every refused hello: a few index entries read,
    not the run's units, with no statistics yet (a run launched moments ago) as with statistics taken while a
    quarter of the units were still offered, which make a plan that reads the table look cheaper."""
    launcher, _ = make_launcher(database, mephisto_settings, task_file(), publishes=False)
    create_units(database, launcher, 3000)
    with database.write():  # units moved on after their launch: rewritten rows
        Unit.update(status=UnitStatus.ASSIGNED.value).where(Unit.unit_index >= 0).execute()
        first_left = Unit.select(Unit.id).order_by(Unit.id).offset(2200).scalar()
        Unit.update(status=UnitStatus.COMPLETED.value).where(Unit.id < first_left).execute()
        Unit.update(status=UnitStatus.LAUNCHED.value).where(Unit.id >= first_left).execute()
    if statistics != "none":
        database.db.execute_sql('ANALYZE "unit"')
    with database.write():
        Unit.update(status=UnitStatus.COMPLETED.value).execute()  # the run's end: none offered, none held
    run_id, statuses = launcher.ctx.run.id, status_counts.DECIDING
    with database.write():
        if database.is_sqlite:
            sql = "EXPLAIN QUERY PLAN " + statuses_present_sql(database.db.param, len(statuses))
            plan = [str(row[-1]) for row in database.db.execute_sql(sql, statuses_present_params(run_id, statuses))]
            scans = [step for step in plan if "unit" in step]
            assert len(scans) == 4 and all("INDEX unit_task_run_id_status_id" in step for step in scans), plan
        before = rows_read(database, ("unit",)).get("unit", 0) if not database.is_sqlite else 0
        assert statuses_present(run_id, statuses) == set()
        if not database.is_sqlite:
            # Asked as EXISTS, or ordered by id alone, PostgreSQL read all 3,000 units here.
            assert rows_read(database, ("unit",)).get("unit", 0) - before < 10
