"""A/B in the same session: load_e2e.py against several servers in turn, medians and ratios against the first.

    python benchmarks/ab.py --server base=/path/to/old-venv/bin/mephisto --server head=.venv/bin/mephisto \\
        --rounds 3 -- --workers 1000 --units 15000

Without `--server`, the servers are `base`, the `mephisto` script named by the environment variable
MEPHISTO_BENCH_BASELINE, and `head`, the one installed beside this Python (what `nox -s bench` runs); when that
variable is not set either, ab.py says so and exits 0 (nothing to compare with).

Each `--server NAME=PATH` names the `mephisto` console script of an install (a virtualenv with another commit,
say); every round runs `load_e2e.py --mephisto PATH` once per server with the same load generator and the
arguments after `--` (or any argument ab.py does not know). Rounds alternate the order (A B, then B A, ...) so
that a machine getting busier or quieter during the session weighs on each server alike.

Prints each run's JSON line (load_e2e's, with `ab_server` and `ab_round` added), then a table of the medians per
server with their ratio to the first server's, and one JSON line `{"benchmark": "ab", ...}` with the same.
Exits 1 when a run failed or its database did not match the acknowledgements.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from _run_info import mephisto_command

LOAD_E2E = Path(__file__).resolve().parent / "load_e2e.py"
BASELINE_ENV = "MEPHISTO_BENCH_BASELINE"

#: (label, how to read it from a load_e2e line, whether more is better)
METRICS: list[tuple[str, tuple[str, ...], bool]] = [
    ("units_per_s", ("units_per_s",), True),
    ("server_cpu_ms_per_unit", ("server_cpu_ms_per_unit",), False),
    ("units_per_server_core_s", ("units_per_server_core_s",), True),
    ("loadgen_cpu_ms_per_unit", ("loadgen_cpu_ms_per_unit",), False),
    ("connect_to_data_p99_ms", ("connect_to_data_ms", "p99"), False),
    ("submit_to_ack_p99_ms", ("submit_to_ack_ms", "p99"), False),
    ("burst_connect_p99_ms", ("phases", "connect_to_data_ms", "burst", "p99"), False),
    ("burst_open_page_p99_ms", ("phases", "open_page_ms", "burst", "p99"), False),
    ("burst_hello_to_data_p99_ms", ("phases", "hello_to_data_ms", "burst", "p99"), False),
    ("steady_submit_p99_ms", ("phases", "submit_to_ack_ms", "steady", "p99"), False),
]


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Other arguments (or those after --) go to load_e2e.py.",
        allow_abbrev=False,
    )
    parser.add_argument(
        "--server",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a server to measure: a name and its `mephisto` console script (repeat; the first is the reference); "
        f"default: base=${BASELINE_ENV} and head=the mephisto beside this Python",
    )
    parser.add_argument("--rounds", type=int, default=2, help="runs per server (default 2)")
    args, passthrough = parser.parse_known_args(argv)
    if passthrough[:1] == ["--"]:
        passthrough = passthrough[1:]
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    servers: list[tuple[str, Path]] = []
    for item in args.server:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            parser.error(f"--server {item!r}: expected NAME=PATH")
        if name in {n for n, _ in servers}:
            parser.error(f"--server {name}: the name is given twice")
        if not os.access(path, os.X_OK):
            parser.error(f"--server {name}={path}: not an executable file")
        servers.append((name, Path(path)))
    if "--mephisto" in passthrough:
        parser.error("--mephisto is set by ab.py for each --server; do not pass it")
    args.servers = servers
    return args, passthrough


def run_once(name: str, mephisto: Path, round_no: int, passthrough: list[str]) -> dict[str, Any]:
    """One load_e2e.py run against `mephisto`; its JSON line, or a dict with `error` when it gave none."""
    command = [sys.executable, str(LOAD_E2E), "--mephisto", str(mephisto), *passthrough]
    print(f"ab: round {round_no}, {name} ({mephisto}) ...", file=sys.stderr, flush=True)
    # stderr goes straight through: load_e2e's progress and abort messages stay visible.
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    result: dict[str, Any] = json.loads(lines[-1]) if lines else {"benchmark": "load_e2e"}
    result["ab_server"], result["ab_round"] = name, round_no
    if done.returncode != 0:
        result["error"] = f"load_e2e.py exited {done.returncode}"
    return result


def _value(result: dict[str, Any], path: tuple[str, ...]) -> float | None:
    node: Any = result
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return float(node) if isinstance(node, int | float) else None


def summarise(servers: list[tuple[str, Path]], results: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians per server and metric over its successful runs, and each median's ratio to the first server's."""
    medians: dict[str, dict[str, float | None]] = {}
    for name, _ in servers:
        good = [r for r in results if r["ab_server"] == name and "error" not in r]
        medians[name] = {}
        for label, path, _better in METRICS:
            values = [v for v in (_value(r, path) for r in good) if v is not None]
            medians[name][label] = round(statistics.median(values), 3) if values else None
    reference = medians[servers[0][0]]

    def ratio(value: float | None, to: float | None) -> float | None:
        return round(value / to, 3) if value is not None and to else None

    ratios = {
        name: {label: ratio(m[label], reference[label]) for label, _path, _better in METRICS}
        for name, m in medians.items()
    }
    return {
        "benchmark": "ab",
        "reference": servers[0][0],
        "servers": {
            name: {
                "mephisto": str(path),
                "server": next((r.get("server") for r in results if r["ab_server"] == name and "server" in r), None),
                "runs": sum(1 for r in results if r["ab_server"] == name),
                "failed": sum(1 for r in results if r["ab_server"] == name and "error" in r),
            }
            for name, path in servers
        },
        "medians": medians,
        "ratios_to_reference": ratios,
    }


def table(summary: dict[str, Any]) -> str:
    """The medians, one row per metric and a column per server, each with its ratio to the reference."""
    names = list(summary["medians"])
    rows = [["metric (median)", *names]]
    for label, _path, better in METRICS:
        row = [f"{label} ({'higher' if better else 'lower'} is better)"]
        for name in names:
            value = summary["medians"][name][label]
            ratio = summary["ratios_to_reference"][name][label]
            row.append("-" if value is None else f"{value:g}" + ("" if ratio is None else f" ({ratio:.2f}x)"))
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows)


def default_servers() -> list[str] | None:
    """base=$MEPHISTO_BENCH_BASELINE and head=the mephisto beside this Python, or None without the variable."""
    baseline = os.environ.get(BASELINE_ENV)
    if not baseline:
        return None
    return [f"base={baseline}", f"head={mephisto_command()[0]}"]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not any(a == "--server" or a.startswith("--server=") for a in argv) and not {"-h", "--help"} & set(argv):
        servers = default_servers()
        if servers is None:
            print(f"ab: skipped: no --server given and {BASELINE_ENV} is not set (the baseline's `mephisto`)")
            return 0
        argv = [arg for server in servers for arg in ("--server", server)] + argv
    args, passthrough = parse_args(argv)
    results: list[dict[str, Any]] = []
    for round_no in range(1, args.rounds + 1):
        order = args.servers if round_no % 2 else list(reversed(args.servers))
        for name, mephisto in order:
            result = run_once(name, mephisto, round_no, passthrough)
            print(json.dumps(result), flush=True)
            results.append(result)
    summary = summarise(args.servers, results)
    print(table(summary))
    print(json.dumps(summary))
    failed = any("error" in r or not r.get("db_matches_acks") for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
