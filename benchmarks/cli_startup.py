"""How long `mephisto --help` takes, and a check that it imports nothing heavy.

Runs the console script N times as a subprocess (after one warm-up run) and prints one JSON line: median and
90th-percentile wall time in seconds and the peak RSS of a child. Exits 1 when `--help` imports a module it
must not (boto3, botocore, websockets or any plugin); that check counts imports, it does not time anything.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

from _run_info import MephistoMissing, code_version, loadavg_1m, machine_info, mephisto_command

from mephisto_core.testing.imports import HELP_CODE, forbidden_startup_imports, modules_imported_by


def time_help(runs: int) -> list[float]:
    """Wall time of each of `runs` runs of `mephisto --help`."""
    command = [*mephisto_command(), "--help"]
    subprocess.run(command, check=True, capture_output=True)  # warm-up: page cache, .pyc files
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of `values`."""
    ordered = sorted(values)
    rank = max(1, round(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="timed runs of `mephisto --help` (default 20)")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    loadavg_before = loadavg_1m()
    try:
        times = time_help(args.runs)
    except MephistoMissing as exc:
        raise SystemExit(str(exc)) from None
    # Read before the import check below spawns its own child: ru_maxrss is the largest child so far (KiB).
    peak_rss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    forbidden = forbidden_startup_imports(modules_imported_by(HELP_CODE))
    print(
        json.dumps(
            {
                "benchmark": "cli_startup",
                "command": "mephisto --help",
                "runs": args.runs,
                "median_s": round(statistics.median(times), 4),
                "p90_s": round(percentile(times, 0.9), 4),
                "peak_rss_mib": round(peak_rss_kib / 1024, 1),
                "forbidden_imports": forbidden,
                "target": {"median_s_below": 0.3, "met": statistics.median(times) < 0.3},
                "code": code_version(),
                "machine": machine_info(loadavg_before),
            }
        )
    )
    if forbidden:
        print(f"`mephisto --help` imported modules it must not: {', '.join(forbidden)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
