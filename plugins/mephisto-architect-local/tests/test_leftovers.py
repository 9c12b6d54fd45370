"""The local architect's cleaner: a router whose launch is gone is killed, a reused pid never is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mephisto_architect_local.leftovers import ROUTER_RECORD, LocalArchitectCleaner, process_start, record_router

from mephisto_core.abstractions import CleanupScope
from mephisto_core.settings import Settings
from mephisto_core.testing.runs import create_held_unit


@pytest.fixture
def run_folder(sqlite_database: Any, mephisto_settings: Settings) -> Path:
    """The folder of a run that exists and that no process serves (never launched)."""
    held = create_held_unit(sqlite_database)
    folder = mephisto_settings.runs_dir / str(held.unit.task_run_id)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def sleeper() -> Any:
    """A process in its own session, as the router child is; killed after the test if still there."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


def _scope(database: Any, settings: Settings, live: bool = False) -> CleanupScope:
    return CleanupScope(database, settings.data_dir, settings.runs_dir, None, lambda run_id: live)


def test_a_router_left_running_is_listed_and_stopped(
    run_folder: Path, sleeper: Any, sqlite_database: Any, mephisto_settings: Settings
) -> None:
    record_router(run_folder, sleeper.pid, "http://127.0.0.1:4321/")
    cleaner = LocalArchitectCleaner()
    [found] = cleaner.find(_scope(sqlite_database, mephisto_settings))
    assert found.what.startswith(f"router process {sleeper.pid} serving http://127.0.0.1:4321/")
    assert found.cost == "a running process and its port (http://127.0.0.1:4321/)"
    assert cleaner.remove(_scope(sqlite_database, mephisto_settings), found).startswith(
        f"stopped router process {sleeper.pid}"
    )
    assert sleeper.wait(10) is not None and not (run_folder / ROUTER_RECORD).exists()


def test_a_reused_pid_is_never_signalled(
    run_folder: Path, sleeper: Any, sqlite_database: Any, mephisto_settings: Settings
) -> None:
    # The record's router died and the system gave its pid to another program: the start times differ.
    (run_folder / ROUTER_RECORD).write_text(json.dumps({"pid": sleeper.pid, "started": "1", "url": "http://x/"}))
    cleaner = LocalArchitectCleaner()
    [found] = cleaner.find(_scope(sqlite_database, mephisto_settings))
    assert "which no longer runs" in found.what and found.cost.startswith("nothing")
    assert cleaner.remove(_scope(sqlite_database, mephisto_settings), found).startswith("deleted the stale router")
    assert sleeper.poll() is None and process_start(sleeper.pid) is not None
    assert not (run_folder / ROUTER_RECORD).exists()


def test_nothing_of_a_live_run_is_touched(
    run_folder: Path, sleeper: Any, sqlite_database: Any, mephisto_settings: Settings
) -> None:
    record_router(run_folder, sleeper.pid, "http://127.0.0.1:4321/")
    assert LocalArchitectCleaner().find(_scope(sqlite_database, mephisto_settings, live=True)) == []
    assert sleeper.poll() is None and os.path.exists(run_folder / ROUTER_RECORD)


def test_every_router_of_a_group_left_running_is_listed_and_stopped(
    run_folder: Path, sleeper: Any, sqlite_database: Any, mephisto_settings: Settings
) -> None:
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    try:
        record_router(run_folder, sleeper.pid, "http://127.0.0.1:4321/")
        record_router(run_folder, other.pid, "http://127.0.0.1:4321/", index=1)
        (run_folder / "router-notes.json").write_text("{}")  # not a record: left alone
        cleaner = LocalArchitectCleaner()
        found = cleaner.find(_scope(sqlite_database, mephisto_settings))
        assert [f.what.split(" serving")[0] for f in found] == [
            f"router process {other.pid}",  # router-1.json sorts first
            f"router process {sleeper.pid}",
        ]
        for leftover in found:
            assert cleaner.remove(_scope(sqlite_database, mephisto_settings), leftover).startswith("stopped router")
        assert sleeper.wait(10) is not None and other.wait(10) is not None
        assert sorted(p.name for p in run_folder.iterdir()) == ["router-notes.json"]
    finally:
        other.kill()
        other.wait()
