"""One load-generator process: an asyncio loop running its share of bots, lean (`_lean_client.LeanBot`, the
default) or `SimulatedWorker`s (`--client simulated`).

The parent starts several of these (multiprocessing, spawn), lets them all start their bots at once through
a barrier (or spread over `arrival_seconds`), and sets `stop` once `mephisto launch` has exited. Each process
sends back one `ShareResult`: the bots' merged report plus the timestamps the benchmark needs (first hello,
last acknowledgement, when each error was counted), with each bot's first unit (the start-up burst) apart
from the others (the steady state). Its CPU time is counted from the start barrier, without the imports.
"""

from __future__ import annotations

import asyncio
import logging
import random
import resource
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier, Event
from pathlib import Path
from typing import Any, TypeVar

import orjson
from _lean_client import AnswerBytes, LeanBot, process_key_prefix

from mephisto_core import collector, event_loop
from mephisto_core.operations.run.simulate import BotReport, SimulatedWorker

_R = TypeVar("_R")

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
    client: str = "lean"  # "lean" or "simulated"
    arrival_seconds: float = 0.0  # bot i of `workers` starts after arrival_seconds * i / workers
    workers: int = 1  # all bots of the run, over every process


@dataclass
class ShareResult:
    """What one load-generator process measured (plain data, so it pickles cheaply)."""

    index: int
    bots: int = 0
    submitted: int = 0
    refusals: int = 0
    error_times: list[float] = field(default_factory=list)
    # each bot's first unit (the start-up burst) and the units after it (the steady state)
    connect_to_data_first: list[float] = field(default_factory=list)
    connect_to_data_steady: list[float] = field(default_factory=list)
    submit_to_ack_first: list[float] = field(default_factory=list)
    submit_to_ack_steady: list[float] = field(default_factory=list)
    # lean bots only: each bot's first connect_to_data split into opening the page and hello to data
    open_page_first: list[float] = field(default_factory=list)
    hello_to_data_first: list[float] = field(default_factory=list)
    first_data_at: list[float] = field(default_factory=list)  # wall clock when each bot had its first unit
    # lean bots only: (wall clock when it ended, seconds) of every connect_to_data and submit_to_ack
    connect_to_data_at: list[tuple[float, float]] = field(default_factory=list)
    submit_to_ack_at: list[tuple[float, float]] = field(default_factory=list)
    resends: int = 0
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
        if spec.client == "lean":
            answer = lean_answer(spec.task_toml)
        else:
            simulated = _make_bots(spec)
    except Exception as exc:  # reported to the parent, which aborts the run with this message
        result.failure = f"could not build the simulated workers: {type(exc).__name__}: {exc}"
        start.abort()
        results.put(result)
        return
    # Bots cost as little as the server's own processes: the same event loop (uvloop) and collector settings.
    collector.settle_after_start()
    start.wait()
    before = resource.getrusage(resource.RUSAGE_SELF)
    if spec.client == "lean":
        event_loop.run(_run_lean(spec, answer, stop, result), "auto")
    else:
        event_loop.run(_run_bots(spec, simulated, stop, result), "auto")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result.cpu_seconds = usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime
    results.put(result)


def _delay(spec: ShareSpec, i: int) -> float:
    """When bot `i` (of the whole run) starts: bots arrive evenly over `arrival_seconds` (0: all at once)."""
    return spec.arrival_seconds * i / spec.workers


async def _arriving(delay: float, run: Callable[[], Awaitable[_R]]) -> _R:
    if delay > 0:
        await asyncio.sleep(delay)
    return await run()


async def _until_stopped(tasks: list[asyncio.Task[Any]], stop: Event) -> None:
    pending: set[asyncio.Task[Any]] = set(tasks)
    while pending and not stop.is_set():
        _, pending = await asyncio.wait(pending, timeout=STOP_POLL_SECONDS)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


def _outcome(result: ShareResult, name: str, task: asyncio.Task[Any]) -> None:
    result.bots += 1
    if task.cancelled():
        result.stopped_by_parent += 1
    elif task.exception() is not None:
        result.crashes.append(f"{name}: {type(task.exception()).__name__}: {task.exception()}")
    else:
        result.finished_on_refusal += 1


def _timings(result: ShareResult, connect_to_data: list[float], submit_to_ack: list[float]) -> None:
    result.connect_to_data_first += connect_to_data[:1]
    result.connect_to_data_steady += connect_to_data[1:]
    result.submit_to_ack_first += submit_to_ack[:1]
    result.submit_to_ack_steady += submit_to_ack[1:]


