"""How long Prolific's in-run sync takes to look at the units held by participants: `reconcile_units`, timed.

Each round starts afresh: a local FakeProlific (the plugin's, speaking Prolific's REST API to the provider's httpx
client), a SQLite data dir with a run whose study has `--past` approved submissions and `--held` units held here by
participants at them there, the first `--returned` of whom returned the study since. The run's first sync (which
lists the study once and so learns its size) is made untimed, as a run's first 15 s leave it behind. Then the fake
answers every call after `--latency` seconds and one sync's `reconcile_units` is timed, with the Prolific provider
of this install, in two ways, alternated:

- `as_shipped`: the provider picks, by the study's size at its last listing, between listing the study's
  submissions again (a page at a time) and a GET of each held submission (8 at once);
- `list_each_time`: the study's submissions listed at every sync (what the provider did before).

It checks that each way reports exactly the returned units. Prints one JSON line: seconds per way and round, their
medians, the ratio against `list_each_time`, and the Prolific calls each way made.
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
from mephisto_provider_prolific.args import ProlificArgs
from mephisto_provider_prolific.held import HeldSubmissions
from mephisto_provider_prolific.provider import ProlificProvider
from mephisto_provider_prolific.testing import FakeProlific
from mephisto_provider_prolific.testing.runs import held_in_a_large_study

from mephisto_core.abstractions import DriftKind
from mephisto_core.data_model import open_database

WAYS = ("list_each_time", "as_shipped")


class BenchmarkAborted(RuntimeError):
    """The run could not be measured; the message says why."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held", type=int, default=20, help="units held by participants at Prolific (default 20)")
    parser.add_argument("--past", type=int, default=3000, help="the study's approved submissions (default 3000)")
    parser.add_argument("--returned", type=int, default=2, help="of the held, returned at Prolific (default 2)")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the fake takes per call (default 0.2)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of both ways, alternated (default 2)")
    args = parser.parse_args(argv)
    if args.held < 1 or args.past < 0 or not 0 <= args.returned <= args.held:
        parser.error("--held must be at least 1, --past at least 0, --returned within --held")
    if args.latency < 0 or args.rounds < 1:
        parser.error("--latency must be at least 0 and --rounds at least 1")
    return args


@contextmanager
def _listing_each_time(way: str) -> Iterator[None]:
    """The provider lists the study at every sync during the block when `way` says so."""
    shipped = HeldSubmissions.listing_is_cheaper
    if way == "list_each_time":
        HeldSubmissions.listing_is_cheaper = lambda self, study_ids, held: True  # type: ignore[method-assign]
    try:
        yield
    finally:
        HeldSubmissions.listing_is_cheaper = shipped  # type: ignore[method-assign]


def time_sync(args: argparse.Namespace, way: str) -> dict[str, Any]:
    """One fresh data dir and fake, one timed sync of every held unit; its seconds and Prolific calls."""
    with ExitStack() as stack:
        workdir = temporary_workdir(stack, "prolific_sync", keep=False)
        fake = stack.enter_context(FakeProlific(balance_cents=10**9))
        database = open_database(None, workdir / "mephisto.db")
        stack.callback(database.close)
        settings = {"MEPHISTO_PROLIFIC_API_URL": fake.base_url, "MEPHISTO_PROLIFIC_COMPLETION_URL": fake.completion_url}
        stack.enter_context(environment(**settings))
        data_dir = ProlificProvider.data_dir_under(workdir / "data")
        provider = ProlificProvider(ProlificArgs(), "prolific", {"api_key": fake.api_key}, data_dir)
        run, units, visits, _study = held_in_a_large_study(fake, database, provider, args.held, args.past)
        for visit in visits[: args.returned]:
            fake.return_submission(visit)
        with _listing_each_time(way):
            provider.reconcile_units(run, units)  # the run's first sync: lists the study
            calls_before = len(fake.requests)
            fake.set_latency(args.latency)
            started = time.perf_counter()
            drifts = provider.reconcile_units(run, units)
            seconds = time.perf_counter() - started
            fake.set_latency(0)
        returned = {d.unit_id for d in drifts if d.kind is DriftKind.ABANDONED_THERE}
        if len(drifts) != args.returned or returned != {unit.id for unit in units[: args.returned]}:
            raise BenchmarkAborted(f"{way}: {len(drifts)} drifts reported for {args.returned} returned units")
        calls = fake.requests[calls_before:]
        listed = sum(1 for call in calls if call.path.endswith("/submissions/"))
        return {"seconds": seconds, "prolific_calls": {"listing_pages": listed, "submission_gets": len(calls) - listed}}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    before = {"code": code_version(), "machine": machine_info(loadavg_1m())}
    runs = alternate_ways(WAYS, args.rounds, lambda way: time_sync(args, way))
    summary = {
        "held": args.held,
        "past": args.past,
        "returned": args.returned,
        "latency_s": args.latency,
        "rounds": args.rounds,
        **ways_summary(runs, "prolific_calls"),
    }
    print(json.dumps({"benchmark": "prolific_sync", **summary, **before}))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchmarkAborted as exc:
        print(f"prolific_sync: aborted: {exc}", file=sys.stderr)
        sys.exit(2)
