"""Two launches of one task released at the same instant, from two real processes, on SQLite and PostgreSQL.

Each round races one of the three ways a launch picks its run: a task nobody launched yet, a task whose last run
is completed (a new run is made), and a run whose owner stopped beating (it is taken over). Exactly one racer
must end up owning exactly one unfinished run; the other must get the message a launch of a task served by a
live process gets, never a database error.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from reliability_helpers import write_static_task

from mephisto_core.data_model import Database, Task, TaskRun
from mephisto_core.data_model.models import utcnow
from mephisto_core.testing.pytest_plugin import DatabaseTarget

WORKER = Path(__file__).with_name("launch_race_worker.py")
ROUNDS = 21  # seven of each kind
BUSY = "is being served by another process"


class Racer:
    """One launch_race_worker.py process, fed commands line by line."""

    def __init__(self, target: DatabaseTarget) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER), target.url or "-", str(target.sqlite_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def answer(self) -> Any:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, f"racer exited with {self.process.wait(10)}"
        return line.strip() if line.strip() == "ready" else json.loads(line)

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def racers(database_target: DatabaseTarget, database: Database) -> Iterator[tuple[Racer, Racer]]:
    # `database` first: the schema exists before the racers open it, so they never race on migrating it.
    pair = (Racer(database_target), Racer(database_target))
    yield pair
    for racer in pair:
        racer.close()


def _prepare(database: Database, kind: str, task_name: str) -> None:
    """Set the task up for a round of `kind` (a "new" task needs nothing)."""
    if kind == "new":
        return
    with database.write():
        runs = TaskRun.select().join(Task).where(Task.name == task_name)
        run = runs.order_by(TaskRun.id.desc()).get()
        if kind == "completed":
            TaskRun.update(is_completed=True, owner=None, heartbeat_at=None).where(TaskRun.id == run.id).execute()
        else:  # "stale": the owner is on another host and went silent a minute ago
            stale = utcnow() - dt.timedelta(seconds=60)
            TaskRun.update(owner="elsewhere:1", heartbeat_at=stale).where(TaskRun.id == run.id).execute()


def test_two_launches_at_once_end_with_one_owner_and_one_clear_refusal(
    racers: tuple[Racer, Racer], database: Database, tmp_path: Path
) -> None:
    kinds = ["new", "completed", "stale"]
    started = time.monotonic()
    for round_no in range(ROUNDS):
        kind = kinds[round_no % 3]
        task_name = f"race-{round_no // 3}"
        _prepare(database, kind, task_name)
        task_file = write_static_task(tmp_path / f"round-{round_no}", 1, {"type": "local", "port": 0}, name=task_name)
        for racer in racers:
            racer.send(f"load {task_file}")
        assert [racer.answer() for racer in racers] == ["ready", "ready"]
        for racer in racers:  # back to back: both transactions start together
            racer.send("go")
        answers = [racer.answer() for racer in racers]
        won = [a for a in answers if "won" in a]
        lost = [a for a in answers if "lost" in a]
        assert len(won) == 1 and len(lost) == 1, f"round {round_no} ({kind}): {answers}"
        assert BUSY in lost[0]["lost"], lost[0]
        with database.write():
            unfinished = list(
                TaskRun.select().join(Task).where((Task.name == task_name) & (TaskRun.is_completed == False))  # noqa: E712
            )
        assert [r.id for r in unfinished] == [won[0]["won"]], f"round {round_no} ({kind})"
        assert unfinished[0].owner is not None and unfinished[0].owner != "elsewhere:1"
        assert won[0]["resumed"] is (kind == "stale")
    assert time.monotonic() - started < 60