def _times(result: ShareResult, first_hello: float | None, last_ack: float | None) -> None:
    if first_hello is not None:
        result.first_hello = min(first_hello, result.first_hello or first_hello)
    if last_ack is not None:
        result.last_ack = max(last_ack, result.last_ack or last_ack)


# ---- lean bots ------------------------------------------------------------------------------------------

ANSWER_POOL = 64  # answers made per process when no data row changes the page's fields, then reused


def lean_answer(task_toml: Path) -> AnswerBytes:
    """The blueprint's simulated answers, JSON-encoded, as `SimulatedWorker` makes them (`simulate_answer`).

    Making one parses the unit's page; when no data row can change the page's fields (the static blueprint's
    `row_independent_fields`) an answer fits every unit, so the first `ANSWER_POOL` answers are kept and then
    reused at random: the server sees the same kind of valid answers, the load generator does not parse pages.
    An onboarding test's page is answered afresh each time and kept out of the pool.
    """
    from mephisto_core.plugins import get_registry
    from mephisto_core.task_config import load_task_config

    config = load_task_config(task_toml)
    blueprint_cls = get_registry().get("blueprint", config.blueprint_type)
    blueprint = blueprint_cls(config.blueprint_args, config.task, config.task_dir)
    reusable = False
    source = getattr(config.blueprint_args, "task_source", None)
    if config.blueprint_type == "static" and source is not None:
        from mephisto_blueprint_static.fields import row_independent_fields

        path = Path(source) if Path(source).is_absolute() else Path(config.task_dir) / source
        reusable = row_independent_fields(path.read_text(encoding="utf-8")) is not None
    pool: list[bytes] = []

    def answer(init_data: dict[str, Any], rng: random.Random, onboarding: bool) -> bytes:
        if reusable and not onboarding and len(pool) >= ANSWER_POOL:
            return pool[rng.randrange(ANSWER_POOL)]
        made = blueprint.simulate_answer(init_data, rng)
        if made.files or made.live:
            raise ValueError("the lean client sends no files and no live messages: use --client simulated")
        encoded = orjson.dumps(made.outputs)
        if reusable and not onboarding:  # an onboarding page has fields of its own: its answers fit no unit
            pool.append(encoded)
        return encoded

    return answer


async def _run_lean(spec: ShareSpec, answer: AnswerBytes, stop: Event, result: ShareResult) -> None:
    prefix = process_key_prefix()
    bots = [
        LeanBot(
            spec.base_url,
            f"{spec.name_prefix}-{i}",
            answer,
            seed=i,
            think_seconds=spec.think_seconds,
            key_prefix=prefix,
        )
        for i in range(spec.first, spec.first + spec.count)
    ]
    tasks = [asyncio.create_task(_arriving(_delay(spec, spec.first + n), bot.run)) for n, bot in enumerate(bots)]
    await _until_stopped(tasks, stop)
    for bot, task in zip(bots, tasks, strict=True):
        report = bot.report
        _outcome(result, bot.worker_name, task)
        result.submitted += report.submitted
        result.refusals += report.refusals
        result.resends += report.resends
        result.error_times += report.error_times
        _timings(result, report.connect_to_data, report.submit_to_ack)
        result.connect_to_data_at += zip(report.data_at, report.connect_to_data, strict=True)
        result.submit_to_ack_at += zip(report.ack_at, report.submit_to_ack, strict=True)
        if report.first_open is not None and report.first_hello_to_data is not None:
            result.open_page_first.append(report.first_open)
            result.hello_to_data_first.append(report.first_hello_to_data)
        if report.data_at:
            result.first_data_at.append(report.data_at[0])
        result.acknowledged_keys += report.acknowledged_keys
        result.units_per_bot.append(report.submitted)
        _times(result, report.first_hello, report.last_ack)


# ---- SimulatedWorker bots ------------------------------------------------------------------------------


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


async def _run_bots(spec: ShareSpec, bots: list[TimedBot], stop: Event, result: ShareResult) -> None:
    tasks = [asyncio.create_task(_arriving(_delay(spec, spec.first + n), bot.run)) for n, bot in enumerate(bots)]
    await _until_stopped(tasks, stop)
    for bot, task in zip(bots, tasks, strict=True):
        report = bot.report
        assert isinstance(report, _TimedReport)
        _outcome(result, bot.worker_name, task)
        result.submitted += report.submitted
        result.refusals += report.refusals
        result.resends += report.resends
        result.error_times += report.error_times
        _timings(result, report.connect_to_data, report.submit_to_ack)
        result.acknowledged_keys += report.acknowledged_keys
        result.units_per_bot.append(report.submitted)
        _times(result, bot.first_hello, bot.last_ack)
