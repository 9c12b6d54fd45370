"""Page loads through the router: what keeping a browser's connection alive saves, over TLS and plain HTTP.

A page load here is what a worker's browser does before the task's WebSocket: GET the page, then GET
`/mephisto-task.js`. Browsers ask to keep their connections alive (`Connection: keep-alive`) and the router then
answers both over one connection; a client that does not ask gets each answer on a connection of its own (and,
over TLS, a handshake of its own). `--loads` page loads by `--clients` concurrent clients, each way in turn
(`--rounds` times, alternated), against a standalone router process (`mephisto router serve`; over TLS with a
throw-away CA, and without it with `--no-tls`). Prints one JSON line: per way, the router's CPU per page load
(utime + stime from /proc) and the page loads' wall-time percentiles, and the ratio of the two ways' CPU.

The standalone router serves no task until an operator pushes one, so the page is its short "no task here" page
(503); the script and the connections are what a real page load costs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _proc_mem import cpu_seconds
from _run_info import code_version, loadavg_1m, machine_info
from mephisto_architect_remote.testing import RouterProcess, make_tls_files

PAGE = "/?worker_id=w"
SCRIPT = "/mephisto-task.js"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=2000, help="page loads per way and round (default 2000)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each way once per round (default 3)")
    parser.add_argument("--no-tls", action="store_true", help="plain HTTP instead of TLS")
    return parser.parse_args(argv)


def _request(target: str, keep_alive: bool) -> bytes:
    connection = "keep-alive" if keep_alive else "close"
    return f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: {connection}\r\n\r\n".encode()


async def _read_answer(reader: asyncio.StreamReader) -> int:
    """Read one answer (its Content-Length's body) and return its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return int(head.split(b" ", 2)[1])


async def _page_load(port: int, context: ssl.SSLContext | None, keep_alive: bool) -> float:
    """One page load, the browser's way (one kept-alive connection) or a connection per request; its seconds."""
    started = time.perf_counter()
    if keep_alive:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
        for target in (PAGE, SCRIPT):
            writer.write(_request(target, True))
            await _read_answer(reader)
        writer.close()
    else:
        for target in (PAGE, SCRIPT):
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
            writer.write(_request(target, False))
            await _read_answer(reader)
            await reader.read()  # to the router's end of the connection
            writer.close()
    return time.perf_counter() - started


async def _run_way(
    port: int, context: ssl.SSLContext | None, keep_alive: bool, loads: int, clients: int
) -> list[float]:
    times: list[float] = []
    remaining = [loads]

    async def client() -> None:
        while remaining[0] > 0:
            remaining[0] -= 1
            times.append(await _page_load(port, context, keep_alive))

    await asyncio.gather(*(client() for _ in range(clients)))
    return times


def _percentiles_ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {f"p{q}": round(ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))] * 1000, 2) for q in (50, 95, 99)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    before: dict[str, Any] = {"code": code_version(), "loadavg_1m": loadavg_1m()}
    with tempfile.TemporaryDirectory(prefix="mephisto-page-loads-") as folder:
        work = Path(folder)
        tls = None if args.no_tls else make_tls_files(work / "tls")
        router = RouterProcess(work / "data", secrets.token_urlsafe(32), tls, log_path=work / "router.log")
        router.start()
        try:
            assert router.proc is not None
            pid = router.proc.pid
            context = ssl.create_default_context(cafile=str(tls.ca_file)) if tls is not None else None
            ways = {"keep_alive": True, "connection_per_request": False}
            cpu: dict[str, list[float]] = {name: [] for name in ways}
            times: dict[str, list[float]] = {name: [] for name in ways}
            asyncio.run(_run_way(router.port, context, True, 50, 10))  # warm-up: imports, caches
            for round_ in range(args.rounds):
                order = list(ways) if round_ % 2 == 0 else list(reversed(ways))
                for name in order:
                    start_cpu = cpu_seconds(pid)
                    times[name] += asyncio.run(_run_way(router.port, context, ways[name], args.loads, args.clients))
                    cpu[name].append((cpu_seconds(pid) - start_cpu) / args.loads)
        finally:
            router.stop()
    result: dict[str, Any] = {
        "benchmark": "page_loads",
        "tls": tls is not None,
        "loads": args.loads,
        "clients": args.clients,
        "rounds": args.rounds,
    }
    for name in ways:
        result[name] = {
            "router_cpu_ms_per_page_load": round(statistics.median(cpu[name]) * 1000, 3),
            "router_cpu_ms_per_page_load_each_round": [round(c * 1000, 3) for c in cpu[name]],
            "page_load_ms": _percentiles_ms(times[name]),
        }
    result["keep_alive_cpu_ratio"] = round(
        result["keep_alive"]["router_cpu_ms_per_page_load"]
        / result["connection_per_request"]["router_cpu_ms_per_page_load"],
        3,
    )
    result["code"] = before["code"]
    result["machine"] = machine_info(before["loadavg_1m"])
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
