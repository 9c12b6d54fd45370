"""Fast bulk inserts for launching large runs: rows straight to the driver, with ids reserved up front.

Building one INSERT through the query builder costs more than the database's own work at 100,000 rows, so launch
writes rows with the driver: SQLite's executemany (in-process, no round trips), PostgreSQL's COPY of up to
`POSTGRES_ROWS_PER_COPY` rows at a time (psycopg2's executemany sends one statement, so one round trip, per row;
by COPY a launch chunk, which every worker's message waits behind, takes a third less than by multi-row INSERTs).
Ids are reserved first (SQLite: the next free ids, safe because the caller holds the write transaction;
PostgreSQL: drawn from the table's sequence), so the caller knows each row's id without RETURNING.
"""

from __future__ import annotations

import datetime as dt
import decimal
import io
import json
import math
from collections.abc import Sequence
from typing import Any

import orjson
import peewee as pw

from mephisto_core.errors import MephistoError

#: rows per COPY on PostgreSQL: bounds the text built in memory at once (a few MiB)
POSTGRES_ROWS_PER_COPY = 5_000

# One encoder for every stored JSON text: `json.dumps` with options builds a new encoder per call. It is the
# fallback for what orjson refuses (non-str keys, integers past 64 bits, str/int subclasses such as enums).
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
# Types the stdlib encoder refuses are refused here too (orjson would write dataclasses and datetimes).
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS


class NotJSONValue(MephistoError):
    """A value to store holds NaN or an infinity, which JSON cannot hold (Python would write `NaN`/`Infinity`)."""


def json_text(value: Any) -> str:
    """The stored JSON text of `value` (what `JSONField` writes); `NotJSONValue` if it holds NaN or an infinity.

    orjson first (every submission's answers pass here, on the database writer's thread); it writes NaN and the
    infinities as `null`, so a text with a `null` in it is checked for them before it is trusted.
    """
    try:
        encoded = orjson.dumps(value, option=_ORJSON_OPTIONS)
    except TypeError:
        return _stdlib_json_text(value)
    if b"null" in encoded and _holds_non_finite(value):
        raise _not_json(value)
    return encoded.decode("utf-8")


def _stdlib_json_text(value: Any) -> str:
    try:
        return _encode(value)
    except ValueError:
        if not _holds_non_finite(value):
            raise  # not ours to word (e.g. Python's cap on the digits of an integer)
        raise _not_json(value) from None


def _not_json(value: Any) -> NotJSONValue:
    preview = repr(value)
    preview = preview if len(preview) <= 200 else preview[:200] + "..."
    return NotJSONValue(
        f"cannot store {preview}: a number in it is NaN or infinite (NaN, Infinity or an overflowing number "
        "such as 1e999 in a data file), which JSON cannot hold; remove or replace it"
    )


def _holds_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_holds_non_finite(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_holds_non_finite(item) for item in value)
    return False


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
    names = ", ".join(f'"{c}"' for c in columns)
    cursor = db.cursor()
    if isinstance(db, pw.PostgresqlDatabase):
        for start in range(0, len(rows), POSTGRES_ROWS_PER_COPY):
            text = io.StringIO(_copy_text(rows[start : start + POSTGRES_ROWS_PER_COPY]))
            cursor.copy_expert(f'COPY "{table}" ({names}) FROM STDIN', text)
        return
    placeholders = ", ".join([db.param] * len(columns))
    cursor.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({placeholders})', rows)


def _copy_text(rows: Sequence[Sequence[Any]]) -> str:
    """`rows` in PostgreSQL COPY's text format."""
    return "".join("\t".join([_copy_field(value) for value in row]) + "\n" for row in rows)


def _copy_field(value: Any) -> str:
    """One value as COPY reads it back: what psycopg2 would have sent for it in an INSERT."""
    if value is None:
        return "\\N"
    if isinstance(value, str):  # a backslash starts an escape; tabs and line ends separate fields and rows
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    if isinstance(value, bool):  # before int: a bool is an int
        return "t" if value else "f"
    if isinstance(value, int | decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.isoformat(" ")
    # Rows are in database form (text, numbers, naive UTC datetimes); anything else is a caller's mistake.
    raise TypeError(f"cannot write {type(value).__name__} {value!r} in a bulk insert")


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
