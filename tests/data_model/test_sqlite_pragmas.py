"""Every SQLite connection runs in WAL mode, with foreign keys enforced and a busy timeout."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from mephisto_core.data_model import Database, open_database
from mephisto_core.settings import Settings


def _pragmas(database: Database) -> dict[str, object]:
    return {
        name: database.db.execute_sql(f"PRAGMA {name}").fetchone()[0]
        for name in ("journal_mode", "foreign_keys", "busy_timeout")
    }


def test_the_database_file_is_in_wal_mode_with_foreign_keys_and_a_busy_timeout(
    sqlite_database: Database,
) -> None:
    pragmas = _pragmas(sqlite_database)
    assert pragmas["journal_mode"] == "wal"
    assert pragmas["foreign_keys"] == 1
    assert isinstance(pragmas["busy_timeout"], int) and pragmas["busy_timeout"] >= 5_000


def test_connections_opened_by_other_threads_get_the_same_pragmas(sqlite_database: Database) -> None:
    def pragmas_in_new_thread() -> dict[str, object]:
        try:
            return _pragmas(sqlite_database)
        finally:
            sqlite_database.db.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        in_thread = pool.submit(pragmas_in_new_thread).result()
    assert in_thread == _pragmas(sqlite_database)


def test_the_sqlite_file_lives_in_the_data_dir(sqlite_database: Database, mephisto_settings: Settings) -> None:
    assert mephisto_settings.sqlite_path.is_file()
    assert mephisto_settings.sqlite_path.parent == mephisto_settings.data_dir
    assert (mephisto_settings.data_dir / "mephisto.db-wal").exists()


def test_a_sqlite_url_opens_the_named_file_with_the_same_pragmas(mephisto_settings: Settings) -> None:
    path = mephisto_settings.data_dir / "elsewhere" / "named.db"
    database = open_database(f"sqlite:///{path}", mephisto_settings.sqlite_path)
    try:
        assert path.is_file()
        assert not mephisto_settings.sqlite_path.exists()
        assert _pragmas(database)["journal_mode"] == "wal"
    finally:
        database.close()
