"""End-to-end load: simulated workers against a launched static task, through the real router and database.

Makes a task folder from the static template with `--units` data rows, starts `mephisto launch` on a free
port, and runs `--workers` concurrent bots spread over `--processes` load-generator processes until every
unit is done. The bots are lean ones by default (`--client lean`: benchmarks/_lean_client.py, the protocol steps
of `SimulatedWorker` on raw asyncio protocols, about a sixth of its CPU per unit) so that the load generators
leave the cores to the server; `--client simulated` runs `SimulatedWorker` itself.

Prints one JSON line: throughput, latency percentiles (overall, and split into the start-up burst, each bot's
first unit, and the steady state after it), errors, the server's CPU time (operator + router process, from the
bots' start to the launch's exit) per unit and units per server-core second, the operator's peak memory, and
whether the database holds exactly the submissions the bots saw acknowledged. Exits 1 when it does not (or a
bot crashed), 2 when the run could not be completed within `--timeout`.

`--mephisto PATH` measures another install's server (the `mephisto` console script of another virtualenv, e.g.
one with an older commit) with this load generator: `server` in the JSON line says which (path, version, the
commit of its source tree). benchmarks/ab.py alternates runs between servers. `--think-seconds` pauses each bot
between getting a unit and submitting it; `--arrival-seconds` spreads the bots' starts evenly over that many
seconds (default 0: all bots at once, the start-up burst).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import queue
import resource
import signal
import statistics
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import Any

from _cpu_timeline import CpuTimeline
from _db_check import check_database
from _latency_proxy import add_relay_option, check_relay_option, start_relay
from _launch import LaunchError, LaunchProcess
from _loadgen import ShareResult, ShareSpec, generator_main
from _pg_wal import wal_position
from _proc_watch import ProcessTreeWatch, ProcSample, written_bytes
from _profile import ProfilerMissing, format_top, start_pyspy
from _remote_router import RemoteRouter
from _run_info import MephistoMissing, code_version, loadavg_1m, machine_info, mephisto_command, server_info
from _task_folder import (
    TaskFolderError,
    add_gold,
    add_onboarding,
    add_requirement,
    add_screening,
    make_task_folder,
)
from _workdir import isolated_env, launch_command, split, temporary_workdir, throwaway_postgres

from mephisto_core.testing.postgres import PostgresStartError, PostgresUnavailable

LINK_TIMEOUT_S = 60.0
START_TIMEOUT_S = 120.0  # load generators importing the plugins and building their bots
RESULTS_TIMEOUT_S = 60.0
#: how long after the last bot's arrival the opening's CPU is still sampled (1,000 at once take ~0.25 s)
OPENING_MARGIN_S = 3.0


class BenchmarkAborted(RuntimeError):
    """The run could not be measured; the message says why and what was seen."""


@dataclass
class Outcome:
    """Everything measured in one run, before it is summarised."""

    shares: list[ShareResult]
    launch_exit: int
    launch_s: float
    watch: ProcessTreeWatch
    #: the standalone router's process (--router-mode remote-tls), which is not a child of the launch
    router_watch: ProcessTreeWatch | None = None
    #: the server's CPU seconds when the bots started (its start-up, not part of the load)
    server_cpu_at_start: float = 0.0
    #: --db postgresql: the PostgreSQL server's processes (its backends are the children of its postmaster)
    database_watch: ProcessTreeWatch | None = None
    database_cpu_at_start: float = 0.0
    #: each process group's CPU over the run's first seconds, and the wall clock when the bots were let go
    opening_cpu: CpuTimeline | None = None
    bots_started_at: float = 0.0
    #: --db postgresql: the write-ahead log the server wrote while the bots ran, in bytes
    database_wal_bytes: int | None = None
    #: what the operator process had written to storage when the bots started (SQLite: its database's log and
    #: checkpoints)
    operator_written_at_start: int | None = None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=100, help="concurrent simulated workers (default 100)")
    parser.add_argument("--units", type=int, default=3000, help="data rows, one unit each (default 3000)")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite", help="database (default sqlite)")
    parser.add_argument("--processes", type=int, default=2, help="load-generator processes (default 2)")
    add_relay_option(parser)
    parser.add_argument(
        "--think-seconds",
        type=float,
        default=0.0,
        help="mean pause of a bot between getting a unit and submitting it (default 0: as fast as possible)",
    )
    parser.add_argument(
        "--arrival-seconds",
        type=float,
        default=0.0,
        help="bots start evenly spread over this many seconds (default 0: all at once, the start-up burst)",
    )
    parser.add_argument(
        "--client",
        choices=("lean", "simulated"),
        default="lean",
        help="the bots: lean (default; raw asyncio protocols, little CPU) or simulated (SimulatedWorker)",
    )
    parser.add_argument(
        "--mephisto",
        type=Path,
        default=None,
        metavar="PATH",
        help="the `mephisto` console script whose server is measured (default: the one beside this Python)",
    )
    parser.add_argument(
        "--with-files", action="store_true", help="bots upload a small file with each unit (needs --client simulated)"
    )
    parser.add_argument(
        "--router-mode",
        choices=("auto", "in_process", "subprocess", "remote-tls"),
        default="auto",
        help="architect.mode of the local architect (default auto, the architect's default: subprocess on 2+ cores), "
        "or remote-tls: "
        "`mephisto router serve` over TLS on 127.0.0.1 (a test CA) with the remote architect",
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="abort when the run is not done after this many seconds"
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        help="MEPHISTO_LOG_LEVEL of the launch process (default INFO, the default)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="FILE",
        help="record a py-spy profile of the launch process (collapsed stacks) and print its top entries",
    )
    parser.add_argument("--profile-gil", action="store_true", help="with --profile: only samples holding the GIL")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a task-file override for the launch, repeatable (e.g. task.maximum_units_per_worker=100)",
    )
    parser.add_argument(
        "--exclude-qualification",
        metavar="NAME",
        help="the task requires that workers not hold the qualification NAME (a `not_exists` requirement, as a "
        "study that excludes an earlier one's workers), so each hello's grants are judged",
    )
    parser.add_argument(
        "--onboarding",
        action="store_true",
        help="the task has an onboarding page every worker takes (and passes) before their first unit; each "
        "test is one more acknowledged submission",
    )
    parser.add_argument(
        "--gold",
        type=int,
        metavar="EVERY",
        help="gold units mixed into each worker's units ([task.gold]): their first unit and every EVERY-th after "
        "it; bots answer them at random and are never stopped",
    )
    parser.add_argument(
        "--screening",
        type=int,
        metavar="UNITS",
        help="each worker's first UNITS units are screened ([task.screening]) by a validator every answer passes",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and print where it is")
    args = parser.parse_args(argv)
    if args.gold is not None and args.gold < 1:
        parser.error(f"--gold must be at least 1, got {args.gold}")
    if args.screening is not None and args.screening < 1:
        parser.error(f"--screening must be at least 1, got {args.screening}")
    for name in ("workers", "units", "processes"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.processes > args.workers:
        parser.error(f"--processes ({args.processes}) must not exceed --workers ({args.workers})")
    if args.with_files and args.client == "lean":
        parser.error("--with-files needs --client simulated (the lean client sends no uploads)")
    if args.mephisto is not None and not os.access(args.mephisto, os.X_OK):
        parser.error(f"--mephisto {args.mephisto}: not an executable file")
    check_relay_option(parser, args)
    if args.arrival_seconds < 0:
        parser.error(f"--arrival-seconds must not be negative, got {args.arrival_seconds}")
    if args.think_seconds < 0:
        parser.error(f"--think-seconds must not be negative, got {args.think_seconds}")
    if args.timeout <= 0:
        parser.error(f"--timeout must be positive, got {args.timeout}")
    for override in args.set:
        key, equals, _value = override.partition("=")
        if not equals or "." not in key:
            parser.error(f"--set {override!r}: write SECTION.KEY=VALUE, e.g. task.maximum_units_per_worker=100")
    return args


def raise_open_file_limit(needed: int) -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (children inherit it); return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        raise BenchmarkAborted(
            f"the open-file limit is {target} (hard), but {needed} are needed for this many workers; "
            "raise it (ulimit -Hn) or use fewer --workers"
        )
    return target


def run(
    args: argparse.Namespace,
    workdir: Path,
    env: dict[str, str],
    database_pid: int | None = None,
    database_url: str | None = None,
) -> Outcome:
    """Launch the task, run the bots until the launch exits, and collect what each process measured.
    `database_pid` and `database_url`: the PostgreSQL postmaster, whose processes' CPU and log are measured too."""
    mephisto = [str(args.mephisto)] if args.mephisto is not None else mephisto_command()
    task_toml = make_task_folder(workdir, args.units, with_files=args.with_files, mephisto=mephisto, env=env)
    if args.exclude_qualification is not None:
        add_requirement(task_toml, args.exclude_qualification, "not_exists")
    if args.onboarding:
        add_onboarding(task_toml)
    if args.gold is not None:
        add_gold(task_toml, args.gold)
    if args.screening is not None:
        add_screening(task_toml, args.screening)
    remote: RemoteRouter | None = None
    if args.router_mode == "remote-tls":
        remote = RemoteRouter.start(workdir, env)
        remote.use_in(task_toml)
        command = [*mephisto, "launch", str(task_toml), *args.set, "--no-panel"]
    elif args.router_mode == "auto":  # the server's own default (an older server may not know "auto")
        command = launch_command(mephisto, task_toml, *args.set)
    else:
        command = launch_command(mephisto, task_toml, f"architect.mode={args.router_mode}", *args.set)
    ctx = multiprocessing.get_context("spawn")
    launch = LaunchProcess(command, env, workdir / "launch.stderr.log")
    watch = ProcessTreeWatch(launch.pid)
    watch.start()
    router_watch = None
    if remote is not None:
        router_watch = ProcessTreeWatch(remote.pid)
        router_watch.start()
    # Backends exit with their connections: sampled often, so that little of their last CPU goes unseen.
    database_watch = ProcessTreeWatch(database_pid, interval_s=0.05) if database_pid is not None else None
    if database_watch is not None:
        database_watch.start()
    start = ctx.Barrier(args.processes + 1)
    stop = ctx.Event()
    results = ctx.Queue()
    generators: list[SpawnProcess] = []
    profiler: subprocess.Popen[bytes] | None = None
    opening_cpu = CpuTimeline()
    try:
        base_url = launch.worker_base_url(LINK_TIMEOUT_S)
        if args.profile is not None:
            profiler = start_pyspy(launch.pid, args.profile, gil_only=args.profile_gil)
        for index, (first, count) in enumerate(split(args.workers, args.processes)):
            spec = ShareSpec(
                index=index,
                base_url=base_url,
                task_toml=task_toml,
                first=first,
                count=count,
                think_seconds=args.think_seconds,
                client=args.client,
                arrival_seconds=args.arrival_seconds,
                workers=args.workers,
            )
            process = ctx.Process(target=generator_main, args=(spec, start, stop, results), name=f"loadgen-{index}")
            process.start()
            generators.append(process)
        _watch_opening(opening_cpu, watch, router_watch, database_watch, generators)
        wal_at_start = wal_position(database_url) if database_url is not None else None
        try:
            start.wait(timeout=START_TIMEOUT_S)
        except threading.BrokenBarrierError:
            failures = [r.failure for r in _drain(results, len(generators), 5.0) if r.failure]
            raise BenchmarkAborted(
                "the load generators did not start: " + ("; ".join(failures) or f"not ready in {START_TIMEOUT_S} s")
            ) from None
        bots_started_at = time.time()
        # Sampled only while bots are still arriving and a little after: its reads cost the cores under test.
        opening_cpu.stop_after(args.arrival_seconds + OPENING_MARGIN_S)
        server_cpu_at_start = _server_cpu(watch, router_watch)
        operator_written_at_start = written_bytes(watch.root_pid)
        database_cpu_at_start = _tree_cpu(database_watch) if database_watch is not None else 0.0
        deadline = launch.started + args.timeout
        exit_code = None
        while exit_code is None:
            exit_code = launch.wait(min(1.0, max(0.0, deadline - time.monotonic())))
            if exit_code is None and time.monotonic() >= deadline:
                raise BenchmarkAborted(
                    f"the run was not done after --timeout {args.timeout:.0f} s (the launch still serves "
                    f"units); use more --timeout or fewer --units.\n{launch.output()}"
                )
            dead = [p.name for p in generators if not p.is_alive() and p.exitcode != 0]
            if exit_code is None and dead:
                raise BenchmarkAborted(f"load generator(s) {', '.join(dead)} died; see their messages above")
        launch_s = time.monotonic() - launch.started
        wal_bytes = wal_position(database_url) - wal_at_start if database_url and wal_at_start is not None else None
        if remote is not None:
            # A local router ends with its launch and the bots see it go; the lab's router outlives the launch,
            # and bots cancelled while their TLS sockets wait for an operator can take over a minute to close.
            remote.stop()
        stop.set()
        shares = _drain(results, len(generators), RESULTS_TIMEOUT_S)
        if len(shares) < len(generators):
            raise BenchmarkAborted(
                f"only {len(shares)} of {len(generators)} load generators reported within {RESULTS_TIMEOUT_S} s"
            )
        if exit_code != 0:
            raise BenchmarkAborted(f"`mephisto launch` exited with {exit_code}.\n{launch.output()}")
        if profiler is not None:
            _report_profile(profiler, args.profile)
        return Outcome(
            shares=shares,
            launch_exit=exit_code,
            launch_s=launch_s,
            watch=watch,
            router_watch=router_watch,
            server_cpu_at_start=server_cpu_at_start,
            database_watch=database_watch,
            database_cpu_at_start=database_cpu_at_start,
            opening_cpu=opening_cpu,
            bots_started_at=bots_started_at,
            database_wal_bytes=wal_bytes,
            operator_written_at_start=operator_written_at_start,
        )
    finally:
        stop.set()
        opening_cpu.stop()
        launch.stop()
        watch.stop()
        if remote is not None:
            remote.stop()
        if router_watch is not None:
            router_watch.stop()
        if database_watch is not None:
            database_watch.stop()
        _end_survivors(watch)
        if profiler is not None and profiler.poll() is None:
            profiler.kill()
            profiler.wait()
        for process in generators:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()


