"""How fast `mephisto launch` of a static task with 100,000 data rows serves its first worker and offers all units.

How to run::

    python benchmarks/launch_100k.py                 # 100,000 rows, SQLite, mock provider
    python benchmarks/launch_100k.py --rows 20000 --keep

What it does: makes a static task (benchmarks/_task_folder.py: `mephisto init --template static`, then a
data.csv of `--rows` rows, one unit each) in a temporary data dir, and starts `mephisto launch task.toml
architect.port=0 --no-panel` (SQLite, mock provider, router in the launch process). Times are measured from
just before the process is started:

- `link_printed_s`: the launch printed its `Worker link:` line;
- `first_page_200_s`: a plain HTTP GET of that link (polled every 10 ms) answered 200 with the task page;
- `first_assigned_s` / `first_submit_ack_s`: one simulated worker (the same bot load_e2e.py uses) said
  `hello`, got a unit, and had its submission acknowledged: the link really serves work, not only HTML;
- `all_created_s` / `all_offered_s`: a read-only connection to the launch's SQLite file (polled every
  `--poll-seconds`) counts every unit created, then every unit offered (status `launched`, or further on:
  the probe's unit is `completed`). The launcher prints no line for this, so the database is the witness;
  `poll_query_ms` says what each poll cost (it runs on the same two cores as the launch).

Then the launch is stopped as a user would, with one SIGINT (stop handing out units, withdraw the offered
ones, exit); `stop_s` is how long that took (a second SIGINT follows after 60 s, and is reported).
`operator_peak_rss_mib` is the launch process's VmHWM. Prints one JSON line. Targets (issue 7): first
servable link < 1 s, all 100,000 units launched < 10 s. Exits 2 when the run could not be measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _db_readonly import ReadOnlyUnits
from _launch import LaunchError, LaunchProcess
from _proc_watch import ProcessTreeWatch
from _run_info import MephistoMissing, code_version, loadavg_1m, machine_info, mephisto_command
from _task_folder import TaskFolderError, make_task_folder
from _workdir import isolated_env, launch_command, temporary_workdir

from mephisto_core.data_model import UnitStatus
from mephisto_core.operations.run.simulate import AnswerFn, SimulatedWorker

LINK_TIMEOUT_S = 60.0
PAGE_POLL_S = 0.01
GRACEFUL_STOP_S = 60.0
KILL_AFTER_S = 10.0
TARGET_LINK_S = 1.0
TARGET_ALL_LAUNCHED_S = 10.0
# Units a worker can get, or that got past being offered; `created` and `expired` are not offered.
OFFERED = frozenset(s.value for s in UnitStatus if s not in (UnitStatus.CREATED, UnitStatus.EXPIRED))


class BenchmarkAborted(RuntimeError):
    """The run could not be measured; the message says why and what was seen."""


@dataclass
class UnitPoller:
    """A thread that counts the launch's units by status until every one is offered, or `stop()`."""

    units: ReadOnlyUnits
    expected: int
    t0: float
    interval_s: float
    all_created_s: float | None = None
    all_offered_s: float | None = None
    last_counts: dict[str, int] = field(default_factory=dict)
    query_ms: list[float] = field(default_factory=list)
    error: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="unit-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def wait(self, timeout_s: float) -> bool:
        """True once every unit is offered; False after `timeout_s` (or when the poller failed)."""
        assert self._thread is not None
        self._thread.join(timeout_s)
        return self.all_offered_s is not None

    def _loop(self) -> None:
        try:
            self._poll()
        finally:
            self.units.close()  # a sqlite3 connection is closed by the thread that made it

    def _poll(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                counts = self.units.counts()
            except Exception as exc:  # reported in the JSON line; the run still stops cleanly
                self.error = f"{type(exc).__name__}: {exc}"
                return
            now = time.monotonic()
            if counts is not None:
                self.query_ms.append((now - started) * 1000)
                self.last_counts = counts
                if self.all_created_s is None and sum(counts.values()) >= self.expected:
                    self.all_created_s = now - self.t0
                if sum(n for status, n in counts.items() if status in OFFERED) >= self.expected:
                    self.all_offered_s = now - self.t0
                    return
            self._stop.wait(self.interval_s)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="data rows, one unit each (default 100000)")
    parser.add_argument(
        "--poll-seconds", type=float, default=0.25, help="how often the database is counted (default 0.25)"
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="abort when not all units are offered by then")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and print where it is")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.poll_seconds <= 0 or args.timeout <= 0:
        parser.error("--rows must be at least 1, --poll-seconds and --timeout positive")
    return args


def first_page(url: str, deadline: float) -> tuple[float, int]:
    """GET `url` until it answers 200; (monotonic time of that answer, body bytes)."""
    last_error = "no attempt"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                body = response.read()
                if response.status == 200:
                    return time.monotonic(), len(body)
                last_error = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError) as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        time.sleep(PAGE_POLL_S)
    raise BenchmarkAborted(f"GET {url} did not answer 200 in time (last: {last_error})")


def answer_function(task_toml: Path) -> AnswerFn:
    """The blueprint's simulated answer for this task (built before the clock starts: it imports the plugin)."""
    from mephisto_core.plugins import get_registry
    from mephisto_core.task_config import load_task_config

    config = load_task_config(task_toml)
    blueprint_cls = get_registry().get("blueprint", config.blueprint_type)
    answer: AnswerFn = blueprint_cls(config.blueprint_args, config.task, config.task_dir).simulate_answer
    return answer


