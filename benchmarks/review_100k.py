"""How fast the review app answers a reviewer at 100,000 submitted units: each API call its screens make, timed.

Builds a throwaway database the way `export_100k.py` does (assignments of 3 units, every unit submitted, one review
in ten units; SQLite, or a throwaway PostgreSQL server with `--db postgresql`), starts `mephisto review
--no-browser` on it and times, over real HTTP on 127.0.0.1, the calls a reviewer's screens make: the task list,
opening the task (its counts and workers), the first page of units, a page filtered by status, the last page, one
unit, one worker, the agreement panel, the live panel. Each call is made `--repeats` times after a first one that
warms the caches; the median counts. The calls share one connection, kept alive as a browser keeps it.

`--server NAME=PATH` (repeatable) times the `mephisto` at PATH as well, on the same database, in alternating
rounds (`--rounds`): e.g. an older commit's install against this one. Prints one JSON line: the medians per server
and call, each call's ratio against the first server, and whether every call but the agreement panel answered in
under 100 ms and the agreement panel in under 1 s.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from _latency_proxy import add_relay_option, check_relay_option, start_relay
from _review_app import ReviewAppFailed, open_review_app
from _run_info import (
    MephistoMissing,
    add_server_options,
    alternated,
    code_version,
    loadavg_1m,
    machine_info,
    servers_to_time,
)
from _workdir import isolated_env, temporary_workdir, throwaway_postgres
from export_100k import TASK_NAME, populated_database

from mephisto_core.data_model import Task, Unit
from mephisto_core.testing.postgres import PostgresStartError, PostgresUnavailable

CALL_TIMEOUT_S = 120.0
#: every call but the agreement panel should answer within this, the agreement panel within AGREEMENT_TARGET_MS
SCREEN_TARGET_MS = 100.0
AGREEMENT_TARGET_MS = 1000.0


class BenchmarkAborted(RuntimeError):
    """The run could not be measured; the message says why."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=100_000, help="submitted units to create (default 100000)")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite", help="database (default sqlite)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls of each kind per round (default 5)")
    add_relay_option(parser)
    add_server_options(parser)
    args = parser.parse_args(argv)
    check_relay_option(parser, args)
    if args.units < 3:
        parser.error("--units must be at least 3")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    args.servers = servers_to_time(parser, args)
    return args


def calls(task_id: int, unit_id: int, worker_id: int, units: int) -> dict[str, str]:
    """The API paths timed, by name."""
    last_page = max(0, units - 50)
    return {
        "task_list": "/api/tasks",
        "open_task": f"/api/tasks/{task_id}",
        "first_page": f"/api/units?task={task_id}&limit=50",
        "status_page": f"/api/units?task={task_id}&status=completed&limit=50",
        "last_page": f"/api/units?task={task_id}&offset={last_page}&limit=50",
        "unit": f"/api/units/{unit_id}",
        "worker": f"/api/workers/{worker_id}",
        "agreement": f"/api/tasks/{task_id}/agreement",
        "live_panel": "/api/live",
    }


def time_server(
    mephisto: list[str], env: dict[str, str], log: Path, paths: dict[str, str], repeats: int
) -> dict[str, float]:
    """Start `mephisto review` and return the median milliseconds of each call, made on one connection kept alive
    as a browser keeps it."""
    with ExitStack() as stack:
        connection, token = open_review_app(stack, mephisto, env, log, CALL_TIMEOUT_S)
        medians = {}
        for name, path in paths.items():
            _get(connection, token, path)  # warms the server's and the database's caches
            medians[name] = statistics.median(_timed_get(connection, token, path) for _ in range(repeats))
        return medians


def _get(connection: http.client.HTTPConnection, token: str, path: str) -> bytes:
    connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    answer = connection.getresponse()
    body = answer.read()
    if answer.status != 200:
        raise BenchmarkAborted(f"GET {path}: {answer.status} {body.decode(errors='replace')[:500]}")
    return body


def _timed_get(connection: http.client.HTTPConnection, token: str, path: str) -> float:
    start = time.perf_counter()
    _get(connection, token, path)
    return (time.perf_counter() - start) * 1000


def summarise(
    args: argparse.Namespace, runs: dict[str, list[dict[str, float]]], before: dict[str, Any]
) -> dict[str, Any]:
    """Median of the rounds per server and call, ratios against the first server, and the targets."""
    medians = {
        name: {call: round(statistics.median(r[call] for r in rounds), 1) for call in rounds[0]}
        for name, rounds in runs.items()
    }
    first = next(iter(medians))
    ratios = {
        name: {call: round(ms / medians[first][call], 3) if medians[first][call] else None for call, ms in by.items()}
        for name, by in medians.items()
        if name != first
    }
    this = medians["this"]
    screens = {call: ms for call, ms in this.items() if call != "agreement"}
    return {
        "benchmark": "review_100k",
        "units": args.units,
        "db": args.db,
        "repeats": args.repeats,
        "rounds": args.rounds,
        "median_ms": medians,
        "ratios_against": {"server": first, "ratios": ratios} if ratios else None,
        "slowest_screen_ms": max(screens.values()),
        "target": {
            "screens_below_ms": SCREEN_TARGET_MS,
            "agreement_below_ms": AGREEMENT_TARGET_MS,
            "met": max(screens.values()) < SCREEN_TARGET_MS and this["agreement"] < AGREEMENT_TARGET_MS,
        },
        **before,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    before = {"code": code_version(), "machine": machine_info(loadavg_1m())}
    with ExitStack() as stack:
        workdir = temporary_workdir(stack, "review_100k", keep=False)
        env = isolated_env(workdir)
        url = None
        if args.db == "postgresql":
            url = env["MEPHISTO_DATABASE_URL"] = throwaway_postgres(stack)[0]
        database = populated_database(url, workdir / "data" / "mephisto.db", args.units)
        try:
            task_id = int(Task.get(Task.name == TASK_NAME).id)
            middle = Unit.get(Unit.id == Unit.select(Unit.id).order_by(Unit.id).offset(args.units // 2).limit(1))
            paths = calls(task_id, int(middle.id), int(middle.worker_id), args.units)
        finally:
            database.close()
        relay = None
        if url is not None and args.db_one_way_ms is not None:
            relay = start_relay(stack, url, args.db_one_way_ms)
            env["MEPHISTO_DATABASE_URL"] = relay.url
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in args.servers}
        for round_number in range(args.rounds):
            for name in alternated(args.servers, round_number):
                log = workdir / f"review-{name}-{round_number}.log"
                runs[name].append(time_server(args.servers[name], env, log, paths, args.repeats))
        summary = summarise(args, runs, before)
        if relay is not None:
            summary["db_one_way_ms"] = args.db_one_way_ms
            summary["db_round_trip_ms"] = relay.round_trip_ms
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (BenchmarkAborted, MephistoMissing, PostgresUnavailable, PostgresStartError, ReviewAppFailed) as exc:
        print(f"review_100k: aborted: {exc}", file=sys.stderr)
        sys.exit(2)
