"""How long a worker on a slow connection waits for the task: real Chromium opens the worker link of a real launch.

For each `--server` (a `mephisto` console script; the first is the reference), in alternating rounds: `mephisto
init` a task from `--template` (`form`, the heaviest page of the built-in templates, or `static`), launch it, and
open `--loads` worker links in Chromium with its network throttled to a mobile connection (Chrome DevTools' own
throttling: `--down-kbps`, `--up-kbps`, `--rtt-ms`). Each link is opened first in a fresh browser context (a first
visit: nothing cached) and then reloaded (a return visit, as after "Do another unit"). Measured in the page: from
navigation start until the task's Submit button is shown (its data arrived and the page drew it), and the bytes
the page's requests took on the wire (`transferSize`). Prints one JSON line: medians per server and visit, and
their ratios to the reference.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from _launch import LaunchProcess
from _run_info import code_version, loadavg_1m, machine_info
from _task_folder import write_data_csv
from _workdir import isolated_env, launch_command, temporary_workdir
from playwright.sync_api import Browser, sync_playwright

from mephisto_core.testing.browser import launch_chromium
from mephisto_core.testing.processes import run_mephisto

# What the page's requests took on the wire: the document and every resource (a 304 counts its headers only).
_TRANSFERRED = """() => performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))
    .reduce((sum, entry) => sum + entry.transferSize, 0)"""
_SHOWN_AT = "() => performance.now()"  # milliseconds since the navigation started


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--server",
        action="append",
        metavar="NAME=PATH",
        help="a server to measure: a name and its `mephisto` console script (repeat; the first is the reference); "
        "default: head=the mephisto beside this Python",
    )
    parser.add_argument(
        "--template",
        choices=("form", "static"),
        default="form",
        help="the task template (default form, the heaviest page of the built-in templates)",
    )
    parser.add_argument("--loads", type=int, default=5, help="worker links opened per server and round (default 5)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, each server once per round (default 2)")
    parser.add_argument("--down-kbps", type=float, default=1600, help="download kbit/s (default 1600)")
    parser.add_argument("--up-kbps", type=float, default=750, help="upload kbit/s (default 750)")
    parser.add_argument("--rtt-ms", type=float, default=150, help="added round-trip time in ms (default 150)")
    args = parser.parse_args(argv)
    if args.loads < 1 or args.rounds < 1:
        parser.error("--loads and --rounds must be at least 1")
    servers = args.server or [f"head={Path(sys.executable).parent / 'mephisto'}"]
    args.servers = []
    for item in servers:
        name, sep, path = item.partition("=")
        if not sep or not name or not Path(path).is_file():
            parser.error(f"--server {item!r}: write NAME=PATH to an existing `mephisto` console script")
        args.servers.append((name, Path(path)))
    return args


def open_links(browser: Browser, base_url: str, loads: int, args: argparse.Namespace, round_no: int) -> list[Any]:
    """Open `loads` worker links, each a first visit then a reload; per visit, ms until shown and bytes."""
    visits: list[Any] = []
    conditions = {
        "offline": False,
        "latency": args.rtt_ms,
        "downloadThroughput": args.down_kbps * 1000 / 8,
        "uploadThroughput": args.up_kbps * 1000 / 8,
    }
    for n in range(loads):
        context = browser.new_context()
        try:
            page = context.new_page()
            page.set_default_timeout(60_000)
            session = context.new_cdp_session(page)
            session.send("Network.enable")
            session.send("Network.emulateNetworkConditions", conditions)
            for visit in ("first", "return"):
                if visit == "first":
                    page.goto(f"{base_url}?worker_id=r{round_no}w{n}")
                else:
                    page.reload()
                page.get_by_role("button", name="Submit").wait_for()
                visits.append({"visit": visit, "ms": page.evaluate(_SHOWN_AT), "bytes": page.evaluate(_TRANSFERRED)})
        finally:
            context.close()
    return visits


def measure(mephisto: Path, args: argparse.Namespace, browser: Browser, round_no: int) -> list[Any]:
    """One server's round: a fresh task folder and data dir, a launch, the links opened, the launch stopped."""
    with ExitStack() as stack:
        workdir = temporary_workdir(stack, "page_open_browser", keep=False)
        env = isolated_env(workdir)
        made = run_mephisto("init", workdir / "task", "--template", args.template, env=env)
        if made.returncode != 0:
            raise SystemExit(f"mephisto init failed:\n{made.stdout}{made.stderr}")
        if args.template == "form":  # one form config, made into this many units
            overrides = [f"blueprint.units={args.loads}"]
        else:  # a data row per unit
            write_data_csv(workdir / "task" / "data.csv", args.loads)
            overrides = []
        command = launch_command([str(mephisto)], workdir / "task" / "task.toml", *overrides)
        launch = LaunchProcess(command, env, workdir / "launch.stderr")
        try:
            return open_links(browser, launch.worker_base_url(60), args.loads, args, round_no)
        finally:
            launch.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    code, load_before = code_version(), loadavg_1m()
    results: dict[str, list[Any]] = {name: [] for name, _ in args.servers}
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            for round_no in range(args.rounds):
                order = args.servers if round_no % 2 == 0 else list(reversed(args.servers))
                for name, mephisto in order:
                    results[name] += measure(mephisto, args, browser, round_no)
        finally:
            browser.close()
    medians = {
        name: {
            visit: {
                key: round(statistics.median(v[key] for v in visits if v["visit"] == visit), 1)
                for key in ("ms", "bytes")
            }
            for visit in ("first", "return")
        }
        for name, visits in results.items()
    }
    reference = args.servers[0][0]
    ratios = {
        name: {
            visit: {key: round(value / medians[reference][visit][key], 3) for key, value in numbers.items()}
            for visit, numbers in by_visit.items()
        }
        for name, by_visit in medians.items()
    }
    result = {
        "benchmark": "page_open_browser",
        "template": args.template,
        "loads": args.loads,
        "rounds": args.rounds,
        "network": {"down_kbps": args.down_kbps, "up_kbps": args.up_kbps, "rtt_ms": args.rtt_ms},
        "servers": {name: str(path) for name, path in args.servers},
        "medians": medians,
        "ratios_to_reference": ratios,
        "code": code,
        "machine": machine_info(load_before),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
