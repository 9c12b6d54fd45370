"""Remote procedure round trips: `--workers` pages each calling the task's Python procedure in a loop.

Writes a static task with `[task.procedures]` (a word-count procedure, run on the operator's procedure threads),
starts `mephisto launch` on a free port, opens one worker socket per worker (asyncio, the protocol of
docs/protocol.md) and has each send `--calls` calls, `--pause` seconds apart. The round trip is from sending a
`call` to its `call_result`: router, operator, the database row written before the function runs and completed
after it, and back. Prints one JSON line; exits 1 when a call failed or went unanswered.

    python benchmarks/live_procedures.py --workers 100 --calls 20 --pause 0.2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from contextlib import ExitStack
from typing import Any

from _launch import LaunchError, LaunchProcess
from _run_info import code_version, loadavg_1m, machine_info, mephisto_command
from _workdir import isolated_env, launch_command, temporary_workdir
from websockets.asyncio.client import connect

PROCEDURES = """
from mephisto_core.procedures import procedure

@procedure
def score(args):
    return {"words": len(str(args.get("text", "")).split())}
"""

TASK = """
[task]
name = "procedures-bench"
title = "Procedure benchmark"

[task.procedures]
module = "procedures.py"
max_calls_per_minute = 100000

[blueprint]
type = "static"
task_source = "task.html"
data_csv = "data.csv"

[architect]
type = "local"
port = 0

[provider]
type = "mock"
"""


async def worker(url: str, name: str, calls: int, pause: float, trips: list[float], errors: list[str]) -> None:
    async with connect(url, open_timeout=60) as ws:
        await ws.send(json.dumps({"type": "hello", "id": 1, "params": {"worker_id": name}, "token": None}))
        hello = json.loads(await ws.recv())
        if hello.get("type") != "assigned":
            errors.append(f"{name}: {hello}")
            return
        # Workers start at random points of the pause, as people do: not every call of a round at one instant.
        await asyncio.sleep(random.uniform(0, pause))
        for n in range(calls):
            await asyncio.sleep(pause)
            request_id = n + 2
            frame = {"type": "call", "id": request_id, "call_key": f"{name}-call-{n:06d}", "name": "score"}
            frame["args"] = {"text": f"a short sentence number {n}"}
            sent = time.perf_counter()
            await ws.send(json.dumps(frame))
            while True:
                answer = json.loads(await ws.recv())
                if answer.get("id") == request_id:
                    break
            if answer.get("type") != "call_result":
                errors.append(f"{name}: {answer}")
                return
            trips.append(time.perf_counter() - sent)


def percentile(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000, 2) if ordered else None


async def drive(base_url: str, workers: int, calls: int, pause: float) -> dict[str, Any]:
    url = "ws" + base_url[4:].rstrip("/") + "/ws"
    trips: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    await asyncio.gather(*(worker(url, f"w{i:05d}", calls, pause, trips, errors) for i in range(workers)))
    elapsed = time.perf_counter() - started
    return {
        "workers": workers,
        "calls_answered": len(trips),
        "calls_expected": workers * calls,
        "errors": errors[:5],
        "seconds": round(elapsed, 2),
        "calls_per_s": round(len(trips) / elapsed, 1),
        "round_trip_ms": {q: percentile(trips, v) for q, v in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=50)
    parser.add_argument("--calls", type=int, default=20, help="calls per worker")
    parser.add_argument("--pause", type=float, default=0.2, help="seconds between a worker's calls")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    load_before = loadavg_1m()
    with ExitStack() as stack:
        workdir = temporary_workdir(stack, "live_procedures", args.keep)
        folder = workdir / "task"
        folder.mkdir()
        (folder / "procedures.py").write_text(PROCEDURES)
        (folder / "task.html").write_text('<p>Procedure benchmark</p><input name="x">')
        (folder / "data.csv").write_text("n\n" + "".join(f"{i}\n" for i in range(args.workers)))
        (folder / "task.toml").write_text(TASK)
        launch = LaunchProcess(
            launch_command(mephisto_command(), folder / "task.toml"), isolated_env(workdir), workdir / "stderr.log"
        )
        stack.callback(launch.close)
        try:
            base = launch.worker_base_url(120)
        except LaunchError as exc:
            print(f"live_procedures: {exc}", file=sys.stderr)
            return 2
        result = asyncio.run(drive(base, args.workers, args.calls, args.pause))
        launch.stop()
    result.update(
        {
            "benchmark": "live_procedures",
            "pause_s": args.pause,
            "machine": machine_info(load_before),
            "code": code_version(),
        }
    )
    print(json.dumps(result))
    return 0 if not result["errors"] and result["calls_answered"] == result["calls_expected"] else 1


if __name__ == "__main__":
    sys.exit(main())
