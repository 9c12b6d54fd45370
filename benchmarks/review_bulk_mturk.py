"""How long a reviewer waits for a bulk verdict on MTurk work: `/api/units/bulk` of the review app, timed.

Each measurement starts afresh: a local FakeMTurk (the plugin's, speaking MTurk's real wire protocol to boto3),
`mephisto register mturk_sandbox lab ...` against it, a run of `--units` submitted units whose agents hold
assignments submitted at the fake, and `mephisto review --no-browser` on that data dir. Then the fake answers
every requester call after `--latency` seconds (MTurk's API answers in 0.1-0.3 s from most places), and the
benchmark posts one bulk approve (or `--action`) of every unit, in chunks of the app's largest bulk, and times it
until the last answer. It checks that every unit was decided here and every assignment at the fake (approved,
rejected, or given one bonus). The worker actions (`grant`, `block`) act once per distinct worker of the units
(one per five units, all in one request); it checks that each of them holds the qualification, or is blocked,
at the fake.

`--db postgresql` keeps the data in a throwaway PostgreSQL database (a new one per measurement), and
`--db-one-way-ms MS` puts a relay between the review app and it (a database on another machine; the round trip is
measured and reported).

`--server NAME=PATH` (repeatable) times the `mephisto` at PATH as well, in alternating rounds (`--rounds`): an
older commit's install against this one. Prints one JSON line: seconds and units/s per server, the ratio against
the first server, and the MTurk calls made per unit.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
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
from mephisto_provider_mturk.client import ENDPOINT_ENV
from mephisto_provider_mturk.testing import DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, FakeMTurk
from mephisto_provider_mturk.testing.review_seed import submitted_mturk_run

from mephisto_core.data_model import Agent, Unit, Worker, open_database
from mephisto_core.testing.postgres import PostgresStartError, PostgresUnavailable

CALL_TIMEOUT_S = 900.0
#: the review app's largest bulk (review_app/validation.py MAX_BULK)
BULK_CHUNK = 500
REQUESTER = "lab"
#: each action's fields in the bulk request
ACTION_FIELDS: dict[str, dict[str, str]] = {
    "approve": {"feedback": "Thank you."},
    "soft-reject": {"feedback": "Thank you."},
    "reject": {"feedback": "The answer does not describe the picture."},
    "bonus": {"amount": "0.25", "reason": "A careful description."},
    "grant": {"qualification": "passed-pilot"},
    "block": {"reason": "Copied the same answer into every unit."},
}


class BenchmarkAborted(RuntimeError):
    """The run could not be measured; the message says why."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=200, help="submitted units to decide (default 200)")
    parser.add_argument(
        "--latency", type=float, default=0.1, help="seconds the fake MTurk takes per call (default 0.1)"
    )
    parser.add_argument("--action", choices=tuple(ACTION_FIELDS), default="approve")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite", help="database (default sqlite)")
    add_relay_option(parser)
    add_server_options(parser)
    args = parser.parse_args(argv)
    check_relay_option(parser, args)
    if args.units < 1 or args.latency < 0:
        parser.error("--units must be at least 1 and --latency at least 0")
    if args.action in ("grant", "block") and args.units > BULK_CHUNK:
        # a worker's units would fall in several requests, each acting on the worker again
        parser.error(f"--action {args.action} acts on workers in one bulk request: at most {BULK_CHUNK} --units")
    args.servers = servers_to_time(parser, args)
    return args


def submitted_mturk_units(fake: FakeMTurk, data_dir: Path, units: int, database_url: str | None = None) -> list[int]:
    """`units` submitted units of requester `lab`, each agent holding an assignment submitted at `fake` (in the
    data dir's SQLite database, or at `database_url`)."""
    database = open_database(database_url, data_dir / "mephisto.db")
    try:
        return [int(unit.id) for unit in submitted_mturk_run(fake, database, units, REQUESTER).units]
    finally:
        database.close()


