"""How much write-ahead log a PostgreSQL server wrote: a count of the database's write work that, unlike CPU time,
does not move with how busy the machine is (every row version and index entry is logged)."""

from __future__ import annotations

from contextlib import closing


def wal_position(database_url: str) -> int:
    """The server's current write-ahead log position, in bytes."""
    import psycopg2  # only runs on PostgreSQL need it (the postgres extra)

    with closing(psycopg2.connect(database_url)) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])
