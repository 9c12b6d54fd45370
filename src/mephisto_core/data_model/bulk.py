"""Fast bulk inserts for launching large runs: plain `executemany` with ids reserved up front.

Building one INSERT through the query builder costs more than the database's own work at 100,000 rows, so launch
writes rows with the driver's executemany. Ids are reserved first (SQLite: the next free ids, safe because the
caller holds the write transaction; PostgreSQL: drawn from the table's sequence), so the caller knows each
row's id without RETURNING.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import peewee as pw

# The text `JSONField.db_value` writes, from one encoder: `json.dumps` with options builds a new encoder per call.
json_text = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def reserve_ids(model: Any, count: int) -> list[int]:
    """`count` new primary keys for `model`; call inside the write transaction that inserts them."""
    if count <= 0:
        return []
    db = _database_of(model)
    table = model._meta.table_name
    if isinstance(db, pw.PostgresqlDatabase):
        cursor = db.execute_sql(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", (table, count)
        )
        return [int(row[0]) for row in cursor.fetchall()]
    start = int(db.execute_sql(f'SELECT COALESCE(MAX(id), 0) FROM "{table}"').fetchone()[0]) + 1
    return list(range(start, start + count))


def insert_rows(model: Any, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """INSERT `rows` (already in database form: JSON as text, datetimes, ids) into `model`'s table."""
    if not rows:
        return
    db = _database_of(model)
    table = model._meta.table_name
    placeholders = ", ".join([db.param] * len(columns))
    names = ", ".join(f'"{c}"' for c in columns)
    cursor = db.cursor()
    cursor.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({placeholders})', rows)


def db_datetime(model: Any, value: dt.datetime) -> dt.datetime | str:
    """`value` as `model`'s database stores it, for a value written into many rows.

    SQLite keeps datetimes as the text sqlite3's default adapter makes (`isoformat(" ")`): made once here rather
    than by the adapter for every row and column. Other databases take the datetime itself.
    """
    if isinstance(_database_of(model), pw.SqliteDatabase):
        return value.isoformat(" ")
    return value


def _database_of(model: Any) -> pw.Database:
    db = model._meta.database
    # The models are bound to a proxy; what kind of database it stands for decides the SQL.
    return db.obj if isinstance(db, pw.DatabaseProxy) else db
