"""Page loads through the router: what keeping a browser's connection alive saves, over TLS and plain HTTP.

A page load here is what a worker's browser does before the task's WebSocket: GET the page, then GET
`/mephisto-task.js`. Browsers ask to keep their connections alive (`Connection: keep-alive`) and the router then
answers both over one connection; a client that does not ask gets each answer on a connection of its own (and,
over TLS, a handshake of its own). `--loads` page loads by `--clients` concurrent clients, each way in turn
(`--rounds` times, alternated), against a standalone router process (`mephisto router serve`; over TLS with a
throw-away CA, and without it with `--no-tls`). Prints one JSON line: per way, the router's CPU per page load
(utime + stime from /proc), the page loads' wall-time percentiles and bytes, and the ratio of the two ways' CPU.
Requests carry Chromium's `Accept-Encoding` unless told otherwise (`--accept-encoding ''`); `--return-visit` asks
for the script as a browser that kept it does (`If-None-Match`).

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _proc_mem import cpu_seconds
from _run_info import code_version, loadavg_1m, machine_info
from mephisto_architect_remote.testing import RouterProcess, make_tls_files

PAGE = "/?worker_id=w"
SCRIPT = "/mephisto-task.js"
BROWSER_ACCEPT_ENCODING = "gzip, deflate, br, zstd"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=2000, help="page loads per way and round (default 2000)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each way once per round (default 3)")
    parser.add_argument("--no-tls", action="store_true", help="plain HTTP instead of TLS")
    parser.add_argument(
        "--accept-encoding",
        default=BROWSER_ACCEPT_ENCODING,
        help=f"the Accept-Encoding header sent (default {BROWSER_ACCEPT_ENCODING!r}, as Chromium sends; '' for none)",
    )
    parser.add_argument(
        "--return-visit",
        action="store_true",
        help="ask for the script with If-None-Match (the tag of the warm-up's answer), as a browser that kept it",
    )
    return parser.parse_args(argv)


@dataclass
class Client:
    """The headers every page load sends, as one browser would."""

    accept_encoding: str
    script_tag: str | None = None  # sent as If-None-Match when set (a return visit)

    def request(self, target: str, keep_alive: bool) -> bytes:
        lines = [f"GET {target} HTTP/1.1", "Host: 127.0.0.1", f"Connection: {'keep-alive' if keep_alive else 'close'}"]
        if self.accept_encoding:
            lines.append(f"Accept-Encoding: {self.accept_encoding}")
        if target == SCRIPT and self.script_tag is not None:
            lines.append(f"If-None-Match: {self.script_tag}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()


@dataclass
class Answer:
    status: int
    size: int  # bytes on the wire, head and body (before TLS)
    etag: str | None


async def _read_answer(reader: asyncio.StreamReader) -> Answer:
    """Read one answer (its Content-Length's body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    etag = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
        elif name.strip().lower() == b"etag":
            etag = value.strip().decode()
    await reader.readexactly(length)
    return Answer(int(head.split(b" ", 2)[1]), len(head) + length, etag)


async def _page_load(port: int, context: ssl.SSLContext | None, keep_alive: bool, client: Client) -> tuple[float, int]:
    """One page load, the browser's way (one kept-alive connection) or a connection per request; its seconds and
    the bytes of its answers."""
    started = time.perf_counter()
    size = 0
    if keep_alive:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
        for target in (PAGE, SCRIPT):
            writer.write(client.request(target, True))
            size += (await _read_answer(reader)).size
        writer.close()
    else:
        for target in (PAGE, SCRIPT):
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
            writer.write(client.request(target, False))
            size += (await _read_answer(reader)).size
            await reader.read()  # to the router's end of the connection
            writer.close()
    return time.perf_counter() - started, size


async def _script_tag(port: int, context: ssl.SSLContext | None, client: Client) -> str | None:
    """The entity tag of the script, as a first visit gets it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    writer.write(client.request(SCRIPT, False))
    answer = await _read_answer(reader)
    writer.close()
    return answer.etag


async def _run_way(
    port: int, context: ssl.SSLContext | None, keep_alive: bool, loads: int, clients: int, client: Client
) -> tuple[list[float], list[int]]:
    times: list[float] = []
    sizes: list[int] = []
    remaining = [loads]

    async def one_client() -> None:
        while remaining[0] > 0:
            remaining[0] -= 1
            took, size = await _page_load(port, context, keep_alive, client)
            times.append(took)
            sizes.append(size)

    await asyncio.gather(*(one_client() for _ in range(clients)))
    return times, sizes


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
            sizes: dict[str, list[int]] = {name: [] for name in ways}
            client = Client(args.accept_encoding)
            asyncio.run(_run_way(router.port, context, True, 50, 10, client))  # warm-up: imports, caches
            if args.return_visit:
                client.script_tag = asyncio.run(_script_tag(router.port, context, client))
            for round_ in range(args.rounds):
                order = list(ways) if round_ % 2 == 0 else list(reversed(ways))
                for name in order:
                    start_cpu = cpu_seconds(pid)
                    took, got = asyncio.run(
                        _run_way(router.port, context, ways[name], args.loads, args.clients, client)
                    )
                    cpu[name].append((cpu_seconds(pid) - start_cpu) / args.loads)
                    times[name] += took
                    sizes[name] += got
        finally:
            router.stop()
    result: dict[str, Any] = {
        "benchmark": "page_loads",
        "tls": tls is not None,
        "loads": args.loads,
        "clients": args.clients,
        "rounds": args.rounds,
        "accept_encoding": args.accept_encoding,
        "return_visit": args.return_visit,
    }
    for name in ways:
        result[name] = {
            "router_cpu_ms_per_page_load": round(statistics.median(cpu[name]) * 1000, 3),
            "router_cpu_ms_per_page_load_each_round": [round(c * 1000, 3) for c in cpu[name]],
            "page_load_ms": _percentiles_ms(times[name]),
            "bytes_per_page_load": round(statistics.mean(sizes[name])),
        }
    per_request = result["connection_per_request"]["router_cpu_ms_per_page_load"]
    # None when too few loads for the CPU clock's ticks (10 ms) to show
    ratio = result["keep_alive"]["router_cpu_ms_per_page_load"] / per_request if per_request else None
    result["keep_alive_cpu_ratio"] = round(ratio, 3) if ratio is not None else None
    result["code"] = before["code"]
    result["machine"] = machine_info(before["loadavg_1m"])
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
