"""One load-generator process: an asyncio loop running its share of `SimulatedWorker` bots.

The parent starts several of these (multiprocessing, spawn), lets them all start their bots at once through
a barrier, and sets `stop` once `mephisto launch` has exited. Each process sends back one `ShareResult`: the
bots' merged report plus the timestamps the benchmark needs (first hello, last acknowledgement, when each
error was counted), which `BotReport` itself does not keep.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier, Event
from pathlib import Path
from typing import Any

from mephisto_core.operations.run.simulate import BotReport, SimulatedWorker

STOP_POLL_SECONDS = 0.1


@dataclass(frozen=True)
class ShareSpec:
    """What one load-generator process runs: bots `first` .. `first + count - 1`."""

    index: int
    base_url: str
    task_toml: Path
    first: int
    count: int
    think_seconds: float = 0.0
    name_prefix: str = "bench"


@dataclass
class ShareResult:
    """What one load-generator process measured (plain data, so it pickles cheaply)."""

    index: int
    bots: int = 0
    submitted: int = 0
    refusals: int = 0
    error_times: list[float] = field(default_factory=list)
    connect_to_data: list[float] = field(default_factory=list)
    submit_to_ack: list[float] = field(default_factory=list)
    acknowledged_keys: list[str] = field(default_factory=list)
    units_per_bot: list[int] = field(default_factory=list)
    first_hello: float | None = None
    last_ack: float | None = None
    finished_on_refusal: int = 0  # bots that ended on their own (refused with run_over or another final reason)
    stopped_by_parent: int = 0  # bots still running when the launch had exited
    crashes: list[str] = field(default_factory=list)  # bots that died of an unexpected exception
    cpu_seconds: float = 0.0
    failure: str | None = None  # the process could not run its share at all


class _TimedReport(BotReport):
    """A `BotReport` that also remembers when each error was counted.

    `SimulatedWorker` counts errors with `report.errors += 1`; a property with a setter sees each increment.
    The benchmark needs the times to tell errors while the run was serving from the disconnects that
    every bot meets when the finished run shuts its server down.
    """

    def __init__(self) -> None:
        self.error_times: list[float] = []
        super().__init__()

    @property
    def errors(self) -> int:
        return len(self.error_times)

    @errors.setter
    def errors(self, value: int) -> None:
        now = time.time()
        self.error_times.extend(now for _ in range(value - len(self.error_times)))


class TimedBot(SimulatedWorker):
    """A `SimulatedWorker` that notes its first hello and its last acknowledged submission (wall clock)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.report = _TimedReport()
        self.first_hello: float | None = None
        self.last_ack: float | None = None

    async def _request(self, ws: Any, msg: dict[str, Any]) -> dict[str, Any]:
        # Wall-clock time (time.time) so that processes can be compared with each other.
        if msg.get("type") == "hello" and self.first_hello is None:
            self.first_hello = time.time()
        reply = await super()._request(ws, msg)
        if reply.get("type") == "submitted":
            self.last_ack = time.time()
        return reply


def generator_main(spec: ShareSpec, start: Barrier, stop: Event, results: Queue[ShareResult]) -> None:
    """Process entry point: build the bots, wait at `start`, run until `stop`, put one ShareResult."""
    logging.basicConfig(level=logging.WARNING, format=f"loadgen {spec.index}: %(levelname)s %(name)s: %(message)s")
    # 1,000 bots hold 1,000 sockets plus a page fetch each while connecting.
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    result = ShareResult(index=spec.index)
    try:
        bots = _make_bots(spec)
    except Exception as exc:  # reported to the parent, which aborts the run with this message
        result.failure = f"could not build the simulated workers: {type(exc).__name__}: {exc}"
        start.abort()
        results.put(result)
        return
    start.wait()
    asyncio.run(_run_bots(bots, stop, result))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result.cpu_seconds = usage.ru_utime + usage.ru_stime
    results.put(result)


def _make_bots(spec: ShareSpec) -> list[TimedBot]:
    from mephisto_core.plugins import get_registry
    from mephisto_core.task_config import load_task_config

    # The same blueprint the operator builds from the same task file, so answers fit the page it serves.
    config = load_task_config(spec.task_toml)
    blueprint_cls = get_registry().get("blueprint", config.blueprint_type)
    blueprint = blueprint_cls(config.blueprint_args, config.task, config.task_dir)
    return [
        TimedBot(
            spec.base_url,
            f"{spec.name_prefix}-{i}",
            blueprint.simulate_answer,
            seed=i,
            fetch_page=True,
            think_seconds=spec.think_seconds,
        )
        for i in range(spec.first, spec.first + spec.count)
    ]


async def _run_bots(bots: list[TimedBot], stop: Event, result: ShareResult) -> None:
    tasks = [asyncio.create_task(bot.run()) for bot in bots]
    pending: set[asyncio.Task[BotReport]] = set(tasks)
    while pending and not stop.is_set():
        _, pending = await asyncio.wait(pending, timeout=STOP_POLL_SECONDS)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for bot, task in zip(bots, tasks, strict=True):
        _collect(bot, task, result)


def _collect(bot: TimedBot, task: asyncio.Task[BotReport], result: ShareResult) -> None:
    report = bot.report
    assert isinstance(report, _TimedReport)
    result.bots += 1
    if task.cancelled():
        result.stopped_by_parent += 1
    elif task.exception() is not None:
        result.crashes.append(f"{bot.worker_name}: {type(task.exception()).__name__}: {task.exception()}")
    else:
        result.finished_on_refusal += 1
    result.submitted += report.submitted
    result.refusals += report.refusals
    result.error_times += report.error_times
    result.connect_to_data += report.connect_to_data
    result.submit_to_ack += report.submit_to_ack
    result.acknowledged_keys += report.acknowledged_keys
    result.units_per_bot.append(report.submitted)
    if bot.first_hello is not None:
        result.first_hello = min(bot.first_hello, result.first_hello or bot.first_hello)
    if bot.last_ack is not None:
        result.last_ack = max(bot.last_ack, result.last_ack or bot.last_ack)
