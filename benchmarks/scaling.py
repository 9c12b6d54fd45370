"""Throughput and latency against the number of concurrent workers: load_e2e.py at 10, 100 and 1,000 workers.

How to run::

    python benchmarks/scaling.py                           # SQLite, 10 / 100 / 1000 workers, plot to docs/
    python benchmarks/scaling.py --workers 10,100 --seconds 10 --plot /tmp/scaling.png
    python benchmarks/scaling.py --db postgresql --no-plot

Runs `benchmarks/load_e2e.py --workers N --units U` as a subprocess for each N (zero think time, closed loop:
see docs/performance.md), one after the other. U is chosen so that each run serves for about `--seconds`
(default 15): the expected units/s at N (from earlier runs on the 2-core reference machine, EXPECTED_RATE)
times the seconds; `--units-per-second` overrides that guess. Collects units/s, submit→ack p50 and
p99 and connect→data p99 of every run and prints one JSON line with the series (each point keeps the
load average its run started with). Then writes docs/performance-scaling.png (units/s vs workers and
submit→ack latency vs workers, log x axes) with matplotlib, which only the `bench` nox session installs:
without it the script stops before running anything, unless `--no-plot`.

Exits 1 when a run failed (the series keeps its error and the other points), 2 when nothing could be run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _run_info import ROOT, code_version, loadavg_1m, machine_info

LOAD_E2E = Path(__file__).resolve().parent / "load_e2e.py"
DEFAULT_PLOT = ROOT / "docs" / "performance-scaling.png"
# Units/s measured at commit 6dd368d on the 2-core reference machine (benchmarks/results/hotpath-*.jsonl),
# rounded down: only used to size each run, never reported as a result.
EXPECTED_RATE = {10: 700.0, 100: 1400.0, 1000: 1100.0}
MIN_UNITS = 500


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="10,100,1000", help="comma-separated worker counts (default 10,100,1000)")
    parser.add_argument("--seconds", type=float, default=15.0, help="how long each run should serve (default 15)")
    parser.add_argument(
        "--units-per-second",
        type=float,
        default=None,
        help="expected throughput used to size every run (default: EXPECTED_RATE per worker count)",
    )
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite", help="database (default sqlite)")
    parser.add_argument("--processes", type=int, default=2, help="load-generator processes per run (default 2)")
    parser.add_argument("--timeout", type=float, default=300.0, help="--timeout of each load_e2e run (default 300)")
    parser.add_argument(
        "--wait-load",
        type=float,
        default=None,
        metavar="L",
        help="before each run, wait (up to --wait-max s) for a 1-minute load average below L",
    )
    parser.add_argument("--wait-max", type=float, default=300.0, help="longest wait for --wait-load (default 300)")
    parser.add_argument("--plot", type=Path, default=DEFAULT_PLOT, help=f"PNG to write (default {DEFAULT_PLOT})")
    parser.add_argument("--no-plot", action="store_true", help="do not draw the plot (no matplotlib needed)")
    parser.add_argument(
        "--replot",
        type=Path,
        default=None,
        metavar="JSONL",
        help="run nothing: draw --plot from the last scaling line of JSONL (e.g. benchmarks/results/scaling-*.jsonl)",
    )
    args = parser.parse_args(argv)
    try:
        args.worker_counts = sorted({int(part) for part in args.workers.split(",") if part.strip()})
    except ValueError:
        parser.error(f"--workers must be comma-separated integers, got {args.workers!r}")
    if not args.worker_counts or min(args.worker_counts) < 1:
        parser.error("--workers needs at least one count, each at least 1")
    if args.seconds <= 0 or args.timeout <= 0:
        parser.error("--seconds and --timeout must be positive")
    return args


def units_for(workers: int, seconds: float, rate: float | None) -> int:
    """Data rows for a run at `workers` that serves for about `seconds`."""
    if rate is None:
        # Worker counts between the measured ones take the rate of the nearest measured count.
        nearest = min(EXPECTED_RATE, key=lambda n: abs(n - workers))
        rate = EXPECTED_RATE[nearest]
    return max(MIN_UNITS, workers, round(rate * seconds / 100) * 100)


def wait_for_quiet(below: float, longest_s: float) -> None:
    """Wait until the 1-minute load average is below `below`, or `longest_s` passed (then run anyway)."""
    deadline = time.monotonic() + longest_s
    while loadavg_1m() >= below and time.monotonic() < deadline:
        time.sleep(5)


def run_point(args: argparse.Namespace, workers: int, units: int) -> dict[str, Any]:
    """One load_e2e.py run; its JSON line, or a dict with `error` when it failed."""
    command = [
        sys.executable,
        str(LOAD_E2E),
        "--workers",
        str(workers),
        "--units",
        str(units),
        "--db",
        args.db,
        "--processes",
        str(min(args.processes, workers)),
        "--timeout",
        str(args.timeout),
    ]
    if args.wait_load is not None:
        wait_for_quiet(args.wait_load, args.wait_max)
    print(f"scaling: {workers} workers, {units} units ...", file=sys.stderr, flush=True)
    started = time.monotonic()
    # stderr goes straight through: load_e2e's progress and abort messages stay visible.
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {
            "workers": workers,
            "units": units,
            "error": f"load_e2e.py exited {done.returncode} without a result line",
            "seconds": round(time.monotonic() - started, 1),
        }
    result: dict[str, Any] = json.loads(lines[-1])
    if done.returncode != 0:
        result["error"] = f"load_e2e.py exited {done.returncode} (db_matches_acks {result.get('db_matches_acks')})"
    return result


def point_of(result: dict[str, Any]) -> dict[str, Any]:
    """The fields of one run that the series keeps."""
    if "wall_s" not in result:
        return result
    return {
        "workers": result["workers"],
        "units": result["units"],
        "wall_s": result["wall_s"],
        "units_per_s": result["units_per_s"],
        "submit_to_ack_p50_ms": result["submit_to_ack_ms"]["p50"],
        "submit_to_ack_p99_ms": result["submit_to_ack_ms"]["p99"],
        "connect_to_data_p99_ms": result["connect_to_data_ms"]["p99"],
        "errors": result["errors"],
        "db_matches_acks": result["db_matches_acks"],
        "operator_peak_rss_mib": result["operator_peak_rss_mib"],
        "operator_cpu_s": result["operator_cpu_s"],
        "loadavg_1m_before": result["machine"]["loadavg_1m_before"],
        **({"error": result["error"]} if "error" in result else {}),
    }


def require_matplotlib() -> None:
    """Fail before the runs (which take minutes) when the plot could not be drawn after them."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PlotUnavailable(
            "matplotlib is not installed: `pip install matplotlib`, or run `./dev bench -- scaling` "
            "(the bench session installs it), or pass --no-plot"
        ) from None


