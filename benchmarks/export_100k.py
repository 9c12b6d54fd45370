"""How fast 100,000 submitted units export: `mephisto export` to a JSONL file, and the DataBrowser iteration.

Builds a throwaway SQLite database (with `--db postgresql`: a database on a throwaway PostgreSQL server) with bulk
inserts (assignments of 3 units, each unit submitted by an agent with a few output fields, one review in ten
units), then times `mephisto export --output FILE` as a subprocess (interpreter start-up included) and a plain
`DataBrowser.units()` loop in this process. Prints one JSON line: units, db, seconds (wall time of the export
process), units_per_s, cpu_seconds (its user + system CPU time, which competing processes do not inflate),
file_bytes, browser_seconds, browser_units_per_s. The goal is under 5 s for the export on one machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path
from typing import Any

from _run_info import code_version, loadavg_1m, machine_info
from _workdir import throwaway_postgres

from mephisto_core.data_model import (
    Agent,
    Assignment,
    Database,
    Requester,
    Review,
    Task,
    TaskRun,
    Unit,
    Worker,
    open_database,
)

UNITS_PER_ASSIGNMENT = 3
CHUNK = 2000  # rows per INSERT: few statements, well under SQLite's bound-parameter limit
TASK_NAME = "bench-export"


def _chunks(rows: list[Any], size: int = CHUNK) -> list[list[Any]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def populate(database: Database, units: int, seed: int = 1) -> None:
    """Insert `units` submitted units (with agents, assignments, workers, some reviews) in bulk."""
    rng = random.Random(seed)
    start = dt.datetime(2024, 5, 1, 9, 0, 0)
    with database.write():
        task = Task.create(name=TASK_NAME, blueprint_type="static")
        requester = Requester.create(name="bench-requester", provider_type="mock")
        run = TaskRun.create(
            task=task,
            requester=requester,
            blueprint_type="static",
            architect_type="local",
            provider_type="mock",
            config={"schema": 1, "task": {"name": TASK_NAME}},
            is_completed=True,
        )
        workers = [(f"W{n:05d}", "mock") for n in range(max(1, units // 100))]
        for chunk in _chunks(workers):
            Worker.insert_many(chunk, fields=[Worker.name, Worker.provider_type]).execute()
        worker_ids = [w.id for w in Worker.select(Worker.id).order_by(Worker.id)]

        n_assignments = -(-units // UNITS_PER_ASSIGNMENT)
        assignment_rows = [
            (run.id, {"topic": f"topic-{i}", "prompt": f"Describe thing {i}."}) for i in range(n_assignments)
        ]
        for chunk in _chunks(assignment_rows):
            Assignment.insert_many(chunk, fields=[Assignment.task_run, Assignment.inputs]).execute()
        assignment_ids = [a.id for a in Assignment.select(Assignment.id).order_by(Assignment.id)]

        unit_rows, agent_rows = [], []
        for n in range(units):
            assignment_id = assignment_ids[n // UNITS_PER_ASSIGNMENT]
            worker_id = worker_ids[rng.randrange(len(worker_ids))]
            unit_rows.append(
                (assignment_id, run.id, task.id, n % UNITS_PER_ASSIGNMENT, Decimal("0.05"), "completed", worker_id)
            )
            started = start + dt.timedelta(seconds=n)
            outputs = {
                "label": rng.choice(["positive", "negative", "neutral"]),
                "confident": rng.random() < 0.7,
                "answer": f'A free-text answer number {n}, with a comma and a "quote".',
            }
            agent_rows.append(
                (worker_id, run.id, assignment_id, "completed", outputs, secrets.token_hex(12), started,
                 started + dt.timedelta(seconds=rng.randint(20, 600)))
            )  # fmt: skip
        unit_fields = [Unit.assignment, Unit.task_run, Unit.task, Unit.unit_index, Unit.pay_amount, Unit.status]
        for chunk in _chunks(unit_rows):
            Unit.insert_many(chunk, fields=[*unit_fields, Unit.worker]).execute()
        unit_ids = [u.id for u in Unit.select(Unit.id).order_by(Unit.id)]
        agent_fields = [Agent.worker, Agent.task_run, Agent.assignment, Agent.status, Agent.outputs, Agent.token]
        rows_with_unit = [(uid, *row) for uid, row in zip(unit_ids, agent_rows, strict=True)]
        for chunk in _chunks(rows_with_unit):
            Agent.insert_many(chunk, fields=[Agent.unit, *agent_fields, Agent.started_at, Agent.submitted_at]).execute()
        # Each unit points at its agent; agents were inserted in unit order, so ids pair up one to one.
        agent_ids = [a.id for a in Agent.select(Agent.id).order_by(Agent.id)]
        first_unit, first_agent = unit_ids[0], agent_ids[0]
        Unit.update(agent_id=Unit.id - first_unit + first_agent).execute()

        review_rows = [
            ("approve", uid, worker_ids[0], task.id, "Thanks!", "bench") for uid in unit_ids[::10]
        ]  # the worker of a review does not matter to the export
        for chunk in _chunks(review_rows):
            Review.insert_many(
                chunk, fields=[Review.kind, Review.unit, Review.worker, Review.task, Review.feedback, Review.reviewer]
            ).execute()


def populated_database(url: str | None, sqlite_path: Path, units: int) -> Database:
    """The database at `url` (None: SQLite at `sqlite_path`) with `units` submitted units (`populate`), settled as it
    would be by the time anyone reads it: SQLite's log copied into the file, PostgreSQL vacuumed and analysed as
    autovacuum would have."""
    database = open_database(url, sqlite_path)
    try:
        populate(database, units)
        database.db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)" if database.is_sqlite else "VACUUM ANALYZE")
    except BaseException:
        database.close()
        raise
    return database


def time_cli_export(data_dir: Path, output: Path, database_url: str | None = None) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of `mephisto export --task ... --output FILE` as a subprocess.

    The CPU time does not grow when other processes compete for the machine; the wall time does (and on PostgreSQL
    the database server's work is in neither: it is another process).
    """
    env = {**os.environ, "MEPHISTO_DATA_DIR": str(data_dir)}
    env.pop("MEPHISTO_DATABASE_URL", None)
    if database_url is not None:
        env["MEPHISTO_DATABASE_URL"] = database_url
    command = [sys.executable, "-m", "mephisto_core.cli", "export", "--task", TASK_NAME, "--output", str(output)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"mephisto export failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def time_browser(database: Database) -> tuple[int, float]:
    """How many units `DataBrowser.units()` yields and how long the loop takes."""
    from mephisto_core.operations.data_browser import DataBrowser

    start = time.perf_counter()
    count = sum(1 for _ in DataBrowser(database).units(task=TASK_NAME))
    return count, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=100_000, help="submitted units to create (default 100000)")
    parser.add_argument(
        "--db",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="database (default sqlite; postgresql: a throwaway server)",
    )
    args = parser.parse_args()
    if args.units < 1:
        parser.error("--units must be at least 1")
    loadavg_before = loadavg_1m()
    with tempfile.TemporaryDirectory(prefix="mephisto-export-bench-") as tmp, ExitStack() as stack:
        data_dir = Path(tmp) / "data"
        url = throwaway_postgres(stack)[0] if args.db == "postgresql" else None
        database = populated_database(url, data_dir / "mephisto.db", args.units)
        try:
            output = Path(tmp) / "export.jsonl"
            seconds, cpu_seconds = time_cli_export(data_dir, output, url)
            lines = sum(1 for _ in output.open("rb"))
            if lines != args.units:
                raise SystemExit(f"the export has {lines} lines, expected {args.units}")
            browsed, browser_seconds = time_browser(database)
            if browsed != args.units:
                raise SystemExit(f"the data browser yielded {browsed} units, expected {args.units}")
        finally:
            database.close()
        result = {
            "benchmark": "export_100k",
            "units": args.units,
            "db": args.db,
            "seconds": round(seconds, 3),
            "units_per_s": round(args.units / seconds),
            "cpu_seconds": round(cpu_seconds, 3),
            "file_bytes": output.stat().st_size,
            "browser_seconds": round(browser_seconds, 3),
            "browser_units_per_s": round(args.units / browser_seconds),
            "target": {"seconds_below": 5.0, "met": seconds < 5.0},
            "code": code_version(),
            "machine": machine_info(loadavg_before),
        }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
