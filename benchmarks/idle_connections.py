"""How many idle connected workers one router holds, and how much memory each connection costs it.

How to run::

    python benchmarks/idle_connections.py                      # 5,000 pages, router in its own process
    python benchmarks/idle_connections.py --workers 1000 --idle-seconds 10
    python benchmarks/idle_connections.py --router-mode in_process

What it does: makes a static task with one data row per worker (`--units`, default `--workers`), starts
`mephisto launch task.toml architect.port=0 architect.mode=subprocess --no-panel` (the local architect's router
as a child process: `python -m mephisto_core.router`), reads the router's open-file limit from /proc and stops
with a message when it is below workers + a margin (a router inherits the limit of the shell that started
`mephisto launch`; `--raise-launch-limit` raises the soft limit to the hard one first). Then `--processes`
load-generator processes (benchmarks/_idle_gen.py) open the pages: GET the task page, WebSocket, `hello`
with a worker id, wait for `assigned`. Every page then holds its unit without submitting and sends a
`heartbeat` every 5 s, as mephisto-task.js does. After `--idle-seconds` (default 25: the router sends its
keepalive ping every 20 s, so every socket has answered one) each page sends one more heartbeat; the pages
that are still open and answered it are `connected_ok`.

Memory is VmRSS of the router process from /proc before the pages connect and after the idle period;
`per_connection_kib` = the difference / pages connected. With `--router-mode in_process` the router is the
`mephisto launch` process itself, so its number includes the operator's per-worker state.

Prints one JSON line. Exits 1 when not every page ended connected with a unit, 2 when the run could not be
made (limits, launch failure, timeout). Target (issue 7): 5,000 idle workers in < 600 MB of router memory.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import queue
import resource
import signal
import sys
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import Any

from _db_readonly import ReadOnlyUnits
from _idle_gen import CheckReport, ConnectReport, IdleSpec, generator_main
from _launch import LaunchError, LaunchProcess
from _proc_mem import Memory, cpu_seconds, memory, nofile_limits, open_descriptors
from _proc_watch import ProcessTreeWatch
from _run_info import MephistoMissing, code_version, loadavg_1m, machine_info, mephisto_command
from _task_folder import TaskFolderError, make_task_folder
from _workdir import isolated_env, launch_command, split, temporary_workdir

LINK_TIMEOUT_S = 60.0
START_TIMEOUT_S = 120.0  # generators importing mephisto_core and websockets
SETTLE_S = 1.0  # after the link: let the router finish starting before "before" is read
ROUTER_FD_MARGIN = 256  # the channel, the listening socket, logs, page fetches in flight
TARGET_WORKERS = 5000
TARGET_ROUTER_MIB = 600


class BenchmarkAborted(RuntimeError):
    """The run could not be measured; the message says why and what was seen."""


@dataclass
class Measured:
    """What the parent saw besides the generators' reports."""

    router_pid: int = 0
    router_nofile: tuple[int | None, int | None] = (None, None)
    launch_nofile: tuple[int | None, int | None] = (None, None)
    router_before: Memory | None = None
    operator_before: Memory | None = None
    router_after_connect: Memory | None = None
    router_after: Memory | None = None
    operator_after: Memory | None = None
    router_sockets: int | None = None
    router_cpu_idle_s: float | None = None  # CPU the router used while every page sat idle
    unit_statuses: dict[str, int] = field(default_factory=dict)
    connects: list[ConnectReport] = field(default_factory=list)
    checks: list[CheckReport] = field(default_factory=list)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=TARGET_WORKERS, help="idle pages to open (default 5000)")
    parser.add_argument("--units", type=int, default=None, help="data rows (default: --workers, one unit per page)")
    parser.add_argument("--processes", type=int, default=2, help="load-generator processes (default 2)")
    parser.add_argument(
        "--idle-seconds", type=float, default=25.0, help="how long the pages sit connected before the check"
    )
    parser.add_argument(
        "--connect-concurrency",
        type=int,
        default=50,
        help="pages of one generator connecting at the same moment (default 50)",
    )
    parser.add_argument(
        "--router-mode",
        choices=("subprocess", "in_process"),
        default="subprocess",
        help="architect.mode of the local architect (default subprocess: the router's memory alone)",
    )
    parser.add_argument(
        "--raise-launch-limit",
        action="store_true",
        help="raise this process's soft open-file limit to the hard one, so the launch and router inherit it",
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="abort when the pages are not all connected")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and print where it is")
    args = parser.parse_args(argv)
    if args.units is None:
        args.units = args.workers
    for name in ("workers", "units", "processes", "connect_concurrency"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.processes > args.workers:
        parser.error(f"--processes ({args.processes}) must not exceed --workers ({args.workers})")
    if args.idle_seconds < 0 or args.timeout <= 0:
        parser.error("--idle-seconds must not be negative and --timeout must be positive")
    return args


def find_router(watch: ProcessTreeWatch, launch_pid: int, mode: str, timeout_s: float = 10.0) -> int:
    """The router's process id: a `mephisto_core.router` child of the launch, or the launch itself in process."""
    if mode == "in_process":
        return launch_pid
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        watch.sample_once()
        routers = [c.pid for c in watch.children() if "mephisto_core.router" in c.command]
        if routers:
            return routers[0]
        time.sleep(0.1)
    raise BenchmarkAborted(f"no `python -m mephisto_core.router` child of the launch (pid {launch_pid}) was found")


def check_router_limit(limits: tuple[int | None, int | None], needed: int) -> None:
    """Fail with what to do when the router's soft open-file limit cannot hold every page."""
    soft, hard = limits
    if soft is not None and soft < needed:
        raise BenchmarkAborted(
            f"the router may open {soft} files (soft limit; hard {hard if hard is not None else 'unlimited'}), "
            f"but {needed} are needed for this many workers. The router inherits the limit of the shell that "
            "started `mephisto launch`: run `ulimit -Sn <n>` first, or pass --raise-launch-limit, or use fewer "
            "--workers"
        )


def run(args: argparse.Namespace, workdir: Path, env: dict[str, str], measured: Measured) -> ProcessTreeWatch:
    """Launch, open and idle the pages, check them; fill `measured`. Returns the launch's process-tree watch."""
    mephisto = mephisto_command()
    task_toml = make_task_folder(workdir, args.units, with_files=False, mephisto=mephisto, env=env)
    command = launch_command(mephisto, task_toml, f"architect.mode={args.router_mode}")
    ctx = multiprocessing.get_context("spawn")
    launch = LaunchProcess(command, env, workdir / "launch.stderr.log")
    watch = ProcessTreeWatch(launch.pid)
    watch.start()
    start = ctx.Barrier(args.processes + 1)
    check, stop = ctx.Event(), ctx.Event()
    results: Any = ctx.Queue()
    generators: list[SpawnProcess] = []
    units = ReadOnlyUnits(workdir / "data" / "mephisto.db")
    try:
        base_url = launch.worker_base_url(LINK_TIMEOUT_S)
        measured.router_pid = find_router(watch, launch.pid, args.router_mode)
        measured.router_nofile = nofile_limits(measured.router_pid)
        measured.launch_nofile = nofile_limits(launch.pid)
        check_router_limit(measured.router_nofile, args.workers + ROUTER_FD_MARGIN)
        time.sleep(SETTLE_S)
        measured.router_before = memory(measured.router_pid)
        measured.operator_before = memory(launch.pid)

        for index, (first, count) in enumerate(split(args.workers, args.processes)):
            spec = IdleSpec(
                index=index,
                base_url=base_url,
                first=first,
                count=count,
                connect_concurrency=args.connect_concurrency,
            )
            process = ctx.Process(
                target=generator_main, args=(spec, start, check, stop, results), name=f"idle-gen-{index}"
            )
            process.start()
            generators.append(process)
        try:
            start.wait(timeout=START_TIMEOUT_S)
        except threading.BrokenBarrierError:
            failures = [r.failure for r in _collect(results, ConnectReport, len(generators), 5.0, generators, launch)]
            raise BenchmarkAborted(
                "the load generators did not start: "
                + ("; ".join(f for f in failures if f) or f"not ready in {START_TIMEOUT_S} s")
            ) from None

        measured.connects = _collect(results, ConnectReport, len(generators), args.timeout, generators, launch)
        measured.router_after_connect = memory(measured.router_pid)
        cpu_before_idle = cpu_seconds(measured.router_pid)
        time.sleep(args.idle_seconds)
        measured.router_cpu_idle_s = cpu_seconds(measured.router_pid) - cpu_before_idle
        if launch.proc.poll() is not None:
            raise BenchmarkAborted(f"`mephisto launch` exited ({launch.proc.returncode}) during the idle period")
        measured.router_after = memory(measured.router_pid)
        measured.operator_after = memory(launch.pid)
        measured.router_sockets = open_descriptors(measured.router_pid)[1]
        measured.unit_statuses = units.counts() or {}
        check.set()
        measured.checks = _collect(results, CheckReport, len(generators), 60.0, generators, launch)
        return watch
    finally:
        units.close()
        stop.set()
        for process in generators:
            process.join(timeout=20)
            if process.is_alive():
                process.kill()
                process.join()
        launch.stop()
        watch.stop()
        _end_router(watch, measured.router_pid, launch.pid)


def _collect(
    results: Any,
    kind: type[Any],
    expected: int,
    timeout_s: float,
    generators: list[SpawnProcess],
    launch: LaunchProcess,
) -> list[Any]:
    """`expected` reports of type `kind`, failing early when a generator or the launch dies."""
    deadline = time.monotonic() + timeout_s
    reports: list[Any] = []
    while len(reports) < expected:
        if time.monotonic() >= deadline:
            raise BenchmarkAborted(
                f"only {len(reports)} of {expected} load generators reported ({kind.__name__}) within "
                f"{timeout_s:.0f} s; raise --timeout or lower --workers"
            )
        try:
            report = results.get(timeout=0.5)
        except queue.Empty:
            dead = [p.name for p in generators if not p.is_alive() and p.exitcode != 0]
            if dead:
                raise BenchmarkAborted(f"load generator(s) {', '.join(dead)} died; see their messages above") from None
            if launch.proc.poll() is not None:
                raise BenchmarkAborted(
                    f"`mephisto launch` exited ({launch.proc.returncode}) while pages connected.\n{launch.output()}"
                ) from None
            continue
        if isinstance(report, ConnectReport) and report.failure:
            raise BenchmarkAborted(f"load generator {report.index}: {report.failure}")
        if isinstance(report, kind):
            reports.append(report)
    return reports


def _end_router(watch: ProcessTreeWatch, router_pid: int, launch_pid: int) -> None:
    # A router child outlives a launch that had to be killed. Its pid is ended only while it still runs the
    # command seen under the launch, never a pid reused by someone else.
    if not router_pid or router_pid == launch_pid:
        return
    seen = watch.samples.get(router_pid)
    try:
        command = Path(f"/proc/{router_pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return  # gone already
    if seen is not None and command.strip() == seen.command:
        try:
            os.kill(router_pid, signal.SIGKILL)
        except ProcessLookupError:
            return


def summarise(
    args: argparse.Namespace, measured: Measured, watch: ProcessTreeWatch, before: dict[str, Any]
) -> dict[str, Any]:
    """The JSON line."""
    connects, checks = measured.connects, measured.checks
    opened = sum(r.opened for r in connects)
    answers: dict[str, int] = {}
    failures: dict[str, int] = {}
    for r in connects:
        for key, n in r.answers.items():
            answers[key] = answers.get(key, 0) + n
        for key, n in r.failures.items():
            failures[key] = failures.get(key, 0) + n
    connected_ok = sum(c.answered_check for c in checks)
    assert measured.router_before and measured.router_after and measured.operator_after
    assert measured.router_after_connect and measured.operator_before
    delta_kib = measured.router_after.rss_kib - measured.router_before.rss_kib
    router = watch.samples.get(measured.router_pid)
    operator = watch.root
    separate_router = measured.router_pid != (operator.pid if operator else None)
    return {
        "benchmark": "idle_connections",
        "workers": args.workers,
        "units": args.units,
        "processes": args.processes,
        "router_mode": args.router_mode,
        "idle_seconds": args.idle_seconds,
        "connect_concurrency_per_process": args.connect_concurrency,
        "idle_pages_hold": "one assigned unit each (hello answered with assigned, nothing submitted)",
        "opened": opened,
        "hello_answers": answers,
        "connect_failures": failures,
        "first_connect_failure": next((r.first_failure for r in connects if r.first_failure), None),
        "connected_ok": connected_ok,
        "seconds_to_connect_all": round(max(r.done_at for r in connects) - min(r.started_at for r in connects), 2),
        "heartbeats_sent": sum(c.heartbeats_sent for c in checks),
        "heartbeats_answered": sum(c.heartbeats_answered for c in checks),
        "heartbeat_timeouts": sum(c.heartbeat_timeouts for c in checks),
        "closed_by_server": sum(c.closed_by_server for c in checks),
        "first_close": next((c.first_close for c in checks if c.first_close), None),
        "router_rss_mib_before": measured.router_before.rss_mib,
        "router_rss_mib_after_connect": measured.router_after_connect.rss_mib,
        "router_rss_mib_after": measured.router_after.rss_mib,
        "router_hwm_mib": round(router.peak_rss_kib / 1024, 1) if router else measured.router_after.hwm_mib,
        "per_connection_kib": round(delta_kib / opened, 1) if opened else None,
        "router_open_sockets_after": measured.router_sockets,
        "operator_rss_mib_before": measured.operator_before.rss_mib,
        "operator_rss_mib": measured.operator_after.rss_mib,
        "operator_hwm_mib": round(operator.peak_rss_kib / 1024, 1) if operator else None,
        "router_cpu_s": round(router.cpu_seconds, 2) if router and separate_router else None,
        "operator_cpu_s": round(operator.cpu_seconds, 2) if operator else None,
        # Heartbeats (one per page per 5 s) and keepalive pings: what holding idle pages costs the router.
        "router_cpu_share_while_idle": round(measured.router_cpu_idle_s / args.idle_seconds, 3)
        if measured.router_cpu_idle_s is not None and args.idle_seconds
        else None,
        "loadgen_cpu_s": round(sum(c.cpu_seconds for c in checks), 2),
        "db_unit_statuses_after_idle": measured.unit_statuses,
        "nofile": {
            "router_soft": measured.router_nofile[0],
            "router_hard": measured.router_nofile[1],
            "launch_soft": measured.launch_nofile[0],
            "generator_soft": min(r.nofile_soft for r in connects),
            "raised_for_launch": args.raise_launch_limit,
        },
        "target": {
            "workers": TARGET_WORKERS,
            "router_rss_mib_below": TARGET_ROUTER_MIB,
            "met": connected_ok >= TARGET_WORKERS and measured.router_after.rss_mib < TARGET_ROUTER_MIB,
        },
        "code": before["code"],
        "machine": machine_info(before["loadavg_1m"]),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    before = {"code": code_version(), "loadavg_1m": loadavg_1m()}
    if args.raise_launch_limit:
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with ExitStack() as stack:
        workdir = temporary_workdir(stack, "idle_connections", args.keep)
        env = isolated_env(workdir)
        measured = Measured()
        watch = run(args, workdir, env, measured)
        summary = summarise(args, measured, watch, before)
    print(json.dumps(summary))
    return 0 if summary["connected_ok"] == args.workers else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (BenchmarkAborted, LaunchError, MephistoMissing, TaskFolderError) as exc:
        print(f"idle_connections: aborted: {exc}", file=sys.stderr)
        sys.exit(2)
