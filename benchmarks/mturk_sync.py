"""How long MTurk's in-run sync takes to look at the units held by workers: `reconcile_units`, timed.

Each round starts afresh: a local FakeMTurk (the plugin's, speaking MTurk's real wire protocol to boto3), a SQLite
data dir with a run of `--held` units, each held by a worker at its own HIT at the fake, the first `--returned` of
them returned there since. The run's first call (which also looks for HITs left by a crash) is made untimed. Then
the fake answers every call after `--latency` seconds (MTurk's API answers in 0.1-0.3 s from most places) and one
sync's `reconcile_units` is timed, with the MTurk provider of this install, in two ways, alternated:

- `as_shipped`: the provider picks, by the account's size, between one listing of its HITs (ListHITs, 100 a call)
  and a GetHIT per held unit;
- `get_hit_each`: a GetHIT per held unit, 8 at a time (what the provider did before the listing).

It checks that each way reports exactly the returned units. Prints one JSON line: seconds per way and round, their
medians, the ratio against `get_hit_each`, and the MTurk calls each way made.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from _run_info import code_version, loadavg_1m, machine_info
from _ways import alternate_ways, environment, ways_summary
from _workdir import temporary_workdir
from mephisto_provider_mturk import reconciliation
from mephisto_provider_mturk.args import MTurkArgs
from mephisto_provider_mturk.client import ENDPOINT_ENV
from mephisto_provider_mturk.provider import MTurkSandboxProvider
from mephisto_provider_mturk.testing import DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, FakeMTurk
from mephisto_provider_mturk.testing.review_seed import held_mturk_run

from mephisto_core.abstractions import DriftKind
from mephisto_core.data_model import TaskRun, Unit, open_database

REQUESTER = "lab"
WAYS = ("get_hit_each", "as_shipped")


class BenchmarkAborted(RuntimeError):
    """The run could not be measured; the message says why."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held", type=int, default=1000, help="units held by workers at MTurk (default 1000)")
    parser.add_argument("--returned", type=int, default=5, help="of them, returned at MTurk (default 5)")
    parser.add_argument(
        "--latency", type=float, default=0.1, help="seconds the fake MTurk takes per call (default 0.1)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="rounds of both ways, alternated (default 2)")
    args = parser.parse_args(argv)
    if args.held < 1 or not 0 <= args.returned <= args.held or args.latency < 0 or args.rounds < 1:
        parser.error("--held must be at least 1, --returned within it, --latency at least 0, --rounds at least 1")
    return args


@contextmanager
def _reading_each_hit(way: str) -> Iterator[None]:
    """The provider reads a GetHIT per held unit during the block when `way` says so."""
    shipped = reconciliation._listing_is_cheaper
    if way == "get_hit_each":
        reconciliation._listing_is_cheaper = lambda held, account_hits: False
    try:
        yield
    finally:
        reconciliation._listing_is_cheaper = shipped


def time_sync(args: argparse.Namespace, way: str) -> dict[str, Any]:
    """One fresh data dir and fake, one timed sync of every held unit; its seconds and MTurk calls."""
    with ExitStack() as stack:
        workdir = temporary_workdir(stack, "mturk_sync", keep=False)
        fake = stack.enter_context(FakeMTurk())
        database = open_database(None, workdir / "mephisto.db")
        stack.callback(database.close)
        run_id = held_mturk_run(fake, database, args.held, REQUESTER, returned=args.returned).run.id
        task = {"name": "t", "title": "Describe", "description": "d", "reward": "0.50"}
        TaskRun.update(config={"schema": 1, "task": task}).where(TaskRun.id == run_id).execute()
        run = TaskRun.get_by_id(run_id)
        credentials = {"access_key_id": DEFAULT_ACCESS_KEY_ID, "secret_access_key": DEFAULT_SECRET_ACCESS_KEY}
        data_dir = MTurkSandboxProvider.data_dir_under(workdir / "data")
        with environment(**{ENDPOINT_ENV: fake.endpoint_url}):
            provider = MTurkSandboxProvider(MTurkArgs(requester_name=REQUESTER), REQUESTER, credentials, data_dir)
            provider.reconcile_units(run, [])  # the run's first call in a process
            units = list(Unit.select().where(Unit.task_run == run.id).order_by(Unit.id))
            calls_before = len(fake.requests())
            fake.set_latency(args.latency)
            with _reading_each_hit(way):
                started = time.perf_counter()
                drifts = provider.reconcile_units(run, units)
                seconds = time.perf_counter() - started
            fake.set_latency(0)
        returned = {d.unit_id for d in drifts if d.kind is DriftKind.ABANDONED_THERE}
        if len(drifts) != args.returned or returned != {unit.id for unit in units[: args.returned]}:
            raise BenchmarkAborted(f"{way}: {len(drifts)} drifts reported for {args.returned} returned units")
        by_operation: dict[str, int] = {}
        for call in fake.requests()[calls_before:]:
            by_operation[call.operation] = by_operation.get(call.operation, 0) + 1
        return {"seconds": seconds, "mturk_calls": by_operation}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    before = {"code": code_version(), "machine": machine_info(loadavg_1m())}
    runs = alternate_ways(WAYS, args.rounds, lambda way: time_sync(args, way))
    summary = {
        "held": args.held,
        "returned": args.returned,
        "latency_s": args.latency,
        "rounds": args.rounds,
        **ways_summary(runs, "mturk_calls"),
    }
    print(json.dumps({"benchmark": "mturk_sync", **summary, **before}))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchmarkAborted as exc:
        print(f"mturk_sync: aborted: {exc}", file=sys.stderr)
        sys.exit(2)
