"""Live chat load: how many concurrent two-worker conversations one operator holds, and the message round trip.

Writes a live task (the `live` blueprint, a world in which two workers take turns for `--turns` messages each),
starts `mephisto launch` on a free port, and opens `2 x --conversations` worker sockets in this process (asyncio,
no browser: the protocol of docs/protocol.md). On its turn each worker waits `--think` seconds and sends a
message; the round trip is the time from sending it until the partner's page receives it (through the router,
the operator, the world and the database commit of the transcript line), and the echo the time until the sender's
own page gets the stored message back. Prints one JSON line with percentiles; exits 1 when a conversation did not
finish or a message was lost.

    python benchmarks/live_chat.py --conversations 50 --turns 10 --think 0.5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from contextlib import ExitStack
from typing import Any

from _launch import LaunchError, LaunchProcess
from _run_info import code_version, loadavg_1m, machine_info, mephisto_command
from _workdir import isolated_env, launch_command, temporary_workdir
from websockets.asyncio.client import ClientConnection, connect

WORLD = """
TURNS = {turns}

async def run(assignment):
    agents = assignment.agents
    for _ in range(TURNS):
        for speaker in agents:
            message = await speaker.act(timeout=120)
            for listener in agents:
                if listener is not speaker:
                    listener.observe(message)
    assignment.complete({{agent: {{"turns": TURNS}} for agent in agents}})
"""

TASK = """
[task]
name = "live-chat-bench"
title = "Chat benchmark"
units_per_assignment = 2
allowed_concurrent = 1

[blueprint]
type = "live"
world = "world.py"
num_assignments = {conversations}
waiting_room_seconds = 300
on_partner_disconnect = "end"

[architect]
type = "local"
port = 0

[provider]
type = "mock"
"""


class Worker:
    """One worker page: says hello, waits for its partner, and speaks on each of its turns."""

    def __init__(self, name: str, think: float, sent: dict[str, float], trips: list[float], echoes: list[float]):
        self.name, self.think = name, think
        self.sent, self.trips, self.echoes = sent, trips, echoes
        self.said = 0
        self.done = asyncio.Event()
        self.outcome: str | None = None

    async def run(self, url: str, started: asyncio.Event) -> None:
        async with connect(url, max_size=None, open_timeout=60) as ws:
            await ws.send(json.dumps({"type": "hello", "id": 1, "params": {"worker_id": self.name}, "token": None}))
            started.set()
            async for raw in ws:
                frame = json.loads(raw)
                if frame.get("type") == "live":
                    await self._on_live(ws, frame["data"])
                elif frame.get("type") in ("refused", "expired") or frame.get("code"):
                    raise RuntimeError(f"{self.name}: {frame}")
                if self.outcome is not None:
                    return

    async def _on_live(self, ws: ClientConnection, data: dict[str, Any]) -> None:
        kind = data.get("kind")
        if kind == "turn" and data.get("yours"):
            await asyncio.sleep(self.think)
            text = f"{self.name}:{self.said}"
            self.said += 1
            self.sent[text] = time.perf_counter()
            await ws.send(json.dumps({"type": "live", "data": {"kind": "message", "text": text}}))
        elif kind == "message":
            text = (data.get("data") or {}).get("text", "")
            at = self.sent.get(text)
            if at is None:
                return  # the world's own words
            elapsed = time.perf_counter() - at
            (self.echoes if text.startswith(self.name + ":") else self.trips).append(elapsed)
        elif kind == "episode_done":
            self.outcome = str(data.get("outcome"))


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


async def drive(base_url: str, conversations: int, think: float, ramp: float, timeout: float) -> dict[str, Any]:
    url = "ws" + base_url[4:].rstrip("/") + "/ws"
    sent: dict[str, float] = {}
    trips: list[float] = []
    echoes: list[float] = []
    workers = [Worker(f"w{i:05d}", think, sent, trips, echoes) for i in range(2 * conversations)]
    tasks = []
    started = time.perf_counter()
    for worker in workers:
        hello_sent = asyncio.Event()
        tasks.append(asyncio.create_task(worker.run(url, hello_sent)))
        await hello_sent.wait()
        if ramp:
            await asyncio.sleep(ramp)
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    errors = [repr(t.exception())[:300] for t in done if t.exception() is not None]
    elapsed = time.perf_counter() - started
    return {
        "conversations": conversations,
        "completed_workers": sum(w.outcome == "completed" for w in workers),
        "unfinished_workers": len(pending),
        "errors": errors[:5],
        "messages_sent": len(sent),
        "messages_relayed": len(trips),
        "echoes": len(echoes),
        "seconds": round(elapsed, 2),
        "messages_per_s": round(len(trips) / elapsed, 1),
        "round_trip_ms": {
            "p50": ms(percentile(trips, 0.50)),
            "p95": ms(percentile(trips, 0.95)),
            "p99": ms(percentile(trips, 0.99)),
            "max": ms(max(trips, default=None)),
            "mean": ms(statistics.fmean(trips)) if trips else None,
        },
        "echo_ms": {"p50": ms(percentile(echoes, 0.50)), "p99": ms(percentile(echoes, 0.99))},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=20, help="concurrent two-worker conversations")
    parser.add_argument("--turns", type=int, default=10, help="messages each worker sends")
    parser.add_argument("--think", type=float, default=0.5, help="seconds a worker waits on its turn before sending")
    parser.add_argument("--ramp", type=float, default=0.005, help="seconds between opening two worker sockets")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    load_before = loadavg_1m()
    with ExitStack() as stack:
        workdir = temporary_workdir(stack, "live_chat", args.keep)
        folder = workdir / "task"
        folder.mkdir()
        (folder / "world.py").write_text(WORLD.format(turns=args.turns))
        (folder / "task.toml").write_text(TASK.format(conversations=args.conversations))
        env = isolated_env(workdir)
        launch = LaunchProcess(launch_command(mephisto_command(), folder / "task.toml"), env, workdir / "stderr.log")
        stack.callback(launch.close)
        try:
            base = launch.worker_base_url(120)
        except LaunchError as exc:
            print(f"live_chat: {exc}", file=sys.stderr)
            return 2
        result = asyncio.run(drive(base, args.conversations, args.think, args.ramp, args.timeout))
        launch.stop()
    result.update(
        {
            "benchmark": "live_chat",
            "turns": args.turns,
            "think_s": args.think,
            "machine": machine_info(load_before),
            "code": code_version(),
        }
    )
    print(json.dumps(result))
    ok = (
        not result["errors"]
        and result["unfinished_workers"] == 0
        and result["messages_relayed"] == result["messages_sent"] == result["echoes"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