def plot(series: list[dict[str, Any]], db: str, path: Path, note: str) -> None:
    """units/s vs workers and submit→ack p50/p99 vs workers, side by side, log x axes; written to `path`."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display: write the file only
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotUnavailable("matplotlib is not installed: `pip install matplotlib`, or pass --no-plot") from None
    points = [p for p in series if p.get("units_per_s") is not None]
    workers = [p["workers"] for p in points]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    left.plot(workers, [p["units_per_s"] for p in points], marker="o")
    for point in points:  # a busy machine lowers every number: say how busy it was at each run
        left.annotate(
            f"load avg {point['loadavg_1m_before']}",
            (point["workers"], point["units_per_s"]),
            textcoords="offset points",
            xytext=(0, 7),
            ha="center",
            fontsize=7,
        )
    left.set_title("Throughput")
    left.set_ylabel("completed units / s")
    left.set_ylim(0, 1.15 * max(p["units_per_s"] for p in points))  # room for the notes above the points
    right.plot(workers, [p["submit_to_ack_p99_ms"] for p in points], marker="o", label="p99")
    right.plot(workers, [p["submit_to_ack_p50_ms"] for p in points], marker="s", label="p50")
    right.set_title("Submit → acknowledgement")
    right.set_ylabel("ms (log)")
    right.set_yscale("log")
    right.legend()
    for axis in (left, right):
        axis.set_xscale("log")
        axis.set_xlabel("concurrent simulated workers (log)")
        axis.set_xticks(workers, [f"{n:,}" for n in workers])
        axis.grid(True, which="major", alpha=0.3)
    fig.suptitle(f"load_e2e.py, {db}, zero think time — {note}", fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def replot(source: Path, path: Path) -> None:
    """Draw the plot of the last scaling line recorded in `source`."""
    lines = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    recorded = [line for line in lines if line.get("benchmark") == "scaling"]
    if not recorded:
        raise PlotUnavailable(f"{source} holds no scaling line")
    last = recorded[-1]
    note = f"commit {last['code']['commit']}, {last['machine']['nproc']} CPUs shared with the load generators"
    plot(last["series"], last["db"], path, note)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.replot is not None:
        replot(args.replot, args.plot)
        return 0
    if not args.no_plot:
        require_matplotlib()
    before: dict[str, Any] = {"code": code_version(), "loadavg_1m": loadavg_1m()}
    series = []
    for workers in args.worker_counts:
        units = units_for(workers, args.seconds, args.units_per_second)
        series.append(point_of(run_point(args, workers, units)))
    plotted = None
    machine = machine_info(before["loadavg_1m"])
    if not args.no_plot and any(p.get("units_per_s") is not None for p in series):
        note = f"commit {before['code']['commit']}, {machine['nproc']} CPUs shared with the load generators"
        plot(series, args.db, args.plot, note)
        plotted = str(args.plot)
    print(
        json.dumps(
            {
                "benchmark": "scaling",
                "db": args.db,
                "seconds_per_run": args.seconds,
                "series": series,
                "plot": plotted,
                "code": before["code"],
                "machine": machine,
            }
        )
    )
    if all("error" in p for p in series):
        return 2
    return 1 if any("error" in p for p in series) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except PlotUnavailable as exc:
        print(f"scaling: {exc}", file=sys.stderr)
        sys.exit(2)
