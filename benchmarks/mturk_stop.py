"""How long stopping an MTurk run takes: Ctrl-C twice on `mephisto launch`, until every open HIT is withdrawn and
the command has exited.

Each measurement starts afresh: a local FakeMTurk (the plugin's, speaking MTurk's real wire protocol to boto3),
`mephisto register mturk_sandbox lab ...` against it, the static template with `--units` rows launched on it, and
a wait until every unit's HIT is open at the fake. Then the fake answers each requester call after `--latency`
seconds (MTurk's API answers in 0.1-0.3 s from most places), the benchmark sends SIGINT twice (stop now) and times
until the launch exits, and checks that no HIT of the run is left open.

`--server NAME=PATH` (repeatable) times the `mephisto` at PATH as well, in alternating rounds (`--rounds`): an
older commit's install against this one. Prints one JSON line: seconds per server, the ratio against the first
server, and the MTurk calls made while stopping, per unit.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from contextlib import ExitStack
from typing import Any

from _launch import LaunchError, LaunchProcess
from _run_info import (
    MephistoMissing,
    add_server_options,
    code_version,
    loadavg_1m,
    machine_info,
    servers_to_time,
)
from _task_folder import TaskFolderError, make_task_folder
from _workdir import launch_command
from mephisto_provider_mturk.testing import FakeMTurk
from review_bulk_mturk import BenchmarkAborted, fresh_fake_mturk, summary, timed_rounds

PUBLISH_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 900.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=200, help="units, one HIT each (default 200)")
    parser.add_argument(
        "--latency", type=float, default=0.1, help="seconds the fake MTurk takes per call while stopping (default 0.1)"
    )
    add_server_options(parser)
    args = parser.parse_args(argv)
    if args.units < 1 or args.latency < 0:
        parser.error("--units must be at least 1 and --latency at least 0")
    args.servers = servers_to_time(parser, args)
    return args


def _open_hits(fake: FakeMTurk) -> int:
    return sum(1 for status in fake.snapshot().hit_statuses.values() if status == "Assignable")


def time_stop(mephisto: list[str], args: argparse.Namespace, label: str) -> dict[str, Any]:
    """One fresh fake and launch, all HITs open, then Ctrl-C twice: seconds until the launch exited."""
    with ExitStack() as stack:
        workdir, fake, env = fresh_fake_mturk(stack, "mturk_stop", mephisto)
        task = make_task_folder(workdir, args.units, with_files=False, mephisto=mephisto, env=env)
        overrides = ("provider.type=mturk_sandbox", "provider.requester_name=lab")
        launch = LaunchProcess(launch_command(mephisto, task, *overrides), env, workdir / f"launch-{label}.log")
        stack.callback(launch.stop)
        launch.worker_base_url(PUBLISH_TIMEOUT_S)
        deadline = time.monotonic() + PUBLISH_TIMEOUT_S
        while _open_hits(fake) < args.units:
            if time.monotonic() > deadline or launch.proc.poll() is not None:
                raise BenchmarkAborted(f"{label}: {_open_hits(fake)} of {args.units} HITs open\n{launch.output()}")
            time.sleep(0.2)
        calls_before = len(fake.requests())
        fake.set_latency(args.latency)
        started = time.perf_counter()
        for _ in range(2):
            launch.proc.send_signal(signal.SIGINT)
            time.sleep(0.05)
        code = launch.wait(STOP_TIMEOUT_S)
        seconds = time.perf_counter() - started
        fake.set_latency(0)
        if code is None:
            raise BenchmarkAborted(f"{label}: still running {STOP_TIMEOUT_S:.0f} s after Ctrl-C\n{launch.output()}")
        left = _open_hits(fake)
        if left:
            raise BenchmarkAborted(f"{label}: {left} HITs still open after the launch exited ({code})")
        by_operation: dict[str, int] = {}
        for call in fake.requests()[calls_before:]:
            by_operation[call.operation] = by_operation.get(call.operation, 0) + 1
        return {"seconds": seconds, "exit_code": code, "mturk_calls": by_operation}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    before = {"code": code_version(), "machine": machine_info(loadavg_1m())}
    runs = timed_rounds(args, time_stop)
    exit_codes = {name: [r["exit_code"] for r in rounds] for name, rounds in runs.items()}
    print(json.dumps({"benchmark": "mturk_stop", **summary(args, runs), "exit_codes": exit_codes, **before}))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (BenchmarkAborted, LaunchError, MephistoMissing, TaskFolderError) as exc:
        print(f"mturk_stop: aborted: {exc}", file=sys.stderr)
        sys.exit(2)