def register(mephisto: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(
        [
            *mephisto,
            "register",
            "mturk_sandbox",
            REQUESTER,
            f"access_key_id={DEFAULT_ACCESS_KEY_ID}",
            f"secret_access_key={DEFAULT_SECRET_ACCESS_KEY}",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BenchmarkAborted(f"mephisto register failed: {done.stdout}{done.stderr}")


def fresh_fake_mturk(
    stack: ExitStack, benchmark: str, mephisto: list[str], database_url: str | None = None
) -> tuple[Path, FakeMTurk, dict[str, str]]:
    """A new work folder, a FakeMTurk and the environment that reaches it (and the database at `database_url`,
    when given), requester `lab` registered; all gone when `stack` closes."""
    workdir = temporary_workdir(stack, benchmark, keep=False)
    fake = stack.enter_context(FakeMTurk())
    env = isolated_env(workdir, **{ENDPOINT_ENV: fake.endpoint_url})
    if database_url is not None:
        env["MEPHISTO_DATABASE_URL"] = database_url
    register(mephisto, env)
    return workdir, fake, env


def time_bulk(mephisto: list[str], args: argparse.Namespace, label: str) -> dict[str, Any]:
    """One fresh data dir and fake, one timed bulk verdict of every unit; its seconds and MTurk calls."""
    with ExitStack() as stack:
        url = throwaway_postgres(stack)[0] if args.db == "postgresql" else None
        workdir, fake, env = fresh_fake_mturk(stack, "review_bulk_mturk", mephisto, url)
        unit_ids = submitted_mturk_units(fake, workdir / "data", args.units, url)
        round_trip_ms = None
        if url is not None and args.db_one_way_ms is not None:
            relay = start_relay(stack, url, args.db_one_way_ms)
            env["MEPHISTO_DATABASE_URL"], round_trip_ms = relay.url, relay.round_trip_ms
        connection, token = open_review_app(stack, mephisto, env, workdir / f"review-{label}.log", CALL_TIMEOUT_S)
        calls_before = len(fake.requests())
        fake.set_latency(args.latency)
        started = time.perf_counter()
        done = post_bulk(connection, token, args.action, unit_ids)
        seconds = time.perf_counter() - started
        fake.set_latency(0)
        if done != len(unit_ids):
            raise BenchmarkAborted(f"{label}: {done} of {len(unit_ids)} units were decided")
        calls = fake.requests()[calls_before:]
        assignments = sorted(str(agent.provider_agent_id) for agent in _agents(workdir, unit_ids, url))
        if args.action in ("grant", "block"):
            workers = _worker_names(workdir, unit_ids, url)
            snapshot = fake.snapshot()
            if args.action == "grant":
                names = {qid: qualification.name for qid, qualification in snapshot.qualification_types.items()}
                acted = {worker for qid, worker in snapshot.scores if "passed-pilot" in names.get(qid, "")}
            else:
                acted = {worker for _, worker in snapshot.blocks}
            if acted != workers:
                raise BenchmarkAborted(f"{label}: {len(acted)} workers acted on at the fake for {len(workers)}")
        elif args.action == "bonus":
            bonused = sorted(bonus.assignment_id for bonus in fake.snapshot().bonuses)
            if bonused != assignments:
                raise BenchmarkAborted(f"{label}: {len(bonused)} bonuses at the fake for {len(assignments)} units")
        else:
            wanted = {"approve": "Approved", "soft-reject": "Approved", "reject": "Rejected"}[args.action]
            statuses = {fake.assignment(assignment).state.value for assignment in assignments}
            if statuses != {wanted}:
                raise BenchmarkAborted(f"{label}: assignments at the fake ended {sorted(statuses)}, not {wanted}")
        by_operation: dict[str, int] = {}
        for call in calls:
            by_operation[call.operation] = by_operation.get(call.operation, 0) + 1
        return {"seconds": seconds, "mturk_calls": by_operation, "db_round_trip_ms": round_trip_ms}


def _agents(workdir: Path, unit_ids: list[int], database_url: str | None) -> list[Agent]:
    database = open_database(database_url, workdir / "data" / "mephisto.db")
    try:
        agents = list(Agent.select().where(Agent.unit.in_(unit_ids)))
    finally:
        database.close()
    return agents


def _worker_names(workdir: Path, unit_ids: list[int], database_url: str | None) -> set[str]:
    database = open_database(database_url, workdir / "data" / "mephisto.db")
    try:
        query = Worker.select(Worker.name).join(Unit, on=Unit.worker == Worker.id).where(Unit.id.in_(unit_ids))
        return {name for (name,) in query.tuples()}
    finally:
        database.close()


def post_bulk(connection: http.client.HTTPConnection, token: str, action: str, unit_ids: list[int]) -> int:
    """One bulk `action` of every unit, in chunks of the app's largest bulk; how many units it decided."""
    done = 0
    for first in range(0, len(unit_ids), BULK_CHUNK):
        body = {"action": action, "unit_ids": unit_ids[first : first + BULK_CHUNK], **ACTION_FIELDS[action]}
        done += int(_post(connection, token, "/api/units/bulk", body)["done"])
    return done


def _post(connection: http.client.HTTPConnection, token: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    payload = json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    connection.request("POST", path, body=payload, headers=headers)
    answer = connection.getresponse()
    text = answer.read()
    if answer.status != 200:
        raise BenchmarkAborted(f"POST {path}: {answer.status} {text.decode(errors='replace')[:500]}")
    result: dict[str, Any] = json.loads(text)
    return result


def timed_rounds(
    args: argparse.Namespace, measure: Callable[[list[str], argparse.Namespace, str], dict[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """`measure(mephisto, args, label)` of each server in each round, alternated; its dicts per server."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in args.servers}
    for round_number in range(args.rounds):
        for name in alternated(args.servers, round_number):
            runs[name].append(measure(args.servers[name], args, f"{name}-{round_number}"))
    return runs


def summary(args: argparse.Namespace, runs: dict[str, list[dict[str, Any]]], platform: str = "mturk") -> dict[str, Any]:
    """Seconds per server and round, their medians, the ratio against the first server, and the platform's calls
    (each round's `<platform>_calls`) of the last round per unit."""
    seconds = {name: [round(r["seconds"], 3) for r in rounds] for name, rounds in runs.items()}
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    first = next(iter(medians))
    return {
        "units": args.units,
        "latency_s": args.latency,
        "rounds": args.rounds,
        "seconds": seconds,
        "median_seconds": medians,
        "units_per_s": {name: round(args.units / value, 1) for name, value in medians.items()},
        "ratio_against": {"server": first, "seconds": {n: round(v / medians[first], 3) for n, v in medians.items()}},
        f"{platform}_calls_per_unit": {
            name: {op: round(n / args.units, 2) for op, n in rounds[-1][f"{platform}_calls"].items()}
            for name, rounds in runs.items()
        },
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    before = {"code": code_version(), "machine": machine_info(loadavg_1m())}
    runs = timed_rounds(args, time_bulk)
    database = {"db": args.db, "db_one_way_ms": args.db_one_way_ms}
    if args.db_one_way_ms is not None:
        database["db_round_trip_ms"] = statistics.median(r["db_round_trip_ms"] for rs in runs.values() for r in rs)
    print(
        json.dumps(
            {"benchmark": "review_bulk_mturk", "action": args.action, **summary(args, runs), **database, **before}
        )
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (BenchmarkAborted, MephistoMissing, PostgresUnavailable, PostgresStartError, ReviewAppFailed) as exc:
        print(f"review_bulk_mturk: aborted: {exc}", file=sys.stderr)
        sys.exit(2)
