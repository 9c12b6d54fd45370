"""Helpers of the export tests: rows built directly in the database, and `mephisto export` as a real process."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

from mephisto_core.data_model import (
    Agent,
    AgentFile,
    Assignment,
    Database,
    Requester,
    Review,
    Task,
    TaskRun,
    Unit,
    Worker,
)
from mephisto_core.testing import processes as testing_processes

START = dt.datetime(2024, 5, 1, 12, 0, 0)


class ExportRows:
    """Builds tasks, runs, assignments and units (submitted or not) with exactly the fields a test names."""

    def __init__(self, database: Database, data_dir: Path) -> None:
        self.database = database
        self.data_dir = data_dir
        self._workers: dict[str, Worker] = {}

    def task(self, name: str = "labels") -> Task:
        return Task.create(name=name, blueprint_type="static")

    def run(self, task: Task) -> TaskRun:
        requester, _ = Requester.get_or_create(name="requester", defaults={"provider_type": "mock"})
        return TaskRun.create(
            task=task,
            requester=requester,
            blueprint_type="static",
            architect_type="local",
            provider_type="mock",
            config={"schema": 1, "task": {"name": task.name}},
        )

    def assignment(self, run: TaskRun, **inputs: Any) -> Assignment:
        return Assignment.create(task_run=run, inputs=inputs)

    def worker(self, name: str) -> Worker:
        if name not in self._workers:
            self._workers[name] = Worker.create(name=name, provider_type="mock")
        return self._workers[name]

    def submitted(
        self,
        assignment: Assignment,
        index: int,
        worker: str,
        outputs: Any,
        *,
        status: str = "completed",
        minute: int = 0,
        duration_s: int = 30,
    ) -> Unit:
        """A unit whose worker submitted `outputs` at START + `minute` minutes, after `duration_s` seconds."""
        run = assignment.task_run
        who = self.worker(worker)
        unit = Unit.create(
            assignment=assignment,
            task_run=run,
            task=run.task,
            unit_index=index,
            pay_amount=Decimal("0.50"),
            status=status,
            worker=who,
        )
        submitted_at = START + dt.timedelta(minutes=minute)
        agent = Agent.create(
            unit=unit,
            worker=who,
            task_run=run,
            assignment=assignment,
            status="completed",
            outputs=outputs,
            token=secrets.token_hex(8),
            started_at=submitted_at - dt.timedelta(seconds=duration_s),
            submitted_at=submitted_at,
        )
        Unit.update(agent_id=agent.id).where(Unit.id == unit.id).execute()
        unit.agent_id = agent.id
        return unit

    def open_unit(self, assignment: Assignment, index: int, status: str = "launched") -> Unit:
        run = assignment.task_run
        return Unit.create(
            assignment=assignment,
            task_run=run,
            task=run.task,
            unit_index=index,
            pay_amount=Decimal("0.50"),
            status=status,
        )

    def review(self, unit: Unit, kind: str, amount: str | None = None, feedback: str = "") -> Review:
        return Review.create(
            kind=kind,
            unit=unit,
            worker=unit.worker_id,
            task=unit.task_id,
            amount=Decimal(amount) if amount is not None else None,
            feedback=feedback,
            reviewer="tester",
        )

    def file(self, unit: Unit, field: str, name: str, data: bytes, content_type: str = "image/png") -> AgentFile:
        """A stored upload of `unit`: the bytes under the data dir, and its row."""
        relative = Path("files", "uploads", secrets.token_hex(6), "file", "stored.bin")
        (self.data_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        (self.data_dir / relative).write_bytes(data)
        return AgentFile.create(
            agent=unit.agent_id,
            field=field,
            name=name,
            size=len(data),
            content_type=content_type,
            sha256=hashlib.sha256(data).hexdigest(),
            path=str(relative),
        )


def run_mephisto(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`mephisto ARGS` as a real process with the test's environment (plus `env`); output decoded as UTF-8."""
    return testing_processes.run_mephisto(*args, env={**os.environ, "COLUMNS": "200", **(env or {})}, cwd=cwd)


def export_ok(*args: str, cwd: Path | None = None) -> str:
    """Standard output of a `mephisto export ARGS` that must succeed."""
    result = run_mephisto("export", *args, cwd=cwd)
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout
