"""SQL logging has its own switch (MEPHISTO_LOG_SQL), and no log ever holds an agent token or a worker's answer.

Each test runs a real process that sets logging up as the CLI does and writes real rows to a real SQLite file,
with the process's stderr captured whole.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mephisto_core.cli.context import SqlWithoutParameters

TOKEN = "agent-token-5f1d9c2e7b"
ANSWER = "my private answer about my health"

WRITER = f"""
import logging
from decimal import Decimal

from mephisto_core.cli.context import load_settings, open_settings_database
from mephisto_core.data_model import Agent, Assignment, Requester, Task, TaskRun, Unit, Worker

settings = load_settings()
logging.getLogger("writer").debug("debug lines are written")
database = open_settings_database(settings)
with database.write():
    task = Task.create(name="t", blueprint_type="static")
    run = TaskRun.create(
        task=task, requester=Requester.create(name="r", provider_type="mock"), blueprint_type="static",
        architect_type="local", provider_type="mock", config={{"schema": 1}},
    )
    assignment = Assignment.create(task_run=run, inputs={{"text": "hello"}})
    unit = Unit.create(assignment=assignment, task_run=run, task=task, unit_index=0, pay_amount=Decimal("0.5"))
    agent = Agent.create(
        unit=unit, worker=Worker.create(name="w", provider_type="mock"), task_run=run, assignment=assignment,
        token={TOKEN!r},
    )
with database.write():
    agent.outputs = {{"answer": {ANSWER!r}}}
    agent.save()
assert Agent.get(Agent.token == {TOKEN!r}).outputs == {{"answer": {ANSWER!r}}}
database.close()
"""


def write_rows_at_debug(tmp_path: Path, **env: str) -> str:
    """Run WRITER with MEPHISTO_LOG_LEVEL=DEBUG (and `env`); return its stderr, where the logs go."""
    script = tmp_path / "writer.py"
    script.write_text(WRITER, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)],
        env={**os.environ, "MEPHISTO_LOG_LEVEL": "DEBUG", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stderr


@pytest.mark.usefixtures("mephisto_settings")
def test_debug_level_alone_logs_no_sql(tmp_path: Path) -> None:
    logs = write_rows_at_debug(tmp_path)

    assert "DEBUG writer: debug lines are written" in logs
    assert " peewee:" not in logs
    assert TOKEN not in logs
    assert ANSWER not in logs


@pytest.mark.usefixtures("mephisto_settings")
def test_log_sql_shows_statements_without_their_parameters(tmp_path: Path) -> None:
    logs = write_rows_at_debug(tmp_path, MEPHISTO_LOG_SQL="1")

    statements = [line for line in logs.splitlines() if " peewee:" in line]
    assert any('INSERT INTO "agent"' in line for line in statements), logs
    assert any('UPDATE "agent"' in line for line in statements), logs
    assert all(line.endswith("[parameters not logged]") for line in statements)
    assert TOKEN not in logs
    assert ANSWER not in logs


@pytest.mark.usefixtures("mephisto_settings")
def test_log_sql_works_at_info_level_too(tmp_path: Path) -> None:
    logs = write_rows_at_debug(tmp_path, MEPHISTO_LOG_SQL="1", MEPHISTO_LOG_LEVEL="INFO")

    assert 'INSERT INTO "agent"' in logs
    assert TOKEN not in logs


def test_sql_filter_keeps_other_peewee_messages_as_they_are() -> None:
    record = logging.LogRecord("peewee", logging.WARNING, __file__, 1, "pool %s exhausted", ("p1",), None)

    assert SqlWithoutParameters().filter(record)

    assert record.getMessage() == "pool p1 exhausted"
