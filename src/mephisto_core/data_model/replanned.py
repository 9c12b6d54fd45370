"""PostgreSQL statements kept prepared on each connection, and prepared again each time their executions double.

A prepared statement skips the planning at each execution, a quarter of the shared claim's time on the server. But
PostgreSQL keeps a prepared statement's plan until its tables are next analyzed, and a run's tables grow from
nothing to thousands of rows in its first seconds, long before autovacuum analyzes them. Prepared once, the shared
completion's plan, made on a near-empty agent table, read the whole table at every batch by 20,000 units.

So the statement is prepared again at its 1st, 2nd, 4th, 8th, ... execution on a connection. While the tables grow
with the statement's use, its plan is made on tables at least about half their size, and it is planned about
log2(n) times in n executions (plus the few custom plans PostgreSQL makes after each PREPARE before it settles on a
generic one). An ANALYZE in between makes PostgreSQL plan it again by itself.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import peewee as pw

from mephisto_core.data_model.pool_sql import numbered

_names = itertools.count(1)


@dataclass
class _Prepared:
    """The statement's prepared name on one connection, its executions there, and when to prepare it again."""

    name: str = ""
    executions: int = 0
    next_prepare: int = 1


class Replanned:
    """One statement (psycopg2's `%s` placeholders) run prepared on each connection of `db`, prepared again as its
    executions there double."""

    def __init__(self, db: pw.Database, sql: str) -> None:
        self.db = db
        self._prefix = f"mephisto_replanned_{next(_names)}_"
        self._text, count = numbered(sql)
        self._arguments = ", ".join(["%s"] * count)
        self._on: weakref.WeakKeyDictionary[Any, _Prepared] = weakref.WeakKeyDictionary()
        self._preparations = itertools.count(1)

    def execute(self, params: Sequence[Any]) -> Any:
        """Execute the statement with `params` on the database's current connection; returns the cursor."""
        connection = self.db.connection()
        prepared = self._on.get(connection)
        if prepared is None:
            prepared = self._on[connection] = _Prepared()
        prepared.executions += 1
        if prepared.executions >= prepared.next_prepare:
            name = f"{self._prefix}{next(self._preparations)}"
            # The new one first: if PREPARE fails, nothing after it runs and the old name stays usable. Neither
            # is undone by a rollback (prepared statements belong to the session, not the transaction).
            drop = f"; DEALLOCATE {prepared.name}" if prepared.name else ""
            self.db.execute_sql(f"PREPARE {name} AS {self._text}{drop}")
            prepared.name, prepared.next_prepare = name, prepared.next_prepare * 2
        return self.db.execute_sql(f"EXECUTE {prepared.name} ({self._arguments})", params)
