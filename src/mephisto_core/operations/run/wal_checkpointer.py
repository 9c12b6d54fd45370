"""SQLite: the operator's write-ahead log is copied into the database file on a thread of its own.

SQLite checkpoints by itself inside the commit that takes the log past 1,000 pages, on the committing thread. For
the operator that thread is the database writer, which every hello and submission waits for: at 5,000 workers
with 1 s think time the checkpoints were 12 % of its time. The writer turns them off on its own connection
(`PRAGMA wal_autocheckpoint = 0`) and this thread checkpoints instead, at most once per interval while commits
come in, with its own connection. A PASSIVE checkpoint never waits for the writer or a reader. What a commit made
durable is unchanged: a committed transaction is in the log whether or not it was copied yet.

SQLite starts the log over from its beginning only when a transaction begins with everything in the log copied.
A writer that commits all the time (thousands of workers) always has a commit in the log that this thread has not
copied yet, so the log would grow without end: 1.9 GB in a 50,000-unit run, and every write appending to the file
made the kernel allocate and zero new pages (a fifth of the operator's CPU). So once the log is longer than
`restart_after_pages`, the writer copies the few pages left itself, between two transactions (`catch_up`): no
commit can come in meanwhile, and its next transaction starts the log over. The writer does the same when a commit
has waited `STARVED_AFTER_INTERVALS` intervals for this thread to start a checkpoint: on a machine whose cores are
all busy the thread may wait for one, and the log would grow meanwhile unmeasured.
"""

from __future__ import annotations

import logging
import threading
import time

import peewee as pw

from mephisto_core.data_model import Database

log = logging.getLogger(__name__)

#: how long the checkpointer gathers commits before copying them: long enough that a checkpoint copies many
#: commits' pages at once (a page changed by several commits is copied once: at 5,000 workers this thread's CPU
#: was 0.47 s per 50,000 units at 0.2 s against 0.86 s at 0.05 s), short enough that the log stays well under
#: `RESTART_AFTER_PAGES` between checkpoints (a long log makes every read of it slower).
CHECKPOINT_INTERVAL_S = 0.2
#: while checkpoints keep failing (a full disk, an I/O error), one log line this often says so
FAILURE_LOG_EVERY_SECONDS = 10.0
#: a log this long (pages; 64 MiB of 4 KiB pages) is started over: the writer copies what this thread has not yet
#: (`WalCheckpointer.catch_up`), at most an interval's commits, a small part of all the copying
RESTART_AFTER_PAGES = 16_000
#: a commit that has waited this many intervals for the thread to start a checkpoint is copied by the writer itself
#: (`catch_up`); the thread normally starts within one interval, so this only happens while it cannot get a core
STARVED_AFTER_INTERVALS = 10


class WalCheckpointer:
    """Checkpoints a SQLite database's log on its own thread after commits (`committed`), at most once per
    `interval` seconds; idle when nothing is committed."""

    def __init__(
        self,
        database: Database,
        interval: float = CHECKPOINT_INTERVAL_S,
        restart_after_pages: int = RESTART_AFTER_PAGES,
    ) -> None:
        self.database = database
        self.interval = interval
        self.restart_after_pages = restart_after_pages
        self.checkpoints = 0  # checkpoints run by this thread
        self.catch_ups = 0  # checkpoints run by the writer (`catch_up`) that copied
        self._caught_up_after = -1  # this thread's checkpoint count at the last catch-up
        self._waiting_since: float | None = None  # when the oldest commit not yet taken up by a checkpoint came
        self.last_result: tuple[int, int, int] | None = None  # (busy, pages in the log, pages copied) of the last
        self._due = threading.Event()
        self._stopping = threading.Event()
        self._failure_logged_at = -FAILURE_LOG_EVERY_SECONDS
        self._thread = threading.Thread(target=self._run, name="mephisto-wal-checkpointer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def committed(self) -> None:
        """A transaction was committed: a checkpoint is due within the interval. Cheap; the writer's thread."""
        self._due.set()
        if self._waiting_since is None:
            self._waiting_since = time.monotonic()

    def catch_up_due(self) -> bool:
        """Whether the writer should copy the rest of the log itself (`catch_up`): this thread's last checkpoint
        found the log past `restart_after_pages` and the writer has not caught up since, or a commit has waited
        `STARVED_AFTER_INTERVALS` intervals for this thread to start a checkpoint. Cheap; asked by the writer after
        each transaction."""
        result = self.last_result
        if result is not None and result[1] >= self.restart_after_pages and self.checkpoints > self._caught_up_after:
            return True
        waiting_since = self._waiting_since
        return waiting_since is not None and time.monotonic() - waiting_since > STARVED_AFTER_INTERVALS * self.interval

    def catch_up(self) -> None:
        """Copy the rest of the log on the calling thread's connection: the writer's, between two of its
        transactions, so that nothing is committed meanwhile and its next transaction starts the log over. Should
        this thread be copying at the same moment, SQLite lets one of the two copy and tells the other it was busy."""
        self._caught_up_after = self.checkpoints
        self._waiting_since = None
        result = self._copy()
        if result is not None and result[0] == 0:  # 1: this thread was copying, so the writer did not
            self.catch_ups += 1

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
                self._waiting_since = None  # this checkpoint takes up every commit so far
                self._checkpoint()
        finally:
            self.database.db.close()  # this thread's connection (peewee keeps one per thread)

    def _checkpoint(self) -> None:
        result = self._copy()
        if result is not None:
            self.checkpoints += 1
            self.last_result = result

    def _copy(self) -> tuple[int, int, int] | None:
        """A PASSIVE checkpoint on the calling thread's connection: (busy, pages in the log, pages copied), or None
        when it failed (logged at most once per FAILURE_LOG_EVERY_SECONDS)."""
        try:
            row = self.database.db.execute_sql("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except pw.DatabaseError as exc:
            # The writer goes on; the log grows until a checkpoint succeeds (SQLite's own would fail alike).
            now = time.monotonic()
            if now - self._failure_logged_at >= FAILURE_LOG_EVERY_SECONDS:
                log.warning("could not copy the database's write-ahead log into it (will retry): %s", exc)
                self._failure_logged_at = now
            return None
        return int(row[0]), int(row[1]), int(row[2])
