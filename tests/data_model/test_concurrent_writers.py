"""SQLite with many writers: threads and other processes all commit; none sees "database is locked"."""

from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from data_model_rows import RowFactory

from mephisto_core.data_model import Database, Worker
from mephisto_core.settings import Settings

THREADS = 8
ROWS_PER_THREAD = 40


def test_threads_writing_under_write_all_commit(sqlite_database: Database, sqlite_rows: RowFactory) -> None:
    start = threading.Barrier(THREADS)

    def insert_rows(thread: int) -> None:
        start.wait()
        try:
            for i in range(ROWS_PER_THREAD):
                # Read, then write, in one transaction: the lock upgrade that deadlocks under a plain BEGIN.
                with sqlite_database.write():
                    seen = Worker.select().count()
                    Worker.create(provider_type=f"thread-{thread}", name=f"row-{i}-after-{seen}")
        finally:
            sqlite_database.db.close()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        list(pool.map(insert_rows, range(THREADS)))  # re-raises the first error of any thread

    assert Worker.select().count() == THREADS * ROWS_PER_THREAD
    per_thread = {t: Worker.select().where(Worker.provider_type == f"thread-{t}").count() for t in range(THREADS)}
    assert set(per_thread.values()) == {ROWS_PER_THREAD}


def test_nested_write_blocks_join_the_outer_transaction(sqlite_database: Database) -> None:
    class Abort(Exception):
        pass

    with pytest.raises(Abort), sqlite_database.write():
        Worker.create(provider_type="mock", name="outer")
        with sqlite_database.write():
            Worker.create(provider_type="mock", name="inner")
        raise Abort
    assert Worker.select().count() == 0


_WRITER_SCRIPT = """
import sys
from pathlib import Path
from mephisto_core.data_model import Worker, open_database

database = open_database(None, Path(sys.argv[1]))
for i in range(int(sys.argv[3])):
    with database.write():
        Worker.create(provider_type=sys.argv[2], name=f"row-{i}")
database.close()
"""


def test_processes_and_threads_writing_at_once_all_commit(
    sqlite_database: Database, mephisto_settings: Settings
) -> None:
    rows_each = 60
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WRITER_SCRIPT,
                str(mephisto_settings.sqlite_path),
                f"process-{p}",
                str(rows_each),
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in range(3)
    ]
    for i in range(rows_each):
        with sqlite_database.write():
            Worker.create(provider_type="parent", name=f"row-{i}")
    errors = [proc.communicate(timeout=120)[1] for proc in processes]
    assert [proc.returncode for proc in processes] == [0, 0, 0], errors
    assert Worker.select().count() == 4 * rows_each