def _watch_opening(
    timeline: CpuTimeline,
    watch: ProcessTreeWatch,
    router_watch: ProcessTreeWatch | None,
    database_watch: ProcessTreeWatch | None,
    generators: list[SpawnProcess],
) -> None:
    """Start sampling the CPU of the operator, the router, the load generators and the database server."""
    watch.sample_once()
    if router_watch is not None:
        router_watch.sample_once()
    timeline.watch("operator", [watch.root_pid])
    timeline.watch("router", [r.pid for r in _routers(watch, router_watch)])
    timeline.watch("loadgen", [p.pid for p in generators if p.pid is not None])
    # this process: the samplers themselves, on the same cores
    timeline.watch("benchmark_parent", [os.getpid()])
    if database_watch is not None:
        database_watch.sample_once()
        timeline.watch("database", list(database_watch.samples))
    timeline.start()


def _routers(watch: ProcessTreeWatch, router_watch: ProcessTreeWatch | None) -> list[ProcSample]:
    """The router's process: a child of the launch (architect.mode=subprocess) or a standalone one."""
    if router_watch is not None and router_watch.root is not None:
        return [router_watch.root]
    return [c for c in watch.children() if "mephisto_core.router" in c.command]


def _sqlite_written_per_unit(outcome: Outcome, db: str, units: int) -> int | None:
    operator = outcome.watch.root
    if db != "sqlite" or operator is None or outcome.operator_written_at_start is None or not units:
        return None
    return round((operator.written_bytes - outcome.operator_written_at_start) / units)


