"""How long a reviewer waits for a bulk verdict on Prolific work: `/api/units/bulk` of the review app, timed.

Each measurement starts afresh: a local FakeProlific (the plugin's, speaking Prolific's REST API to the provider's
httpx client), `mephisto register prolific prolific api_key=...` against it, a run of `--units` units whose work is
stored here and whose participants' submissions await review at the fake, and `mephisto review --no-browser` on
that data dir. Then the fake answers every API call after `--latency` seconds, and the benchmark posts one bulk
approve (or `--action`) of every unit, in chunks of the app's largest bulk, and times it until the last answer. It
checks that every unit was decided here and every submission at the fake (approved, rejected, or given one bonus;
`--action block`: every unit's participant, each a worker of their own, in the workspace's block list).

`--server NAME=PATH` (repeatable) times the `mephisto` at PATH as well, in alternating rounds (`--rounds`). Prints
one JSON line: seconds and units/s per server, the ratio against the first server, and the Prolific calls made per
unit, by method and path.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from _review_app import ReviewAppFailed, open_review_app
from _run_info import MephistoMissing, add_server_options, code_version, loadavg_1m, machine_info, servers_to_time
from _ways import environment
from _workdir import isolated_env, temporary_workdir
from mephisto_provider_prolific.args import ProlificArgs
from mephisto_provider_prolific.provider import ProlificProvider
from mephisto_provider_prolific.testing import FakeProlific
from mephisto_provider_prolific.testing.runs import submitted_in_a_study
from review_bulk_mturk import BULK_CHUNK, CALL_TIMEOUT_S, BenchmarkAborted, post_bulk, timed_rounds
from review_bulk_mturk import summary as bulk_summary

from mephisto_core.data_model import Agent, open_database

REQUESTER = "prolific"
#: what Prolific's ids look like in a path, so calls are counted by kind ("POST submissions/{id}/transition/")
_ID = re.compile(r"[0-9a-f]{24}")
#: the status each action leaves a submission in at Prolific (a soft rejection approves there)
STATUS_AFTER = {"approve": "APPROVED", "soft-reject": "APPROVED", "reject": "REJECTED"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=200, help="submitted units to decide (default 200)")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the fake takes per call (default 0.2)")
    parser.add_argument("--action", choices=("approve", "reject", "soft-reject", "bonus", "block"), default="approve")
    add_server_options(parser)
    args = parser.parse_args(argv)
    if args.units < 1 or args.latency < 0:
        parser.error("--units must be at least 1 and --latency at least 0")
    if args.action == "block" and args.units > BULK_CHUNK:  # a worker acted on in each request of their units
        parser.error(f"--action block acts on workers in one bulk request: at most {BULK_CHUNK} --units")
    args.servers = servers_to_time(parser, args)
    return args


def time_bulk(mephisto: list[str], args: argparse.Namespace, label: str) -> dict[str, Any]:
    """One fresh data dir and fake, one timed bulk verdict of every unit; its seconds and Prolific calls."""
    with ExitStack() as stack:
        workdir = temporary_workdir(stack, "review_bulk_prolific", keep=False)
        fake = stack.enter_context(FakeProlific(balance_cents=10**9))
        settings = {"MEPHISTO_PROLIFIC_API_URL": fake.base_url, "MEPHISTO_PROLIFIC_COMPLETION_URL": fake.completion_url}
        env = isolated_env(workdir, **settings)
        done = subprocess.run(
            [*mephisto, "register", "prolific", REQUESTER, f"api_key={fake.api_key}"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise BenchmarkAborted(f"mephisto register failed: {done.stdout}{done.stderr}")
        unit_ids, sessions = _seed(fake, workdir / "data", args.units, settings)
        connection, token = open_review_app(stack, mephisto, env, workdir / f"review-{label}.log", CALL_TIMEOUT_S)
        calls_before = len(fake.requests)
        fake.set_latency(args.latency)
        started = time.perf_counter()
        decided = post_bulk(connection, token, args.action, unit_ids)
        seconds = time.perf_counter() - started
        fake.set_latency(0)
        if decided != len(unit_ids):
            raise BenchmarkAborted(f"{label}: {decided} of {len(unit_ids)} units were decided")
        _check_the_fake(fake, args.action, sessions, label)
        by_kind: dict[str, int] = {}
        for call in fake.requests[calls_before:]:
            kind = f"{call.method} {_ID.sub('{id}', call.path)}"
            by_kind[kind] = by_kind.get(kind, 0) + 1
        return {"seconds": seconds, "prolific_calls": by_kind}


def _seed(fake: FakeProlific, data_dir: Path, units: int, settings: dict[str, str]) -> tuple[list[int], list[str]]:
    """The run's submitted units (ids) and their participants' sessions, set up through the provider as a launch
    would (its study and records in the data dir the review app reads)."""
    database = open_database(None, data_dir / "mephisto.db")
    try:
        with environment(**settings):  # this process's provider reaches the fake as the review app's will
            provider = ProlificProvider(
                ProlificArgs(), REQUESTER, {"api_key": fake.api_key}, ProlificProvider.data_dir_under(data_dir)
            )
            _run, made = submitted_in_a_study(fake, database, provider, units)
        agents = Agent.select(Agent.provider_agent_id).where(Agent.unit.in_([unit.id for unit in made]))
        return [int(unit.id) for unit in made], sorted(str(agent.provider_agent_id) for agent in agents)
    finally:
        database.close()


def _check_the_fake(fake: FakeProlific, action: str, sessions: list[str], label: str) -> None:
    if action == "block":
        participants = {str(fake.submission(session)["participant_id"]) for session in sessions}
        blocked = {pid for group in fake.participant_groups() for pid in fake.group_members(str(group["id"]))}
        if not participants <= blocked:
            raise BenchmarkAborted(f"{label}: {len(participants - blocked)} participants are not in a block list")
        return
    if action == "bonus":
        paid = sorted(str(bonus["submission_id"]) for bonus in fake.bonuses_paid())
        if paid != sessions:
            raise BenchmarkAborted(f"{label}: {len(paid)} bonuses paid at the fake for {len(sessions)} units")
        return
    statuses = {str(fake.submission(session)["status"]) for session in sessions}
    if statuses != {STATUS_AFTER[action]}:
        raise BenchmarkAborted(f"{label}: submissions at the fake ended {sorted(statuses)}, not {STATUS_AFTER[action]}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    before = {"code": code_version(), "machine": machine_info(loadavg_1m())}
    runs = timed_rounds(args, time_bulk)
    result = {"benchmark": "review_bulk_prolific", "action": args.action, **bulk_summary(args, runs, "prolific")}
    print(json.dumps({**result, **before}))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (BenchmarkAborted, MephistoMissing, ReviewAppFailed) as exc:
        print(f"review_bulk_prolific: aborted: {exc}", file=sys.stderr)
        sys.exit(2)
