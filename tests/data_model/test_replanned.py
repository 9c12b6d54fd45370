"""PostgreSQL statements run prepared and prepared again as their executions double (data_model/replanned.py): a
plan made while a table was small does not outlive the table's growth, old names are dropped, and rollbacks and
new connections leave them usable."""

from __future__ import annotations

from collections.abc import Iterator

import peewee as pw
import pytest

from mephisto_core.data_model.replanned import Replanned
from mephisto_core.errors import DatabaseError

pytestmark = pytest.mark.postgres

COUNT = 'SELECT COUNT(*) FROM "replanned_rows" WHERE "grp" = %s'


@pytest.fixture
def db(postgres_url: str) -> Iterator[pw.PostgresqlDatabase]:
    """A table of its own with 10 rows, analyzed then and never again (autovacuum off for it): as a run's tables
    are in their first minutes, while the launch and the claims add rows."""
    database = pw.PostgresqlDatabase(None)
    database.init(postgres_url.rsplit("/", 1)[1], dsn=postgres_url)
    database.connect()
    database.execute_sql('DROP TABLE IF EXISTS "replanned_rows"')
    database.execute_sql(
        'CREATE TABLE "replanned_rows" ("id" serial PRIMARY KEY, "grp" integer, "payload" text) '
        "WITH (autovacuum_enabled = false)"
    )
    database.execute_sql('CREATE INDEX "replanned_rows_grp" ON "replanned_rows" ("grp")')
    database.execute_sql(
        """INSERT INTO "replanned_rows" ("grp", "payload") SELECT mod(i, 5), 'x' FROM generate_series(1, 10) i"""
    )
    database.execute_sql('ANALYZE "replanned_rows"')
    try:
        yield database
    finally:
        database.execute_sql('DROP TABLE "replanned_rows"')
        database.close()


def prepared_names(db: pw.PostgresqlDatabase) -> list[str]:
    return [
        name
        for (name,) in db.execute_sql(
            "SELECT name FROM pg_prepared_statements WHERE starts_with(name, 'mephisto_replanned_')"
        )
    ]


def plan_of(db: pw.PostgresqlDatabase, name: str) -> str:
    return "\n".join(line for (line,) in db.execute_sql(f"EXPLAIN EXECUTE {name} (1)"))


def test_prepared_again_at_the_1st_2nd_4th_8th_16th_execution_with_one_name_at_a_time(db):
    statement = Replanned(db, COUNT)
    seen = []
    for _ in range(20):
        assert statement.execute((1,)).fetchone() == (2,)
        names = prepared_names(db)
        assert len(names) == 1, names  # the previous one is dropped with each new one
        if names[0] not in seen:
            seen.append(names[0])
    assert len(seen) == 5  # executions 1, 2, 4, 8 and 16


def test_a_plan_made_on_a_small_table_is_made_again_once_the_table_grew(db):
    db.execute_sql("SET plan_cache_mode = force_generic_plan")  # the plan made at PREPARE is the one used
    statement = Replanned(db, COUNT)
    statement.execute((1,))
    db.execute_sql(f"PREPARE prepared_once AS {COUNT.replace('%s', '$1')}")
    (first,) = prepared_names(db)
    assert "Seq Scan" in plan_of(db, first)  # 10 rows: reading the table's one page is cheapest
    assert "Seq Scan" in plan_of(db, "prepared_once")  # planned (and kept) at its first execution
    db.execute_sql(
        """INSERT INTO "replanned_rows" ("grp", "payload") SELECT mod(i, 1000), 'x' FROM generate_series(1, 200000) i"""
    )
    assert "Seq Scan" in plan_of(db, "prepared_once")  # prepared once, the plan stays that of the small table
    for _ in range(3):  # executions 2 to 4: prepared again at the 2nd and the 4th
        statement.execute((1,))
    (current,) = prepared_names(db)
    assert current != first
    assert "Index" in plan_of(db, current) and "Seq Scan" not in plan_of(db, current)
    db.execute_sql("DEALLOCATE prepared_once")


def test_rollbacks_and_failed_executions_leave_it_usable(db):
    statement = Replanned(db, 'SELECT 10 / %s::integer FROM "replanned_rows" LIMIT 1')
    with pytest.raises(ZeroDivisionError), db.atomic():  # prepared inside a transaction that rolls back
        assert statement.execute((2,)).fetchone() == (5,)
        raise ZeroDivisionError
    with pytest.raises(pw.DataError), db.atomic():  # prepared again (2nd execution), then the execution fails
        statement.execute((0,))
    assert statement.execute((5,)).fetchone() == (2,)  # prepared statements belong to the session


def test_a_new_connection_gets_its_own(db):
    statement = Replanned(db, COUNT)
    for _ in range(3):
        statement.execute((1,))
    db.close()
    db.connect()
    assert prepared_names(db) == []
    assert statement.execute((1,)).fetchone() == (2,)  # prepared on the new connection at its first execution
    assert len(prepared_names(db)) == 1


def test_statements_the_session_lost_give_a_clear_error_once_and_are_prepared_again(db):
    statement = Replanned(db, COUNT)
    for _ in range(3):
        statement.execute((1,))
    db.execute_sql("DEALLOCATE ALL")  # as DISCARD ALL or a pooler in transaction mode would
    with pytest.raises(DatabaseError, match="pooler in session mode"):
        statement.execute((1,))
    assert statement.execute((1,)).fetchone() == (2,)
    assert len(prepared_names(db)) == 1


def test_each_execution_is_one_round_trip_preparing_again_included(db, monkeypatch):
    """At 11 ms from the database, a preparation in a round trip of its own made one batch in four of a run's
    first seconds 11 ms slower: the DEALLOCATE, the PREPARE and the EXECUTE go together."""
    statement = Replanned(db, 'SELECT COUNT(*) || \'%%\' FROM "replanned_rows" WHERE "grp" = %s')
    sent: list[str] = []
    execute_sql = db.execute_sql

    def recording(sql, params=None):
        sent.append(sql)
        return execute_sql(sql, params)

    monkeypatch.setattr(db, "execute_sql", recording)
    for _ in range(5):
        assert statement.execute((1,)).fetchone() == ("2%",)
    assert len(sent) == 5  # prepared at the 1st, 2nd and 4th
    assert [sql.split(" ", 1)[0] for sql in sent] == ["PREPARE", "DEALLOCATE", "EXECUTE", "DEALLOCATE", "EXECUTE"]
    assert len(prepared_names(db)) == 1
