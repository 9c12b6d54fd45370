"""Operator: launches a task run, watches it until every unit is done, and shuts it down cleanly.

Stopping has two speeds. `request_stop()` once: no new units are handed out, units nobody claimed are withdrawn,
work in flight may finish. Twice: stop now; units still held stay `assigned` and are offered again by the next
launch of the same task (after their grace period), so nothing needs manual clean-up.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mephisto_core.abstractions import Architect, Blueprint, CrowdProvider
from mephisto_core.data_model import AgentStatus, Database, UnitStatus
from mephisto_core.data_model.statuses import INCOMPLETE_UNIT_STATUSES
from mephisto_core.errors import ConfigError
from mephisto_core.operations import run_setup
from mephisto_core.operations.channel import OperatorChannel
from mephisto_core.operations.client_io import ClientIOHandler
from mephisto_core.operations.db_writer import DatabaseWriter
from mephisto_core.operations.launcher import TaskLauncher
from mephisto_core.operations.providers import build_provider
from mephisto_core.operations.run_context import RunContext
from mephisto_core.operations.uploads import UploadStore
from mephisto_core.operations.worker_pool import WorkerPool
from mephisto_core.operations.worker_rules import RunRules
from mephisto_core.plugins import get_registry
from mephisto_core.settings import Settings
from mephisto_core.task_config import TaskConfig

log = logging.getLogger(__name__)

TICK_SECONDS = 0.5
FEED_CHUNK = 2000  # data items created per transaction while launching


@dataclass
class RunStats:
    """What the launch panel shows; refreshed every tick."""

    task_name: str = ""
    run_id: int = 0
    resumed: bool = False
    worker_url: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    refusals: dict[str, int] = field(default_factory=dict)
    submissions_per_minute: int = 0
    started: float = field(default_factory=time.monotonic)
    stopping: str = ""  # "", "graceful" or "now"

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def count(self, *statuses: UnitStatus) -> int:
        return sum(self.counts.get(s.value, 0) for s in statuses)


class Operator:
    """Runs one task run end to end on the current event loop."""

    def __init__(self, settings: Settings, database: Database) -> None:
        self.settings = settings
        self.database = database
        self.writer = DatabaseWriter(database)
        self.stats = RunStats()
        self.owner = run_setup.this_process()
        self._stop_level = 0
        self._stop_event = asyncio.Event()
        self.ready = asyncio.Event()  # set once workers can open the link
        self.ctx: RunContext | None = None
        self.io: ClientIOHandler | None = None
        self.worker_pool: WorkerPool | None = None

    def request_stop(self) -> None:
        """First call: finish gracefully. Second call: stop now."""
        self._stop_level += 1
        self.stats.stopping = "graceful" if self._stop_level == 1 else "now"
        if self.ctx is not None:
            self.ctx.accepting = False
        self._stop_event.set()

    async def run(self, config: TaskConfig, on_ready: Callable[[RunStats], None] | None = None) -> RunStats:
        """Launch (or resume) the task and return when it is done or stopped."""
        blueprint, provider, architect = self._instantiate(config)
        await asyncio.to_thread(blueprint.check)
        self._rules = await asyncio.to_thread(RunRules.from_config, config)
        architect.check()
        self.writer.start()
        try:
            return await self._run(config, blueprint, provider, architect, on_ready)
        finally:
            self.writer.stop()

    def _instantiate(self, config: TaskConfig) -> tuple[Blueprint, CrowdProvider, Architect]:
        registry = get_registry()
        blueprint_cls = registry.get("blueprint", config.blueprint_type)
        architect_cls = registry.get("architect", config.architect_type)
        try:
            provider = build_provider(self.settings, config.provider_type, config.provider_args)
        except ConfigError as exc:
            raise ConfigError(exc.detail, file=config.path, key=exc.key) from exc
        blueprint = blueprint_cls(config.blueprint_args, config.task, config.task_dir)
        self._requester_name = provider.requester_name
        return blueprint, provider, architect_cls(config.architect_args, self.settings.runs_dir)

    async def _run(
        self,
        config: TaskConfig,
        blueprint: Blueprint,
        provider: CrowdProvider,
        architect: Architect,
        on_ready: Callable[[RunStats], None] | None,
    ) -> RunStats:
        selection = await self.writer.call(
            run_setup.select_run, config, self._requester_name, self.owner, provider.is_sandbox
        )
        ctx = RunContext(self.settings, config, selection.task, selection.run, blueprint, provider, rules=self._rules)
        self.ctx = ctx
        if self._stop_level:
            ctx.accepting = False
        self.stats.task_name, self.stats.run_id, self.stats.resumed = (
            config.task.name,
            selection.run.id,
            selection.resumed,
        )
        launcher = TaskLauncher(ctx)
        pool = WorkerPool(ctx, UploadStore(self.settings.data_dir))
        self.worker_pool = pool
        io = ClientIOHandler(pool, self.writer, pool.uploads)
        self.io = io
        completed = False
        try:
            build_dir = self.settings.runs_dir / str(selection.run.id) / "build"
            await asyncio.to_thread(_fresh_build, blueprint, build_dir)
            secret = secrets.token_urlsafe(32)
            deployment = await architect.deploy(build_dir, secret)
            try:
                channel = OperatorChannel(deployment.channel_url, secret, io.on_envelope, io.on_upload)
                io.channel = channel
                await channel.start()
                try:
                    ctx.worker_url = deployment.worker_url
                    self.stats.worker_url = deployment.worker_url
                    await asyncio.to_thread(provider.setup_resources, selection.run, deployment.worker_url)
                    if selection.resumed:
                        # Agents a dead process left in task get the grace period to come back, then their
                        # units are offered again; units withdrawn by an earlier stop are offered again now.
                        left = await self.writer.call(pool.in_task_agents)
                        io.watch_absent([(False, agent_id) for agent_id in left])
                        await self.writer.call(launcher.relaunch_expired)
                    first_chunk = asyncio.Event()
                    feeder = asyncio.create_task(self._feed(launcher, blueprint, first_chunk))
                    try:
                        # The link is printed once the first units are offered, not after the whole data set.
                        await asyncio.wait(
                            {feeder, asyncio.ensure_future(first_chunk.wait())}, return_when=asyncio.FIRST_COMPLETED
                        )
                        if feeder.done() and feeder.exception() is not None:
                            raise feeder.exception()  # type: ignore[misc]
                        await self._refresh(launcher, io)
                        self.ready.set()
                        if on_ready is not None:
                            on_ready(self.stats)
                        completed = await self._watch(ctx, launcher, pool, io, feeder)
                    finally:
                        feeder.cancel()
                finally:
                    await channel.stop()
            finally:
                await architect.shutdown()
                await asyncio.to_thread(provider.cleanup_resources, selection.run)
        finally:
            await self.writer.call(run_setup.release, selection.run.id, self.owner, completed)
        return self.stats

    async def _feed(self, launcher: TaskLauncher, blueprint: Blueprint, first_chunk: asyncio.Event) -> None:
        """Create the run's assignments chunk by chunk, offering each chunk at once; resumes where a crash stopped."""
        items = blueprint.iter_assignments()
        done = await self.writer.call(launcher.assignments_created)
        await asyncio.to_thread(lambda: next(itertools.islice(items, done, done), None))  # skip what exists
        while not self._stop_level:
            chunk = await asyncio.to_thread(lambda: list(itertools.islice(items, FEED_CHUNK)))
            if not chunk:
                break
            await self.writer.call(launcher.create_assignments, chunk)
            await self.writer.call(launcher.launch_available)
            first_chunk.set()
        first_chunk.set()

    async def _watch(
        self, ctx: RunContext, launcher: TaskLauncher, pool: WorkerPool, io: ClientIOHandler, feeder: asyncio.Task[None]
    ) -> bool:
        """Tick until every unit is done (True) or a stop ends the run early (False)."""
        grace = ctx.config.task.disconnect_grace_seconds
        last_beat = 0.0
        graceful_started = False
        while True:
            if self._stop_level and not graceful_started:
                # Either speed of stop withdraws what nobody holds, so no worker accepts work at the
                # provider that no server will serve.
                graceful_started = True
                await self.writer.call(launcher.expire_unclaimed)
            if self._stop_level >= 2:
                await self._refresh(launcher, io)
                return False
            now = time.monotonic()
            if now - last_beat >= run_setup.HEARTBEAT_SECONDS:
                await self.writer.call(run_setup.beat, ctx.run.id, self.owner)
                last_beat = now
            await self._release_absent(pool, io, now, grace)
            for agent_id in await self.writer.call(pool.agents_past_deadline):
                if await self.writer.call(pool.release_agent, agent_id, AgentStatus.TIMED_OUT):
                    io.push_status((False, agent_id), AgentStatus.TIMED_OUT.value)
                    io.forget_agent((False, agent_id))
            if not graceful_started:
                await self.writer.call(launcher.launch_available)
            await self._refresh(launcher, io)
            if feeder.done() and not feeder.cancelled() and feeder.exception() is not None:
                raise feeder.exception()  # type: ignore[misc]  # a data item the blueprint could not read
            incomplete = self.stats.count(*INCOMPLETE_UNIT_STATUSES)
            if incomplete == 0 and (feeder.done() or graceful_started):
                return not graceful_started or self.stats.count(UnitStatus.EXPIRED) == 0
            if graceful_started and self.stats.count(UnitStatus.ASSIGNED) == 0:
                return False
            try:
                await asyncio.wait_for(self._stop_event.wait(), TICK_SECONDS)
                self._stop_event.clear()
            except TimeoutError:
                pass

    async def _release_absent(self, pool: WorkerPool, io: ClientIOHandler, now: float, grace: float) -> None:
        for agent, since in list(io.absent_since.items()):
            if now - since < grace:
                continue
            io.forget_agent(agent)
            is_onboarding, agent_id = agent
            if is_onboarding:
                await self.writer.call(pool.release_onboarding, agent_id)
            else:
                await self.writer.call(pool.release_agent, agent_id, AgentStatus.DISCONNECTED)

    async def _refresh(self, launcher: TaskLauncher, io: ClientIOHandler) -> None:
        self.stats.counts = await self.writer.call(launcher.status_counts)
        self.stats.refusals = dict(io.refusals)
        self.stats.submissions_per_minute = io.submissions_in_last(60)


def _fresh_build(blueprint: Blueprint, build_dir: Path) -> None:
    if build_dir.exists():
        shutil.rmtree(build_dir)
    build_dir.mkdir(parents=True)
    blueprint.build(build_dir)
