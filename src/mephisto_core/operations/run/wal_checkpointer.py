"""SQLite: the operator's write-ahead log is copied into the database file on a thread of its own.

SQLite checkpoints by itself inside the commit that takes the log past 1,000 pages, on the committing thread. For
the operator that thread is the database writer, which every hello and submission waits for: at 5,000 workers
with 1 s think time the checkpoints were 12 % of its time. The writer turns them off on its own connection
(`PRAGMA wal_autocheckpoint = 0`) and this thread checkpoints instead, at most once per interval while commits
come in, with its own connection. A PASSIVE checkpoint never waits for the writer or a reader, and SQLite restarts
the log from its beginning at the next write once everything in it was copied, so the log stays small. What a
commit made durable is unchanged: a committed transaction is in the log whether or not it was copied yet.
"""

from __future__ import annotations

import logging
import threading
import time

import peewee as pw

from mephisto_core.data_model import Database

log = logging.getLogger(__name__)

#: how long the checkpointer gathers commits before copying them: short enough that the log stays a few thousand
#: pages at most under load (a long log makes every read of it slower), long enough that a checkpoint copies many
#: commits' pages at once (a page changed by several commits is copied once).
CHECKPOINT_INTERVAL_S = 0.05
#: while checkpoints keep failing (a full disk, an I/O error), one log line this often says so
FAILURE_LOG_EVERY_SECONDS = 10.0


class WalCheckpointer:
    """Checkpoints a SQLite database's log on its own thread after commits (`committed`), at most once per
    `interval` seconds; idle when nothing is committed."""

    def __init__(self, database: Database, interval: float = CHECKPOINT_INTERVAL_S) -> None:
        self.database = database
        self.interval = interval
        self.checkpoints = 0  # checkpoints run
        self.last_result: tuple[int, int, int] | None = None  # (busy, pages in the log, pages copied) of the last
        self._due = threading.Event()
        self._stopping = threading.Event()
        self._failure_logged_at = -FAILURE_LOG_EVERY_SECONDS
        self._thread = threading.Thread(target=self._run, name="mephisto-wal-checkpointer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def committed(self) -> None:
        """A transaction was committed: a checkpoint is due within the interval. Cheap; any thread."""
        self._due.set()

    def stop(self) -> None:
        """Stop the thread (a checkpoint under way finishes first) and close its connection."""
        if self._thread.is_alive():
            self._stopping.set()
            self._due.set()
            self._thread.join()

    def _run(self) -> None:
        try:
            while True:
                self._due.wait()
                if self._stopping.wait(self.interval):  # gathers the interval's commits into one checkpoint
                    return
                self._due.clear()
                if self._stopping.is_set():  # stop() came after the wait: the clear may have taken its wake-up
                    return
                self._checkpoint()
        finally:
            self.database.db.close()  # this thread's connection (peewee keeps one per thread)

    def _checkpoint(self) -> None:
        try:
            row = self.database.db.execute_sql("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except pw.DatabaseError as exc:
            # The writer goes on; the log grows until a checkpoint succeeds (SQLite's own would fail alike).
            now = time.monotonic()
            if now - self._failure_logged_at >= FAILURE_LOG_EVERY_SECONDS:
                log.warning("could not copy the database's write-ahead log into it (will retry): %s", exc)
                self._failure_logged_at = now
            return
        self.checkpoints += 1
        self.last_result = (int(row[0]), int(row[1]), int(row[2]))
