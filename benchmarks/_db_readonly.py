"""Read a running launch's SQLite database without writing to it: how many units are in each status.

`mephisto_core.data_model.open_database` applies migrations and binds the models, which a benchmark must not
do while the launch it measures owns the file. A read-only `sqlite3` connection (URI `mode=ro`) reads the
committed state beside the launch's writer (WAL mode lets readers and the writer work at once). Table and
column names come from the models, so a rename shows up here as an error, not as a silent zero.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from mephisto_core.data_model import Unit


class ReadOnlyUnits:
    """A read-only connection to a launch's database; `counts()` groups its units by status."""

    def __init__(self, sqlite_path: Path) -> None:
        self.sqlite_path = sqlite_path
        self._conn: sqlite3.Connection | None = None
        table = Unit._meta.table_name
        status = Unit.status.column_name
        self._query = f'SELECT "{status}", COUNT(*) FROM "{table}" GROUP BY "{status}"'

    def counts(self) -> dict[str, int] | None:
        """Units per status, or None while the database or its unit table does not exist yet."""
        if self._conn is None:
            if not self.sqlite_path.exists():
                return None
            self._conn = sqlite3.connect(f"file:{self.sqlite_path}?mode=ro", uri=True, timeout=5)
        try:
            rows = self._conn.execute(self._query).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return None  # the launch has not created its schema yet
            raise
        return {str(status): int(count) for status, count in rows}

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