def _tree_cpu(watch: ProcessTreeWatch) -> float:
    """The CPU seconds of a watched process and its descendants (those that exited: as last seen), read now."""
    watch.sample_once()
    return watch.total_cpu_seconds()


def _server_cpu(watch: ProcessTreeWatch, router_watch: ProcessTreeWatch | None) -> float:
    """The CPU seconds of the operator (the launch process) and the router's process, read now."""
    watch.sample_once()
    if router_watch is not None:
        router_watch.sample_once()
    operator = watch.root
    return (operator.cpu_seconds if operator else 0.0) + sum(r.cpu_seconds for r in _routers(watch, router_watch))


def _report_profile(profiler: subprocess.Popen[bytes], output: Path) -> None:
    # py-spy writes its file once the profiled process has exited.
    try:
        _, stderr = profiler.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        profiler.kill()
        raise BenchmarkAborted("py-spy did not finish writing its profile within 60 s") from None
    if profiler.returncode != 0 or not output.exists():
        raise BenchmarkAborted(f"py-spy failed (exit {profiler.returncode}): {stderr.decode(errors='replace')}")
    print(format_top(output), file=sys.stderr)


def _drain(results: Any, expected: int, timeout_s: float) -> list[ShareResult]:
    deadline = time.monotonic() + timeout_s
    shares: list[ShareResult] = []
    while len(shares) < expected:
        try:
            shares.append(results.get(timeout=max(0.01, deadline - time.monotonic())))
        except queue.Empty:
            break
    return shares


