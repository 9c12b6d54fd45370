"""Another process holds SQLite's write lock longer than the operator's busy timeout.

Production waits 30 s (SQLITE_PRAGMAS["busy_timeout"]); the test opens the same database file with a 0.3 s
timeout instead, the way `open_database` would with another number, so a lock held for 2 s is "too long".
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import peewee as pw
import pytest
from reliability_helpers import (
    OperatorThread,
    ProtocolPage,
    assert_acknowledged_stored_once,
    valid_answer,
    wait_until,
    write_static_task,
)
from websockets.sync.client import connect as ws_connect

from mephisto_core.data_model import Agent, AgentStatus, Database, Unit, UnitStatus, open_database
from mephisto_core.data_model.database import SQLITE_PRAGMAS
from mephisto_core.data_model.models import database_proxy
from mephisto_core.operations.run import database_outage
from mephisto_core.operations.run.database_outage import DatabaseUnavailableError
from mephisto_core.settings import Settings

BUSY_TIMEOUT_MS = 300
LOCK_SECONDS = 2.0

HOLD_LOCK = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
connection.execute("ROLLBACK")
"""


@pytest.fixture
def impatient_database(mephisto_settings: Settings) -> Iterator[Database]:
    """The settings' SQLite database, migrated, then reopened with a 0.3 s busy timeout and bound to the models."""
    open_database(None, mephisto_settings.sqlite_path).close()
    db = pw.SqliteDatabase(
        str(mephisto_settings.sqlite_path),
        pragmas={**SQLITE_PRAGMAS, "busy_timeout": BUSY_TIMEOUT_MS},
        check_same_thread=False,
        timeout=BUSY_TIMEOUT_MS / 1000,
    )
    db.connect()
    database_proxy.initialize(db)
    database = Database(db)
    yield database
    database.close()


class LockHolder:
    """Another process that takes SQLite's write lock (BEGIN IMMEDIATE), holds it, then rolls back."""

    def __init__(self, path: Path, seconds: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLD_LOCK, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "locked"

    def wait(self) -> None:
        """Wait until the lock is released and the process exited cleanly."""
        assert self.proc.wait(10) == 0


@pytest.fixture
def lock_holders() -> Iterator[list[LockHolder]]:
    """Lock-holding processes the test starts; killed after it if still running."""
    holders: list[LockHolder] = []
    yield holders
    for holder in holders:
        if holder.proc.poll() is None:
            holder.proc.kill()
            holder.proc.wait()


def test_submit_while_another_process_holds_the_write_lock_gets_unavailable_and_lands_when_retried(
    tmp_path: Path,
    impatient_database: Database,
    start_operator: Callable[..., OperatorThread],
    mephisto_settings: Settings,
    lock_holders: list[LockHolder],
) -> None:
    operator: OperatorThread = start_operator(
        write_static_task(tmp_path / "task", 1, {"type": "reliability_local"}), impatient_database
    )
    time.sleep(0.2)  # the first tick runs right after start-up
    page = ProtocolPage(operator.worker_url, "alice", deadline=20)
    assigned = page.hello()
    assert assigned["type"] == "assigned"
    outputs = valid_answer(assigned["init_data"])
    key = "busy-submit-key-1"
    submit = {"type": "submit", "id": 2, "submit_key": key, "outputs": outputs, "uploads": []}

    with ws_connect("ws" + operator.worker_url.rstrip("/")[4:] + "/ws", open_timeout=5) as ws:
        ws.send(json.dumps({"type": "hello", "id": 1, "params": {"worker_id": "alice"}, "token": assigned["token"]}))
        assert json.loads(ws.recv(timeout=10))["type"] == "assigned"
        lock_holders.append(LockHolder(mephisto_settings.sqlite_path, LOCK_SECONDS))
        ws.send(json.dumps(submit))
        answer = json.loads(ws.recv(timeout=10))
    assert answer["type"] == "error" and answer["code"] == "unavailable" and answer["message"], answer
    # Nothing of the refused submit was written: the agent and its unit are as they were.
    agent = Agent.get_by_id(assigned["agent_id"])
    assert (agent.status, agent.submit_key, agent.outputs) == (AgentStatus.IN_TASK, None, None)
    assert Unit.get_by_id(assigned["unit_id"]).status == UnitStatus.ASSIGNED

    # What a page does with `unavailable`: send the same submit_key again until it is acknowledged.
    retried = page.submit(outputs, key=key)
    assert retried == {"type": "submitted", "id": retried["id"], "submit_key": key, "next": "done", "completion": None}
    assert page.resends > 0, "the submit was never refused while the lock was held"
    lock_holders[0].wait()
    assert assert_acknowledged_stored_once([key]) == [key]
    assert Agent.get_by_id(assigned["agent_id"]).outputs == outputs


def test_operator_keeps_running_through_a_write_lock_held_past_its_busy_timeout(
    tmp_path: Path,
    impatient_database: Database,
    start_operator: Callable[..., OperatorThread],
    mephisto_settings: Settings,
    lock_holders: list[LockHolder],
    caplog: pytest.LogCaptureFixture,
) -> None:
    operator: OperatorThread = start_operator(
        write_static_task(tmp_path / "task", 1, {"type": "reliability_local"}), impatient_database
    )

    def outage_messages() -> list[str]:
        return [record.getMessage() for record in caplog.records if record.name == database_outage.__name__]

    with caplog.at_level(logging.WARNING, logger=database_outage.__name__):
        lock_holders.append(LockHolder(mephisto_settings.sqlite_path, LOCK_SECONDS))
        lock_holders[0].wait()
        wait_until(lambda: len(outage_messages()) >= 2, 5, "the operator's next tick after the lock")
    assert operator.running, f"the operator stopped: {operator.error!r}"
    # The ticks that met the lock failed: one warning (at most one per WARNING_EVERY_SECONDS), then the all-clear.
    first, recovered = outage_messages()
    assert "database is locked" in first and "trying again" in first, first
    assert "the database works again" in recovered, recovered
    page = ProtocolPage(operator.worker_url, "alice")
    assigned = page.hello()
    assert assigned["type"] == "assigned"
    assert page.submit(valid_answer(assigned["init_data"]))["type"] == "submitted"
    wait_until(lambda: not operator.running, 10, "the run finishing")
    assert operator.error is None


def test_operator_stops_with_a_clear_error_when_the_database_stays_locked(
    tmp_path: Path,
    impatient_database: Database,
    start_operator: Callable[..., OperatorThread],
    mephisto_settings: Settings,
    lock_holders: list[LockHolder],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(database_outage, "GIVE_UP_SECONDS", 1.5)  # production: 60 s
    operator: OperatorThread = start_operator(
        write_static_task(tmp_path / "task", 1, {"type": "reliability_local"}), impatient_database
    )
    lock_holders.append(LockHolder(mephisto_settings.sqlite_path, 8.0))
    wait_until(lambda: not operator.running, 6, "the operator giving up on the locked database")
    assert isinstance(operator.error, DatabaseUnavailableError), repr(operator.error)
    message = str(operator.error)
    assert "database is locked" in message and "launch the same task again to resume" in message
