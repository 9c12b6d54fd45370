"""Scale-out: one run on PostgreSQL served by 1, then 2 (then 3) `mephisto launch` processes (`--join`).

For each process count N: a fresh PostgreSQL database and data dir, a static task with `--units` rows, the owner
`mephisto launch` and N-1 `mephisto launch --join` processes on free ports, and `--workers` lean bots
(benchmarks/_lean_client.py) spread evenly over the N worker links, run by `--loadgens` load-generator processes.
Throughput is acknowledged submissions per second from the first hello to the last acknowledgement; each launch
process's CPU time is read from /proc while it runs. Prints one JSON line with a row per process count (units/s,
operator CPU per process, acknowledgements per process's link, whether the database holds exactly the acknowledged
submissions).

On a small machine shared with the load generator and PostgreSQL, more processes mostly share the same cores:
read the numbers next to `cpus` and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from _db_check import check_database
from _launch import LaunchError, LaunchProcess
from _lean_client import LeanBot, process_key_prefix
from _loadgen import lean_answer
from _proc_watch import ProcessTreeWatch
from _run_info import MephistoMissing, code_version, loadavg_1m, mephisto_command
from _task_folder import TaskFolderError, make_task_folder
from _workdir import isolated_env, launch_command, split, temporary_workdir

from mephisto_core.testing.postgres import PostgresStartError, PostgresUnavailable

LINK_TIMEOUT_S = 60.0


class BenchmarkAborted(RuntimeError):
    """The run could not be measured; the message says why."""


@dataclass
class GenResult:
    """What one load-generator process saw, per link index."""

    acknowledged: dict[int, list[str]] = field(default_factory=dict)
    first_hello: float | None = None
    last_ack: float | None = None
    errors: int = 0
    cpu_seconds: float = 0.0
    failure: str | None = None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=200, help="concurrent simulated workers (default 200)")
    parser.add_argument("--units", type=int, default=4000, help="data rows, one unit each (default 4000)")
    parser.add_argument("--counts", default="1,2,3", help="operator process counts to run (default 1,2,3)")
    parser.add_argument("--loadgens", type=int, default=2, help="load-generator processes (default 2)")
    parser.add_argument("--think", type=float, default=0.0, help="simulated workers' think time per unit (s)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds one run may take (default 300)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders and print where they are")
    return parser.parse_args(argv)


def generator_main(
    links: list[str], task_toml: Path, bots: list[tuple[int, int]], think: float, start: Barrier, out: Queue[GenResult]
) -> None:
    """Load-generator process: `bots` are (bot number, link index); runs them until the run is over."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    result = GenResult()
    try:
        answer = lean_answer(task_toml)
    except Exception as exc:  # reported to the parent, which aborts
        result.failure = f"{type(exc).__name__}: {exc}"
        start.abort()
        out.put(result)
        return
    start.wait()
    begin = resource.getrusage(resource.RUSAGE_SELF)
    result.first_hello = time.time()

    async def run_all() -> None:
        # The lean bots of load_e2e (benchmarks/_lean_client.py): a tenth of SimulatedWorker's CPU per unit, so
        # the load generators leave the two cores to the operators and PostgreSQL.
        prefix = process_key_prefix()
        workers = [
            (link, LeanBot(links[link], f"bench-{n}", answer, seed=n, think_seconds=think, key_prefix=prefix))
            for n, link in bots
        ]
        await asyncio.gather(*(bot.run() for _, bot in workers))
        for link, bot in workers:
            report = bot.report
            result.acknowledged.setdefault(link, []).extend(report.acknowledged_keys)
            result.errors += len(report.error_times)
            if report.last_ack is not None:
                result.last_ack = max(result.last_ack or 0.0, report.last_ack)

    asyncio.run(run_all())
    end = resource.getrusage(resource.RUSAGE_SELF)
    result.cpu_seconds = (end.ru_utime + end.ru_stime) - (begin.ru_utime + begin.ru_stime)
    out.put(result)