def _end_survivors(watch: ProcessTreeWatch) -> None:
    # A router child (architect.mode=subprocess) outlives a launch that had to be killed. A process id is
    # only ended while it still runs the command seen under the launch, never one reused by someone else.
    for child in watch.children():
        try:
            command = Path(f"/proc/{child.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # gone already
        if command.strip() != child.command:
            continue
        try:
            os.kill(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            continue


def percentiles_ms(values: list[float]) -> dict[str, float | None]:
    """p50 / p95 / p99 / max of latencies given in seconds, in milliseconds (nearest rank)."""
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None, "n": 0}
    ordered = sorted(values)

    def rank(fraction: float) -> float:
        index = max(1, round(fraction * len(ordered)))
        return round(ordered[min(index, len(ordered)) - 1] * 1000, 2)

    return {"p50": rank(0.5), "p95": rank(0.95), "p99": rank(0.99), "max": rank(1.0), "n": len(ordered)}


def split_percentiles(first: list[float], steady: list[float]) -> dict[str, dict[str, float | None]]:
    """Percentiles of every unit, of each bot's first unit (the start-up burst) and of the units after it."""
    return {"all": percentiles_ms(first + steady), "burst": percentiles_ms(first), "steady": percentiles_ms(steady)}


def timeline(
    connect_at: list[tuple[float, float]], submit_at: list[tuple[float, float]], start: float
) -> list[dict[str, Any]]:
    """Per second from `start` (wall clock): how many units' data arrived, and the p50 / p99 of connect->data and
    submit->ack that ended in that second (in ms). Where a run's p99 comes from: its opening burst, the launch still
    writing units, a slow stretch, or its end."""
    seconds: dict[int, tuple[list[float], list[float]]] = {}
    for values, stamped in ((0, connect_at), (1, submit_at)):
        for at, latency in stamped:
            seconds.setdefault(max(0, int(at - start)), ([], []))[values].append(latency)
    rows = []
    for second in sorted(seconds):
        connect, submit = (percentiles_ms(values) for values in seconds[second])
        rows.append(
            {
                "second": second,
                "data": connect["n"],
                "connect_to_data_p50_ms": connect["p50"],
                "connect_to_data_p99_ms": connect["p99"],
                "submit_to_ack_p99_ms": submit["p99"],
            }
        )
    return rows


def opening_cpu(outcome: Outcome, first_data_at: list[float]) -> dict[str, Any] | None:
    """From the bots' start until 99 % of them had their first unit (lean bots): how long that took, each process
    group's CPU in it and how many cores they kept busy on average. An opening that keeps every core busy is
    bounded by its CPU, whatever order the work is done in."""
    timeline = outcome.opening_cpu
    if timeline is None or not first_data_at:
        return None
    ordered = sorted(first_data_at)
    end = ordered[max(1, round(0.99 * len(ordered))) - 1]
    seconds = end - outcome.bots_started_at
    cpu = {group: timeline.cpu_between(group, outcome.bots_started_at, end) for group in timeline.groups}
    if seconds <= 0 or any(v is None for v in cpu.values()):
        return None  # the samples do not cover the opening (it outlasted the timeline's window)
    total = sum(v for v in cpu.values() if v is not None)
    busiest = {group: timeline.busiest_between(group, outcome.bots_started_at, end) for group in timeline.groups}
    return {
        "to_p99_first_data_ms": round(1000 * seconds, 1),
        "cpu_ms": {group: round(1000 * v, 1) for group, v in cpu.items() if v is not None},
        # the busiest single process of each group: with cores to spare, the opening cannot be shorter than it
        "busiest_process_cpu_ms": {group: round(1000 * v, 1) for group, v in busiest.items() if v is not None},
        "cpu_ms_total": round(1000 * total, 1),
        "cores_busy": round(total / seconds, 2),
        # the shortest the opening could have taken with this CPU on this machine's cores, in any order
        "cpu_floor_ms": round(1000 * total / (os.cpu_count() or 1), 1),
        # when in the opening the cores were busy, and with what: the cores each group kept busy per slice
        f"cores_busy_per_{OPENING_SLICE_MS}ms": _slices(timeline, outcome.bots_started_at, end),
    }


OPENING_SLICE_MS = 25


def _slices(timeline: CpuTimeline, start: float, end: float) -> list[dict[str, float | None]]:
    rows: list[dict[str, float | None]] = []
    step = OPENING_SLICE_MS / 1000
    at = start
    while at < end:
        until = min(at + step, end)
        row: dict[str, float | None] = {"from_ms": round(1000 * (at - start))}
        for group in timeline.groups:
            cpu = timeline.cpu_between(group, at, until)
            row[group] = round(cpu / (until - at), 2) if cpu is not None else None
        rows.append(row)
        at = until
    return rows


def summarise(
    args: argparse.Namespace,
    outcome: Outcome,
    database_url: str | None,
    data_dir: Path,
    before: dict[str, Any],
) -> dict[str, Any]:
    """The JSON line: parameters, measurements, the database check, and `before` (code and machine state)."""
    shares = outcome.shares
    acked = [key for s in shares for key in s.acknowledged_keys]
    firsts = [s.first_hello for s in shares if s.first_hello is not None]
    lasts = [s.last_ack for s in shares if s.last_ack is not None]
    wall = (max(lasts) - min(firsts)) if firsts and lasts else None
    end_of_run = max(lasts) if lasts else float("inf")
    error_times = [t for s in shares for t in s.error_times]
    units_per_bot = [n for s in shares for n in s.units_per_bot]
    db = check_database(database_url, data_dir / "mephisto.db", acked)
    operator = outcome.watch.root
    routers = _routers(outcome.watch, outcome.router_watch)
    connect = split_percentiles(
        [v for s in shares for v in s.connect_to_data_first], [v for s in shares for v in s.connect_to_data_steady]
    )
    submit = split_percentiles(
        [v for s in shares for v in s.submit_to_ack_first], [v for s in shares for v in s.submit_to_ack_steady]
    )
    # The server: the launch process (operator, and router when in process) plus a router process of its own,
    # from the bots' start to the launch's exit (its start-up is in operator_cpu_s, not here).
    server_cpu = (operator.cpu_seconds if operator else 0.0) + sum(r.cpu_seconds for r in routers)
    server_cpu -= outcome.server_cpu_at_start
    loadgen_cpu = sum(s.cpu_seconds for s in shares)
    database_cpu = None
    if outcome.database_watch is not None:
        database_cpu = outcome.database_watch.total_cpu_seconds() - outcome.database_cpu_at_start
    return {
        "benchmark": "load_e2e",
        "workers": args.workers,
        "units": args.units,
        "db": args.db,
        "processes": args.processes,
        "router_mode": args.router_mode,
        "with_files": args.with_files,
        "think_seconds": args.think_seconds,
        "arrival_seconds": args.arrival_seconds,
        "client": args.client,
        "overrides": args.set,
        "exclude_qualification": args.exclude_qualification,
        "onboarding": args.onboarding,
        "gold_every": args.gold,
        "screening_units": args.screening,
        "server": before["server"],
        "launch_log_level": args.log_level,
        "wall_s": round(wall, 3) if wall is not None else None,
        "acknowledged": len(acked),
        "units_per_s": round(len(acked) / wall, 1) if wall else None,
        # The first unit of each bot (the start-up burst) and the others (steady state), both in `phases`.
        "connect_to_data_ms": connect["all"],
        "submit_to_ack_ms": submit["all"],
        "phases": {
            "connect_to_data_ms": {"burst": connect["burst"], "steady": connect["steady"]},
            "submit_to_ack_ms": {"burst": submit["burst"], "steady": submit["steady"]},
            # lean bots: the burst's connect_to_data split where each WebSocket opened (None for simulated bots)
            "open_page_ms": {"burst": percentiles_ms([v for s in shares for v in s.open_page_first])},
            "hello_to_data_ms": {"burst": percentiles_ms([v for s in shares for v in s.hello_to_data_first])},
            "opening": opening_cpu(outcome, [t for s in shares for t in s.first_data_at]),
        },
        # lean bots: per second since the first hello (empty for simulated bots)
        "timeline": timeline(
            [v for s in shares for v in s.connect_to_data_at],
            [v for s in shares for v in s.submit_to_ack_at],
            min(firsts) if firsts else 0.0,
        ),
        "resends": sum(s.resends for s in shares),
        "errors": sum(1 for t in error_times if t <= end_of_run),
        "errors_after_last_ack": sum(1 for t in error_times if t > end_of_run),
        "refusals": sum(s.refusals for s in shares),
        "bots_ended_on_refusal": sum(s.finished_on_refusal for s in shares),
        "bots_stopped_after_launch_exit": sum(s.stopped_by_parent for s in shares),
        "bot_crashes": [c for s in shares for c in s.crashes][:5],
        "units_per_bot": {
            "min": min(units_per_bot),
            "median": statistics.median(units_per_bot),
            "max": max(units_per_bot),
        },
        "operator_peak_rss_mib": round(operator.peak_rss_kib / 1024, 1) if operator else None,
        "operator_cpu_s": round(operator.cpu_seconds, 2) if operator else None,
        "router_peak_rss_mib": round(max(r.peak_rss_kib for r in routers) / 1024, 1) if routers else None,
        "router_cpu_s": round(sum(r.cpu_seconds for r in routers), 2) if routers else None,
        "server_cpu_s": round(server_cpu, 2),
        "server_cpu_ms_per_unit": round(1000 * server_cpu / len(acked), 3) if acked else None,
        # Server capacity: units acknowledged per second of server CPU (one core fully busy for one second).
        "units_per_server_core_s": round(len(acked) / server_cpu, 1) if server_cpu else None,
        # From the load generators' start barrier to their end (their imports and set-up not included).
        "loadgen_cpu_s": round(loadgen_cpu, 2),
        "loadgen_cpu_ms_per_unit": round(1000 * loadgen_cpu / len(acked), 3) if acked else None,
        # --db postgresql: its server's processes over the same span (SQLite's work is in the operator's CPU)
        "database_server_cpu_s": round(database_cpu, 2) if database_cpu is not None else None,
        "database_server_cpu_ms_per_unit": (
            round(1000 * database_cpu / len(acked), 3) if database_cpu is not None and acked else None
        ),
        # --db postgresql: write-ahead log per unit, a measure of its write work that the machine's load does not move
        "database_wal_bytes_per_unit": (
            round(outcome.database_wal_bytes / len(acked)) if outcome.database_wal_bytes is not None and acked else None
        ),
        # --db sqlite: what the operator wrote to storage per unit (the database's log, the checkpoints that copy
        # it into the database file, and the few log lines), as of its last sample (every 0.25 s) before it exited
        "database_bytes_written_per_unit": _sqlite_written_per_unit(outcome, args.db, len(acked)),
        "launch_s": round(outcome.launch_s, 2),
        "launch_exit": outcome.launch_exit,
        "db_matches_acks": db.matches,
        "db_completed_agents": db.completed_agents,
        "db_missing_acked": db.missing_from_db,
        "db_unacknowledged": db.not_acknowledged,
        "duplicate_acks": db.duplicate_acks,
        "db_unit_statuses": db.unit_statuses,
        "code": before["code"],
        "machine": machine_info(before["loadavg_1m"]),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Taken before the run: other engineers may commit, or load the machine, while it runs.
    mephisto = [str(args.mephisto)] if args.mephisto is not None else mephisto_command()
    before = {"code": code_version(), "server": server_info(mephisto[0]), "loadavg_1m": loadavg_1m()}
    with ExitStack() as stack:
        # Each worker: one WebSocket at the bot, one at the router, plus a page fetch while connecting.
        raise_open_file_limit(3 * args.workers + 256)
        workdir = temporary_workdir(stack, "load_e2e", args.keep)
        data_dir = workdir / "data"
        env = isolated_env(workdir, MEPHISTO_LOG_LEVEL=args.log_level)
        database_url = None
        database_pid = None
        relay = None
        if args.db == "postgresql":
            database_url, database_pid = throwaway_postgres(stack)
            env["MEPHISTO_DATABASE_URL"] = database_url
            if args.db_one_way_ms is not None:
                relay = start_relay(stack, database_url, args.db_one_way_ms)
                env["MEPHISTO_DATABASE_URL"] = relay.url  # the server only; the checks read the database directly
        outcome = run(args, workdir, env, database_pid, database_url)
        summary = summarise(args, outcome, database_url, data_dir, before)
        if relay is not None:
            summary["db_one_way_ms"] = args.db_one_way_ms
            summary["db_round_trip_ms"] = relay.round_trip_ms
            # The relay's CPU for the whole launch (set-up included): it shares the cores with everything measured.
            summary["db_relay_cpu_s"] = round(relay.cpu_seconds(), 2)
    print(json.dumps(summary))
    return 0 if summary["db_matches_acks"] and not summary["bot_crashes"] else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (
        BenchmarkAborted,
        LaunchError,
        MephistoMissing,
        ProfilerMissing,
        TaskFolderError,
        PostgresUnavailable,
        PostgresStartError,
    ) as exc:
        print(f"load_e2e: aborted: {exc}", file=sys.stderr)
        sys.exit(2)
