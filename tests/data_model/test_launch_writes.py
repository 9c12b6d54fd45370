"""What launching a large run writes: units born `created` or `launched` only, whole-run status moves in one
UPDATE that keeps the lifecycle, and bulk rows that read back as the models write them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from data_model_rows import RowFactory

from mephisto_core.data_model import Assignment, Database, Unit, UnitStatus
from mephisto_core.data_model.bulk import POSTGRES_ROWS_PER_COPY, db_datetime, insert_rows, json_text, reserve_ids
from mephisto_core.data_model.models import JSONField
from mephisto_core.data_model.statuses import UNIT_BIRTH_STATUSES, check_unit_birth
from mephisto_core.data_model.transitions import move_run_units
from mephisto_core.errors import IllegalTransition

U = UnitStatus


@pytest.mark.parametrize("status", list(UnitStatus), ids=str)
def test_a_unit_is_born_created_or_launched_and_nothing_else(status: UnitStatus) -> None:
    if status in (U.CREATED, U.LAUNCHED):
        check_unit_birth(status.value)
        return
    with pytest.raises(IllegalTransition) as refused:
        check_unit_birth(status.value)
    assert repr(status.value) in str(refused.value) and "created, launched" in str(refused.value)


def test_birth_statuses_are_where_the_lifecycle_starts() -> None:
    assert {U.CREATED, U.LAUNCHED} == UNIT_BIRTH_STATUSES
    with pytest.raises(IllegalTransition):
        check_unit_birth("Launched")  # status names are exact


def test_move_run_units_moves_only_that_runs_units_in_the_sources(rows: RowFactory) -> None:
    run, other_run = rows.task_run(), rows.task_run()
    statuses = [U.CREATED, U.LAUNCHED, U.LAUNCHED, U.ASSIGNED, U.COMPLETED]
    mine = [rows.unit(rows.assignment(run), status=s) for s in statuses]
    theirs = rows.unit(rows.assignment(other_run), status=U.LAUNCHED)

    assert move_run_units(run.id, [U.LAUNCHED, U.CREATED], U.EXPIRED) == 3

    after = {u.id: u.status for u in Unit.select()}
    assert [after[u.id] for u in mine] == ["expired", "expired", "expired", "assigned", "completed"]
    assert after[theirs.id] == "launched"
    assert move_run_units(run.id, [U.LAUNCHED, U.CREATED], U.EXPIRED) == 0


def test_move_run_units_refuses_a_move_the_lifecycle_forbids_before_writing(rows: RowFactory) -> None:
    run = rows.task_run()
    unit = rows.unit(rows.assignment(run), status=U.COMPLETED)
    with pytest.raises(IllegalTransition, match="'completed' to 'expired'"):
        move_run_units(run.id, [U.LAUNCHED, U.COMPLETED], U.EXPIRED)
    assert Unit.get_by_id(unit.id).status == "completed"  # nothing moved, not even the legal part


@pytest.mark.parametrize(
    "value",
    [{"text": "hello, world", "n": 1}, {"ünïcode": "日本語 \u2028", "nested": [1, 2.5, None, True]}, {}],
)
def test_json_text_is_what_the_json_field_writes(value: dict[str, object]) -> None:
    assert json_text(value) == JSONField().db_value(value)


def test_bulk_rows_read_back_as_model_fields(database: Database, rows: RowFactory) -> None:
    run = rows.task_run()
    when = dt.datetime(2026, 12, 2, 3, 4, 5, 678901)
    on_the_second = when.replace(microsecond=0)  # the text form drops ".000000": it must still read back
    inputs = {"text": 'a "quoted" value, with ünïcode'}
    with database.write():
        ids = reserve_ids(Assignment, 2)
        insert_rows(
            Assignment,
            ("id", "task_run_id", "inputs", "created_at"),
            [
                (ids[0], run.id, json_text(inputs), db_datetime(Assignment, when)),
                (ids[1], run.id, json_text({}), db_datetime(Assignment, on_the_second)),
            ],
        )
    first, second = Assignment.get_by_id(ids[0]), Assignment.get_by_id(ids[1])
    assert (first.inputs, first.created_at) == (inputs, when)
    assert (second.inputs, second.created_at) == ({}, on_the_second)
    # Rows the models write and rows the bulk path writes compare alike in SQL.
    assert Assignment.select().where(Assignment.created_at > on_the_second).count() == 1


def test_bulk_rows_on_postgresql_go_by_copy_many_to_a_statement(database: Database, rows: RowFactory) -> None:
    # psycopg2's executemany sends one statement, so one round trip, per row: 100,000 units took seconds of the
    # database writer's time on PostgreSQL while workers waited. COPY takes a third less than multi-row INSERTs.
    run = rows.task_run()
    count = POSTGRES_ROWS_PER_COPY + 500
    statements: list[tuple[str, Any]] = []
    connection = database.db.connection()
    before = getattr(connection, "cursor_factory", None)
    if not database.is_sqlite:
        from psycopg2.extensions import cursor

        class Counting(before or cursor):  # type: ignore[misc]
            def execute(self, query: Any, vars: Any = None) -> Any:
                statements.append(("execute", bytes(query[:6]) if isinstance(query, bytes) else query[:6]))
                return super().execute(query, vars)

            def executemany(self, query: Any, vars_list: Any) -> Any:
                statements.append(("executemany", query[:6]))
                return super().executemany(query, vars_list)

            def copy_expert(self, sql: Any, file: Any, size: int = 8192) -> Any:
                statements.append(("copy_expert", sql[:4]))
                return super().copy_expert(sql, file, size)

        connection.cursor_factory = Counting
    try:
        with database.write():
            ids = reserve_ids(Assignment, count)
            when = db_datetime(Assignment, dt.datetime(2026, 12, 4))
            insert_rows(
                Assignment,
                ("id", "task_run_id", "inputs", "created_at"),
                [(i, run.id, json_text({"row": n}), when) for n, i in enumerate(ids)],
            )
    finally:
        if not database.is_sqlite:
            connection.cursor_factory = before
    stored = {a.id: a.inputs["row"] for a in Assignment.select().where(Assignment.task_run == run)}
    assert stored == {i: n for n, i in enumerate(ids)}
    if not database.is_sqlite:
        writes = [how for how, text in statements if text in ("INSERT", b"INSERT", "COPY")]
        assert writes == ["copy_expert"] * 2, statements  # 5,000 + 500 rows


#: text COPY's format gives a meaning to: its field and row separators, its escape and its NULL
AWKWARD_TEXT = "tab\there\nnew line\r\nback\\slash \\N not null, \\t not a tab, 'single' \"double\" é ✓ \U0001f600"


def test_bulk_rows_read_back_exactly_whatever_their_text_holds(database: Database, rows: RowFactory) -> None:
    run = rows.task_run()
    inputs = {"text": AWKWARD_TEXT, "nested": [AWKWARD_TEXT, None, 12345678901234567890123]}
    with database.write():
        ids = reserve_ids(Assignment, 2)
        when = db_datetime(Assignment, dt.datetime(2026, 12, 5, 4, 1, 2, 345678))
        insert_rows(
            Assignment,
            ("id", "task_run_id", "inputs", "created_at"),
            [(ids[0], run.id, json_text(inputs), when), (ids[1], run.id, AWKWARD_TEXT, when)],
        )
    first = Assignment.get_by_id(ids[0])
    assert first.inputs == inputs
    assert first.created_at == dt.datetime(2026, 12, 5, 4, 1, 2, 345678)
    raw = database.db.execute_sql(f"SELECT inputs FROM assignment WHERE id = {ids[1]}").fetchone()[0]
    assert raw == AWKWARD_TEXT


# PostgreSQL only: there the rows are written as COPY text, while SQLite's driver adapts each value itself.
@pytest.mark.parametrize("database_target", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_a_bulk_row_on_postgresql_with_a_value_of_no_database_form_is_refused_naming_it(
    database: Database, rows: RowFactory
) -> None:
    assert not database.is_sqlite
    run = rows.task_run()
    aware = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)  # rows hold naive UTC datetimes (db_datetime)
    with pytest.raises(TypeError, match=r"cannot write datetime .* in a bulk insert"), database.write():
        insert_rows(Assignment, ("id", "task_run_id", "inputs", "created_at"), [(1, run.id, "{}", aware)])
    assert Assignment.select().count() == 0
