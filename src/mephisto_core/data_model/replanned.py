"""PostgreSQL statements kept prepared on each connection, and prepared again each time their executions double.

A prepared statement skips the planning at each execution, a quarter of the shared claim's time on the server. But
PostgreSQL keeps a prepared statement's plan until its tables are next analyzed, and a run's tables grow from
nothing to thousands of rows in its first seconds, long before autovacuum analyzes them. Prepared once, the shared
completion's plan, made on a near-empty agent table, read the whole table at every batch by 20,000 units.

So the statement is prepared again at its 1st, 2nd, 4th, 8th, ... execution on a connection. While the tables grow
with the statement's use, its plan is made on tables at least about half their size, and it is planned about
log2(n) times in n executions (plus the few custom plans PostgreSQL makes after each PREPARE before it settles on a
generic one). An ANALYZE in between makes PostgreSQL plan it again by itself.

A session that lost its prepared statements (DISCARD ALL, a pooler in transaction mode) fails that execution with
an error that says so, and prepares them again at the next (`prepared_again_if_lost`, for pool_sql's too).
"""

from __future__ import annotations

import contextlib
import itertools
import re
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import peewee as pw

from mephisto_core.errors import DatabaseError

_names = itertools.count(1)
#: SQLSTATE invalid_sql_statement_name: the session has no statement of that name (any more)
_NOT_PREPARED = "26000"


def numbered(sql: str) -> tuple[str, int]:
    """`sql` with psycopg2's `%s` placeholders as PREPARE's `$1`, `$2`, ...; and how many there are."""
    numbers = itertools.count(1)
    return re.subn("%s", lambda _: f"${next(numbers)}", sql)


@contextlib.contextmanager
def prepared_again_if_lost(forget: Callable[[], object]) -> Iterator[None]:
    """Around an EXECUTE: when the session no longer has the statement, `forget` that it was prepared (so the next
    execution prepares it again) and say why it can happen instead of PostgreSQL's bare "does not exist"."""
    try:
        yield
    except pw.DatabaseError as exc:  # peewee keeps psycopg2's error as `orig`
        if getattr(getattr(exc, "orig", None), "pgcode", None) != _NOT_PREPARED:
            raise
        forget()
        raise DatabaseError(
            f"PostgreSQL no longer has the statements this launch prepared on its connection ({exc}). They are "
            "prepared again at the next batch, but something drops them: DISCARD ALL, or a connection pooler in "
            "transaction mode (PgBouncer's default), which runs each transaction on any server connection. "
            "Connect to the server itself, or through a pooler in session mode."
        ) from exc


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
        # Lost (the old name of a DEALLOCATE below, or the one executed): all of it is prepared afresh next time.
        with prepared_again_if_lost(lambda: self._on.pop(connection, None)):
            drop_and_prepare = ""
            if prepared.executions >= prepared.next_prepare:
                name = f"{self._prefix}{next(self._preparations)}"
                # In the execution's round trip (the cursor returns the last statement's rows). DEALLOCATE and
                # PREPARE are not undone by a rollback or a failed EXECUTE (prepared statements belong to the
                # session, not the transaction); if the PREPARE fails after the DEALLOCATE, the next EXECUTE finds
                # the old name lost, and that is handled as any loss.
                drop = f"DEALLOCATE {prepared.name}; " if prepared.name else ""
                drop_and_prepare = f"{drop}PREPARE {name} AS {self._text}; "
                prepared.name, prepared.next_prepare = name, prepared.next_prepare * 2
            return self.db.execute_sql(f"{drop_and_prepare}EXECUTE {prepared.name} ({self._arguments})", params)