def probe_one_unit(base_url: str, answer: AnswerFn) -> tuple[float, float]:
    """One bot does one unit; (monotonic time it was assigned, monotonic time its submission was acknowledged)."""
    bot = SimulatedWorker(base_url, "launch-probe", answer, max_units=1, fetch_page=True)
    started = time.monotonic()
    report = asyncio.run(bot.run())
    done = time.monotonic()
    if report.submitted != 1 or not report.connect_to_data:
        raise BenchmarkAborted(f"the probe worker did no unit (refusals {report.refusals}, errors {report.errors})")
    return started + report.connect_to_data[0], done


def stop_launch(launch: LaunchProcess) -> tuple[float, int | None, bool]:
    """One SIGINT, as a user's Ctrl-C; (seconds to exit, exit code, whether a second SIGINT was needed)."""
    started = time.monotonic()
    launch.proc.send_signal(signal.SIGINT)
    code = launch.wait(GRACEFUL_STOP_S)
    escalated = code is None
    if escalated:
        launch.proc.send_signal(signal.SIGINT)
        code = launch.wait(KILL_AFTER_S)
        if code is None:
            launch.proc.kill()
            launch.proc.wait()
    return time.monotonic() - started, code, escalated


def run(args: argparse.Namespace, workdir: Path, env: dict[str, str]) -> dict[str, Any]:
    """Launch, time the link, the first unit and the offer of every unit, then stop; the measured numbers."""
    mephisto = mephisto_command()
    task_toml = make_task_folder(workdir, args.rows, with_files=False, mephisto=mephisto, env=env)
    command = launch_command(mephisto, task_toml)
    answer = answer_function(task_toml)
    t0 = time.monotonic()
    launch = LaunchProcess(command, env, workdir / "launch.stderr.log")
    watch = ProcessTreeWatch(launch.pid, interval_s=0.1)
    watch.start()
    poller = UnitPoller(ReadOnlyUnits(workdir / "data" / "mephisto.db"), args.rows, t0, args.poll_seconds)
    poller.start()
    stopped: tuple[float, int | None, bool] | None = None
    try:
        base_url = launch.worker_base_url(LINK_TIMEOUT_S)
        link_s = time.monotonic() - t0
        page_at, page_bytes = first_page(base_url + "?worker_id=launch-page-check", t0 + LINK_TIMEOUT_S)
        assigned_at, acked_at = probe_one_unit(base_url, answer)
        if not poller.wait(max(0.0, t0 + args.timeout - time.monotonic())):
            raise BenchmarkAborted(
                f"not every unit was offered within --timeout {args.timeout:.0f} s (last counts "
                f"{poller.last_counts}, poller error {poller.error}).\n{launch.output()}"
            )
        if launch.proc.poll() is not None:
            raise BenchmarkAborted(f"`mephisto launch` exited ({launch.proc.returncode}) early.\n{launch.output()}")
        watch.sample_once()
        stopped = stop_launch(launch)
    finally:
        poller.stop()
        if stopped is None:
            launch.stop()
        launch.close()
        watch.stop()
    assert stopped is not None  # set on the only path that does not raise
    operator = watch.root
    stop_s, stop_code, escalated = stopped
    queries = poller.query_ms
    return {
        "link_printed_s": round(link_s, 3),
        "first_page_200_s": round(page_at - t0, 3),
        "first_page_bytes": page_bytes,
        "first_assigned_s": round(assigned_at - t0, 3),
        "first_submit_ack_s": round(acked_at - t0, 3),
        "all_created_s": round(poller.all_created_s, 3) if poller.all_created_s is not None else None,
        "all_offered_s": round(poller.all_offered_s, 3) if poller.all_offered_s is not None else None,
        "unit_statuses_when_all_offered": poller.last_counts,
        "poll_seconds": args.poll_seconds,
        "polls": len(queries),
        "poll_query_ms": {
            "median": round(statistics.median(queries), 2) if queries else None,
            "max": round(max(queries), 2) if queries else None,
        },
        "operator_peak_rss_mib": round(operator.peak_rss_kib / 1024, 1) if operator else None,
        "operator_cpu_s": round(operator.cpu_seconds, 2) if operator else None,
        "stop_s": round(stop_s, 2),
        "stop_exit_code": stop_code,
        "stop_needed_second_sigint": escalated,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    before: dict[str, Any] = {"code": code_version(), "loadavg_1m": loadavg_1m()}
    with ExitStack() as stack:
        workdir = temporary_workdir(stack, "launch_100k", args.keep)
        env = isolated_env(workdir)
        measured = run(args, workdir, env)
    summary = {
        "benchmark": "launch_100k",
        "rows": args.rows,
        "db": "sqlite",
        "provider": "mock",
        **measured,
        "target": {
            "first_servable_s_below": TARGET_LINK_S,
            "all_launched_s_below": TARGET_ALL_LAUNCHED_S,
            "met": measured["first_page_200_s"] < TARGET_LINK_S
            and measured["all_offered_s"] is not None
            and measured["all_offered_s"] < TARGET_ALL_LAUNCHED_S,
        },
        "code": before["code"],
        "machine": machine_info(before["loadavg_1m"]),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (BenchmarkAborted, LaunchError, MephistoMissing, TaskFolderError) as exc:
        print(f"launch_100k: aborted: {exc}", file=sys.stderr)
        sys.exit(2)