def run_count(args: argparse.Namespace, count: int, server: Any, stack: ExitStack) -> dict[str, Any]:
    from mephisto_core.testing.postgres import create_database, drop_database, new_database_name

    workdir = temporary_workdir(stack, f"scale_out_{count}", args.keep)
    database_url = create_database(server.admin_url, new_database_name("mephisto_scale"))
    stack.callback(drop_database, server.admin_url, database_url.rsplit("/", 1)[-1])
    env = isolated_env(workdir, MEPHISTO_LOG_LEVEL="WARNING")
    env["MEPHISTO_DATABASE_URL"] = database_url
    mephisto = mephisto_command()
    task_toml = make_task_folder(workdir, args.units, with_files=False, mephisto=mephisto, env=env)
    launches: list[LaunchProcess] = []
    watches: list[ProcessTreeWatch] = []
    try:
        for n in range(count):
            extra = ["--join"] if n else []
            launch = LaunchProcess(launch_command(mephisto, task_toml, *extra), env, workdir / f"launch-{n}.stderr")
            launches.append(launch)
            watch = ProcessTreeWatch(launch.pid)
            watch.start()
            watches.append(watch)
            if not n:  # the run exists, with a live owner, once the owner printed its link: then join it
                links = [launch.worker_base_url(LINK_TIMEOUT_S)]
        links += [launch.worker_base_url(LINK_TIMEOUT_S) for launch in launches[1:]]
        ctx = multiprocessing.get_context("spawn")
        start = ctx.Barrier(args.loadgens + 1)
        out: Queue[GenResult] = ctx.Queue()
        assignment = [(n, n % count) for n in range(args.workers)]
        procs = []
        for first, size in split(args.workers, args.loadgens):
            proc = ctx.Process(
                target=generator_main,
                args=(links, task_toml, assignment[first : first + size], args.think, start, out),
            )
            proc.start()
            procs.append(proc)
        start.wait(120)
        for watch in watches:  # CPU from here on: the serving, not the start-up (imports, deploy)
            watch.sample_once()
        cpu_at_start = [_cpu(watch) for watch in watches]
        results = [out.get(timeout=args.timeout) for _ in procs]
        for proc in procs:
            proc.join(30)
        failures = [r.failure for r in results if r.failure]
        if failures:
            raise BenchmarkAborted(f"a load generator failed: {failures[0]}")
        exits = [launch.wait(60) for launch in launches]
    finally:
        for watch in watches:
            watch.stop()
        for launch in launches:
            if launch.proc.poll() is None:
                launch.stop()
            else:
                launch.close()
    acknowledged = [key for r in results for keys in r.acknowledged.values() for key in keys]
    per_link = [sum(len(r.acknowledged.get(n, [])) for r in results) for n in range(count)]
    began = min(r.first_hello for r in results if r.first_hello is not None)
    ended = max((r.last_ack for r in results if r.last_ack is not None), default=began)
    seconds = max(ended - began, 1e-6)
    check = check_database(database_url, workdir / "unused.db", acknowledged)
    operator_cpu = [round(_cpu(w) - at_start, 2) for w, at_start in zip(watches, cpu_at_start, strict=True)]
    return {
        "processes": count,
        "acknowledged": len(acknowledged),
        "seconds": round(seconds, 2),
        "units_per_s": round(len(acknowledged) / seconds, 1),
        "acks_per_link": per_link,
        "operator_cpu_s": operator_cpu,
        "operator_cpu_ms_per_unit": round(1000 * sum(operator_cpu) / max(len(acknowledged), 1), 3),
        "loadgen_cpu_s": round(sum(r.cpu_seconds for r in results), 2),
        "bot_errors": sum(r.errors for r in results),
        "launch_exits": exits,
        "db_matches_acks": check.matches and check.completed_agents == args.units,
        "unit_statuses": check.unit_statuses,
    }


def _cpu(watch: ProcessTreeWatch) -> float:
    """CPU seconds of a launch process and its children (a subprocess router) as last sampled."""
    return sum(sample.cpu_seconds for sample in watch.samples.values())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    counts = [int(c) for c in args.counts.split(",") if c.strip()]
    before = {"code": code_version(), "loadavg_1m": loadavg_1m()}
    rows = []
    with ExitStack() as stack:
        from mephisto_core.testing.postgres import external_server, start_postgres

        external = os.environ.get("MEPHISTO_TEST_POSTGRES_URL")
        server = external_server(external) if external else start_postgres()
        stack.callback(server.stop)
        for count in counts:
            with ExitStack() as run_stack:
                rows.append(run_count(args, count, server, run_stack))
            print(f"scale_out: {rows[-1]}", file=sys.stderr)
    summary = {
        "benchmark": "scale_out",
        "db": "postgresql",
        "workers": args.workers,
        "units": args.units,
        "think_seconds": args.think,
        "cpus": os.cpu_count(),
        "runs": rows,
        "db_matches_acks": all(row["db_matches_acks"] for row in rows),
        **before,
        "loadavg_1m_after": loadavg_1m(),
    }
    print(json.dumps(summary))
    return 0 if summary["db_matches_acks"] else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (
        BenchmarkAborted,
        LaunchError,
        MephistoMissing,
        TaskFolderError,
        PostgresUnavailable,
        PostgresStartError,
    ) as exc:
        print(f"scale_out: aborted: {exc}", file=sys.stderr)
        sys.exit(2)
