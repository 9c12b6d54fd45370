"""Operator: launches a task run, watches it until every unit is done, and shuts it down cleanly.

Stopping has two speeds. `request_stop()` once: no new units are handed out, units nobody claimed are withdrawn,
work in flight may finish. Twice: stop now; units still held stay `assigned` and are offered again by the next
launch of the same task (after their grace period), so nothing needs manual clean-up.

Two failures stop a run by themselves, the way a stop now does, with an error that says to launch again: the
architect reporting that its router died (`Architect.watch_router`), and the database failing every tick for
`database_outage.GIVE_UP_SECONDS`. Shorter database trouble (a lock held past the busy timeout, a full disk
that is cleared) only costs the ticks it lasts: they are logged and tried again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import math
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import peewee as pw

from mephisto_core.abstractions import Architect, Blueprint, CrowdProvider, Deployment
from mephisto_core.abstractions.platform_sync import requirement_lines
from mephisto_core.abstractions.public_url import check_public_https
from mephisto_core.data_model import AgentStatus, Database, UnitStatus, operator_leases
from mephisto_core.data_model.statuses import INCOMPLETE_UNIT_STATUSES
from mephisto_core.errors import ConfigError, MephistoError
from mephisto_core.file_modes import make_private_dir
from mephisto_core.operations import cleanup
from mephisto_core.operations.provider_calls import ProviderCalls
from mephisto_core.operations.providers import build_provider
from mephisto_core.operations.run import late_answers, metrics_server, operator_lease, run_setup, upload_sweep
from mephisto_core.operations.run.background_count import BackgroundCounts
from mephisto_core.operations.run.channel import OperatorChannel, RouterChannel
from mephisto_core.operations.run.client_io import ClientIOHandler
from mephisto_core.operations.run.database_outage import RESUME_HINT, DatabaseOutage
from mephisto_core.operations.run.db_writer import DatabaseWriter
from mephisto_core.operations.run.launcher import TaskLauncher
from mephisto_core.operations.run.live_bridge import LiveBridge
from mephisto_core.operations.run.local_channel import LocalOperatorChannel
from mephisto_core.operations.run.platform_sync_loop import PlatformSync, start_platform_sync
from mephisto_core.operations.run.publishing import Publisher
from mephisto_core.operations.run.reconcile import reconcile_run
from mephisto_core.operations.run.run_context import RunContext
from mephisto_core.operations.run.run_over_notice import tell_router_the_run_is_over
from mephisto_core.operations.run.sharded_channel import ShardedChannel
from mephisto_core.operations.run.side_connection import SideConnection
from mephisto_core.operations.run.uploads import UploadStore
from mephisto_core.operations.run.worker_pool import WorkerPool
from mephisto_core.operations.run.worker_rules import RunRules
from mephisto_core.plugins import get_registry
from mephisto_core.settings import Settings
from mephisto_core.task_config import TaskConfig

T = TypeVar("T")
log = logging.getLogger(__name__)

TICK_SECONDS = 0.5
FEED_CHUNK = 2000  # data items created per transaction while launching


class RouterLostError(MephistoError):
    """The router stopped by itself (its process died), so the operator stopped the run; a launch resumes it."""


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


@dataclass
class _Outcome:
    """How the run ended, for the clean-up that releases it: True once every unit is done."""

    completed: bool = False
    launcher: TaskLauncher | None = None  # set once units may be offered
    publisher: Publisher | None = None  # set with the launcher


@dataclass
class _WatchState:
    """What the watch loop remembers from one tick to the next."""

    last_beat: float = -math.inf
    graceful_started: bool = False
    #: when every unit was found done (the run then waits for pages that may not have read their last answer)
    done_at: float | None = None
    waiting_logged: bool = False


class Operator:
    """Runs one task run end to end on the current event loop."""

    def __init__(self, settings: Settings, database: Database, join: bool = False) -> None:
        self.settings = settings
        self.database = database
        #: `--join`: serve workers of a run another live process owns (operator_lease.py), nothing else
        self.join = join
        #: whether this process beats an operator lease (PostgreSQL: the runs other processes may join)
        self._leases = join
        self.writer = DatabaseWriter(database)
        self.stats = RunStats()
        self.owner = run_setup.this_process()
        self._stop_level = 0
        self._stop_event = asyncio.Event()
        self.ready = asyncio.Event()  # set once workers can open the link
        self._background_counts: BackgroundCounts | None = None
        self._side: SideConnection | None = None
        self.ctx: RunContext | None = None
        self.io: ClientIOHandler | None = None
        self.worker_pool: WorkerPool | None = None
        #: the in-run platform sync, when the provider asks for one (`sync_interval_seconds`)
        self.platform_sync: PlatformSync | None = None
        #: where this run's OpenMetrics are served ("" when `metrics_port` is unset)
        self.metrics_url = ""

    def request_stop(self) -> None:
        """First call: finish gracefully. Second call: stop now."""
        self._stop_level += 1
        self.stats.stopping = "graceful" if self._stop_level == 1 else "now"
        if self.ctx is not None:
            self.ctx.accepting = False
        self._stop_event.set()

    async def run(self, config: TaskConfig, on_ready: Callable[[RunStats], None] | None = None) -> RunStats:
        """Launch (or resume) the task and return when it is done or stopped."""
        if self.join:
            operator_lease.check_can_join(self.database.db)
        blueprint, provider, architect = self._instantiate(config)
        if self.join:
            operator_lease.check_provider_can_join(provider.type_name, provider.publishes_units)
        # The full data check runs while units are offered: the feeder stops at the first bad item.
        await asyncio.to_thread(blueprint.check_launch)
        self._rules = await asyncio.to_thread(RunRules.from_config, config, blueprint)
        architect.check()
        try:
            async with contextlib.AsyncExitStack() as stack:
                self.writer.start()
                stack.callback(self.writer.stop)  # last out: every clean-up above may still write
                serve = self._serve_joined if self.join else self._run
                return await serve(stack, config, blueprint, provider, architect, on_ready)
        finally:
            if self.stats.run_id and not self.join:  # a joined process leaves the run's clean-up to its owner
                # Last of all, the run released: a warning if it left anything behind (see operations/cleanup.py).
                await asyncio.to_thread(self._check_leftovers, self.stats.run_id)

    def _check_leftovers(self, run_id: int) -> None:
        try:
            cleanup.warn_about_leftovers(self.settings, self.database, run_id)
        finally:
            self.database.db.close()  # this helper thread's own connection (peewee keeps one per thread)

    def _instantiate(self, config: TaskConfig) -> tuple[Blueprint, CrowdProvider, Architect]:
        registry = get_registry()
        blueprint_cls = registry.get("blueprint", config.blueprint_type)
        architect = registry.get("architect", config.architect_type)(config.architect_args, self.settings.runs_dir)
        # Before credentials are read: a task that cannot reach the platform's workers stops here.
        check_public_https(registry.get("provider", config.provider_type), architect, config.path)
        try:
            provider = build_provider(self.settings, config.provider_type, config.provider_args)
        except ConfigError as exc:
            if exc.file is not None:  # already located (e.g. the user config file)
                raise
            raise ConfigError(exc.detail, file=config.path, key=exc.key) from exc
        blueprint = blueprint_cls(config.blueprint_args, config.task, config.task_dir)
        self._requester_name = provider.requester_name
        return blueprint, provider, architect

    async def _run(
        self,
        stack: contextlib.AsyncExitStack,
        config: TaskConfig,
        blueprint: Blueprint,
        provider: CrowdProvider,
        architect: Architect,
        on_ready: Callable[[RunStats], None] | None,
    ) -> RunStats:
        """Set the run up step by step, each step's clean-up pushed on `stack` as soon as the step succeeded.

        The stack unwinds in reverse on any exit (done, stopped, failed): the feeder is cancelled, the channel
        stopped, the router shut down, the provider's `cleanup_resources` called (once the router was deployed,
        also when `setup_resources` raised), uploads no submission lists swept, and the run released, or deleted
        when this launch created it and failed before any worker reached it (`run_setup.discard_untouched`).
        """
        selection = await self.writer.call(
            run_setup.select_run, config, self._requester_name, self.owner, provider.is_sandbox
        )
        outcome = _Outcome()
        # Every platform call runs on the provider's own threads, never on the writer thread; they outlive
        # the run's last clean-up, which may withdraw units.
        calls = ProviderCalls(provider)
        stack.callback(calls.close)
        stack.push_async_exit(functools.partial(self._leave_run, selection, outcome))
        self._leases = isinstance(self.database.db, pw.PostgresqlDatabase)  # only such runs can be joined
        if self._leases:
            await self.writer.call(
                operator_lease.take_owner_lease, selection.run.id, self.owner, selection.previous_owner
            )
            stack.push_async_callback(self._drop_lease, selection.run.id)
        ctx = RunContext(self.settings, config, selection.task, selection.run, blueprint, provider, rules=self._rules)
        self.ctx = ctx
        if self._stop_level:
            ctx.accepting = False
        self.stats.task_name, self.stats.run_id, self.stats.resumed = (
            config.task.name,
            selection.run.id,
            selection.resumed,
        )
        launcher = outcome.launcher = TaskLauncher(ctx)
        self._start_side_connection(stack, launcher)
        publisher = outcome.publisher = Publisher(
            ctx, self.writer, calls, launcher.expire_unclaimed, launcher.units_offered
        )
        stack.push_async_callback(publisher.close)
        pool = WorkerPool(ctx, UploadStore(self.settings.data_dir))
        pool.queries.held_by = self.owner  # names this process on the agents it hands out
        self.worker_pool = pool
        io = ClientIOHandler(pool, self.writer, pool.uploads, calls)
        self.io = io
        io.live = blueprint.live_session(LiveBridge(io, pool, self.writer))
        if io.live is not None:
            stack.push_async_callback(io.live.close)
        self.metrics_url = metrics_server.start(stack, self.settings, self.stats, lambda: self.io, selection.run.id)

        build_dir = self.settings.runs_dir / str(selection.run.id) / "build"
        await asyncio.to_thread(_fresh_build, blueprint, build_dir)
        secret = secrets.token_urlsafe(32)
        deployment = await architect.deploy(build_dir, secret)
        # Pushed in reverse of the order they run in: shut the router, clean the provider up, then sweep.
        stack.push_async_callback(upload_sweep.sweep_run, self.writer, selection.run.id, pool.uploads)
        stack.push_async_callback(asyncio.to_thread, provider.cleanup_resources, selection.run)
        stack.push_async_callback(architect.shutdown)
        router_lost = await self._connect_channel(stack, architect, deployment, secret, build_dir, io)
        ctx.worker_url = deployment.worker_url
        self.stats.worker_url = deployment.worker_url
        requirements = await asyncio.to_thread(provider.platform_requirements, config.task.qualifications)
        for line in requirement_lines(requirements):
            log.info("qualification %s", line)
        await asyncio.to_thread(provider.setup_resources, selection.run, deployment.worker_url)
        # Before anything is offered: what a killed process was publishing, then the platform's view of every
        # open unit (first launch and resume alike).
        await publisher.resolve_open_intents()
        await reconcile_run(ctx, self.writer, calls, self.settings.runs_dir / str(selection.run.id))
        if selection.resumed:
            # Files a killed process received for attempts that are over now, and no submission lists.
            await upload_sweep.sweep_run(self.writer, selection.run.id, pool.uploads)
            # Agents a dead process left in task get the grace period to come back, then their units are
            # offered again. Units an earlier stop withdrew wait with the never-offered ones: the feeder's
            # `launch_available` offers them first, within `max_num_concurrent_units`.
            # Not those a live `--join` process holds: its pages are still connected to it.
            left = await self.writer.call(operator_leases.orphaned_in_task_agents, selection.run.id, self.owner)
            io.watch_absent([(False, agent_id) for agent_id in left])
        first_chunk = asyncio.Event()
        feeder = asyncio.create_task(self._feed(launcher, publisher, blueprint, first_chunk))
        stack.callback(feeder.cancel)
        # The link is printed once the first units are offered, not after the whole data set.
        await asyncio.wait({feeder, asyncio.ensure_future(first_chunk.wait())}, return_when=asyncio.FIRST_COMPLETED)
        if feeder.done() and feeder.exception() is not None:
            await self._withdraw_unclaimed(publisher)  # a resume may have offered expired units
            raise feeder.exception()  # type: ignore[misc]
        await self._refresh(launcher, io)
        self.ready.set()
        if on_ready is not None:
            on_ready(self.stats)
        run_dir = self.settings.runs_dir / str(selection.run.id)
        self.platform_sync = start_platform_sync(stack, pool, io, self.writer, calls, run_dir)
        outcome.completed = await self._watch(ctx, launcher, publisher, pool, io, feeder, router_lost)
        if outcome.completed:
            await _tell_router_the_run_is_over(io)
        return self.stats

    async def _serve_joined(
        self,
        stack: contextlib.AsyncExitStack,
        config: TaskConfig,
        blueprint: Blueprint,
        provider: CrowdProvider,
        architect: Architect,
        on_ready: Callable[[RunStats], None] | None,
    ) -> RunStats:
        """`--join`: serve the workers of a run another live process owns, through this process's own router.

        Creates no unit, offers and publishes nothing, reconciles nothing: all of that is the owner's. Ends when
        the database has no incomplete unit, or at a stop of this process (its held units go back to the pool),
        or after the owner released the run (a stop of the whole run) once this process's pages are done.
        """
        selection = await self.writer.call(operator_lease.join_run, config, self.owner)
        run_id = selection.run.id
        stack.push_async_callback(self._leave_joined, run_id)
        calls = ProviderCalls(provider)
        stack.callback(calls.close)
        ctx = RunContext(self.settings, config, selection.task, selection.run, blueprint, provider, rules=self._rules)
        self.ctx = ctx
        if self._stop_level:
            ctx.accepting = False
        self.stats.task_name, self.stats.run_id, self.stats.resumed = config.task.name, run_id, True
        launcher = TaskLauncher(ctx)  # counts units only: creating and offering them is the owner's
        self._start_side_connection(stack, launcher)
        pool = WorkerPool(ctx, UploadStore(self.settings.data_dir))
        pool.queries.held_by = self.owner
        self.worker_pool = pool
        io = ClientIOHandler(pool, self.writer, pool.uploads, calls)
        self.io = io
        live = blueprint.live_session(LiveBridge(io, pool, self.writer))
        if live is not None:
            await live.close()
            raise ConfigError(
                "--join cannot serve a live task: the workers of one conversation must reach the one process that "
                "keeps it. Serve live tasks from one process.",
                file=config.path,
            )
        self.metrics_url = metrics_server.start(stack, self.settings, self.stats, lambda: self.io, run_id)
        # Its own build folder: the owner (maybe on this machine) serves from runs/<id>/build.
        build_dir = self.settings.runs_dir / str(run_id) / f"join-{self.owner.replace(':', '-')}" / "build"
        await asyncio.to_thread(_fresh_build, blueprint, build_dir)
        secret = secrets.token_urlsafe(32)
        deployment = await architect.deploy(build_dir, secret)
        stack.push_async_callback(architect.shutdown)
        router_lost = await self._connect_channel(stack, architect, deployment, secret, build_dir, io)
        ctx.worker_url = deployment.worker_url
        self.stats.worker_url = deployment.worker_url
        await self._refresh(launcher, io)
        self.ready.set()
        if on_ready is not None:
            on_ready(self.stats)
        log.info(
            "joined run %d of task %r (owner %s) as %s", run_id, config.task.name, selection.previous_owner, self.owner
        )
        if await self._watch_joined(ctx, launcher, pool, io, router_lost):
            await _tell_router_the_run_is_over(io)
        return self.stats

    async def _watch_joined(
        self,
        ctx: RunContext,
        launcher: TaskLauncher,
        pool: WorkerPool,
        io: ClientIOHandler,
        router_lost: asyncio.Task[str | None],
    ) -> bool:
        """The watch loop of a joined process: True when every unit of the run is done, False after a stop."""
        last_beat = -math.inf
        owner_warned = False
        state = _WatchState()  # for the wait for late answers only
        outage = DatabaseOutage("serving the joined run")
        while True:
            if router_lost.done() and (reason := router_lost.result()) is not None:
                if state.done_at is not None:
                    return True  # every unit is done: no page can come back for its answer now
                raise RouterLostError(f"{reason}\nThis --join process stopped; the other processes go on serving.")
            if self._stop_level >= 2:
                return False
            try:
                now = time.monotonic()
                if now - last_beat >= operator_leases.LEASE_BEAT_SECONDS:
                    await self._beat_lease(ctx)
                    last_beat = now
                    owner, age, completed = await self._tick_read(operator_lease.run_owner_state, ctx.run.id)
                    # A completed run ends below, once this process's pages have had their last answers.
                    if not completed and owner is None and not self._stop_level:  # the owner stopped it early
                        log.warning("the run's owner stopped run %d: this --join process stops too", ctx.run.id)
                        self.request_stop()
                    elif not completed and not owner_warned and (age is None or age >= run_setup.OWNER_TIMEOUT_SECONDS):
                        log.warning(
                            "the run's owner %s stopped beating: this process goes on serving the units offered "
                            "(and those returned), but nothing new is offered. Launch the task without --join "
                            "to take the run over.",
                            owner,
                        )
                        owner_warned = True
                await self._release_absent(pool, io, now, ctx.config.task.disconnect_grace_seconds)
                await self._time_out_overdue(pool, io)
                await self._refresh(launcher, io)
                if self.stats.count(*INCOMPLETE_UNIT_STATUSES) == 0:
                    # Over when the owner says so (it may still be creating units), or when nobody is left to
                    # create more (the owner died).
                    owner, age, completed = await self._tick_read(operator_lease.run_owner_state, ctx.run.id)
                    over = completed or owner is None or age is None or age >= run_setup.OWNER_TIMEOUT_SECONDS
                    if over and not await self._waiting_for_late_answers(io, state, now):
                        return True
                if self._stop_level and not await self.writer.call(operator_leases.held_count, ctx.run.id, self.owner):
                    return False
            except pw.OperationalError as exc:
                outage.failed(exc)
            else:
                outage.succeeded()
            try:
                await asyncio.wait_for(self._stop_event.wait(), TICK_SECONDS)
                self._stop_event.clear()
            except TimeoutError:
                pass

    async def _waiting_for_late_answers(self, io: ClientIOHandler, state: _WatchState, now: float) -> bool:
        """Whether a run whose every unit is done still serves pages that may come back for their last answer."""
        if state.done_at is None:
            state.done_at = now
        if now - state.done_at >= late_answers.MAX_WAIT_SECONDS:
            return False
        await io.check_answers_delivered(TICK_SECONDS)
        channel_down = io.channel is not None and not io.channel.connected
        reason = io.unread.wait_reason(now, channel_down)
        if reason is not None and not state.waiting_logged:
            log.info(
                "every unit is done; the server answers for up to %.0f s more, since %s",
                late_answers.MAX_WAIT_SECONDS - (now - state.done_at),
                reason,
            )
            state.waiting_logged = True
        return reason is not None

    async def _beat_lease(self, ctx: RunContext) -> None:
        """Beat this process's operator lease and return what a dead process of the run held (offered again)."""
        _, returned = await self._tick_write(operator_lease.beat_and_reclaim, ctx.run.id, self.owner)
        if returned:
            ctx.offered()

    async def _time_out_overdue(self, pool: WorkerPool, io: ClientIOHandler) -> None:
        """Attempts past their deadline are timed out, and their pages told."""
        # On a run several processes may serve, each times out the agents whose pages it holds (the page told is
        # connected here), the owner also those no live process holds; a single SQLite process all of them.
        holder = self.owner if self._leases else None
        # Found beside the writer: `release_agent` times an agent out only if it is still in task.
        find = self.writer.call if self._side is None else self._side.read
        for agent_id in await find(pool.agents_past_deadline, holder, self.join):
            if await self.writer.call(pool.release_agent, agent_id, AgentStatus.TIMED_OUT):
                io.push_status((False, agent_id), AgentStatus.TIMED_OUT.value)
                io.forget_agent((False, agent_id))

    async def _leave_joined(self, run_id: int) -> None:
        """A joined process's last clean-up: its in-task agents back to the pool, its lease gone."""
        try:
            returned = await self.writer.call(operator_lease.leave, run_id, self.owner)
        except pw.OperationalError as exc:
            log.warning(
                "could not leave run %d (%s); its lease expires and another process returns its units", run_id, exc
            )
            return
        if returned:
            log.info("%d units this process's workers held went back to the pool", returned)

    async def _drop_lease(self, run_id: int) -> None:
        try:
            await self.writer.call(operator_leases.drop, run_id, self.owner)
        except pw.OperationalError as exc:
            log.warning("could not drop the operator lease of run %d (%s); it expires by itself", run_id, exc)

    async def _leave_run(
        self,
        selection: run_setup.RunSelection,
        outcome: _Outcome,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        """The run's last clean-up: delete it when this launch made it and failed untouched, else release it."""
        # Units offered at the provider must be withdrawn before their rows may go.
        withdrawn = isinstance(exc, Exception) and (
            outcome.publisher is None or await self._withdraw_unclaimed(outcome.publisher)
        )
        if withdrawn and not selection.resumed:
            try:
                if await self.writer.call(run_setup.discard_untouched, selection, self.owner):
                    log.info("the launch failed before any worker came: run %d deleted", selection.run.id)
                    await asyncio.to_thread(shutil.rmtree, self.settings.runs_dir / str(selection.run.id), True)
                    return False
            except pw.OperationalError as db_exc:
                log.warning(
                    "could not delete the failed run %d (%s); the next launch resumes it", selection.run.id, db_exc
                )
        await self._release(selection.run.id, outcome.completed)
        return False  # never swallow the exception

    async def _connect_channel(
        self,
        stack: contextlib.AsyncExitStack,
        architect: Architect,
        deployment: Deployment,
        secret: str,
        build_dir: Path,
        io: ClientIOHandler,
    ) -> asyncio.Task[str | None]:
        """Open the channel to the deployed router and hand it to `io`; the task that ends when the router is lost."""
        # Set by the channel when another operator took the router over (a standalone router serves one run).
        taken_over: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def lost_to_another_operator(reason: str) -> None:
            if not taken_over.done():
                taken_over.set_result(reason)

        router_lost = asyncio.create_task(self._watch_router(architect, taken_over), name="mephisto-router-watch")
        stack.callback(router_lost.cancel)

        channel: RouterChannel
        if deployment.local_link is not None:
            # The router shares this event loop: skip the loopback socket and its JSON round trips.
            channel = LocalOperatorChannel(deployment.local_link, io.on_envelope, io.on_upload)
        else:
            # A standalone router has its own deploy secret and may take the build over the channel.
            channels = [
                OperatorChannel(
                    url,
                    deployment.channel_secret or secret,
                    io.on_envelope,
                    io.on_upload,
                    build_dir=build_dir if deployment.push_build else None,
                    ca_file=deployment.ca_file,
                    on_taken_over=lost_to_another_operator,
                )
                for url in deployment.channel_urls or (deployment.channel_url,)
            ]
            # Routers sharing the worker port: one channel each, envelopes sent to the router holding the socket.
            channel = channels[0] if len(channels) == 1 else ShardedChannel(channels)
        io.channel = channel
        await self._open_channel(channel, router_lost)
        stack.push_async_callback(channel.stop)
        return router_lost

    async def _open_channel(self, channel: RouterChannel, router_lost: asyncio.Task[str | None]) -> None:
        """Open the channel, unless the router dies first: then say so rather than time out on the channel."""
        opening = asyncio.ensure_future(channel.start())
        await asyncio.wait({opening, router_lost}, return_when=asyncio.FIRST_COMPLETED)
        if not opening.done() and router_lost.done() and (reason := router_lost.result()) is not None:
            opening.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await opening
            raise RouterLostError(f"{reason}\nThe router died before the operator could connect to it. {RESUME_HINT}")
        await opening

    async def _watch_router(self, architect: Architect, taken_over: asyncio.Future[str]) -> str | None:
        # Whichever comes first: the architect saying its router died, or the channel losing it to another
        # operator (then also after an architect with nothing to watch returned None at once).
        watching = asyncio.ensure_future(architect.watch_router())
        either: set[asyncio.Future[Any]] = {watching, taken_over}
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if taken_over.done():
                reason: str | None = taken_over.result()
            else:
                reason = watching.result()
                if reason is None:
                    reason = await asyncio.shield(taken_over)
        finally:
            watching.cancel()
        if reason is not None:
            self._stop_event.set()  # wake the watch loop now rather than at its next tick
        return reason

    async def _release(self, run_id: int, completed: bool) -> None:
        try:
            await self.writer.call(run_setup.release, run_id, self.owner, completed)
        except pw.OperationalError as exc:
            # Raising here would hide why the run ended. The next launch takes the run over anyway: this
            # process is gone by then, and a dead owner's run is taken at once.
            log.warning("could not mark run %d as released (%s); the next launch takes it over", run_id, exc)

    async def _feed(
        self, launcher: TaskLauncher, publisher: Publisher, blueprint: Blueprint, first_chunk: asyncio.Event
    ) -> None:
        """Create the run's assignments chunk by chunk, offering each chunk at once; resumes where a crash stopped.

        On PostgreSQL beside the writer, as the tick's writes (`_tick_write`): new rows, and units no worker holds.
        On the writer, a chunk and its offer held up every hello and submission queued behind them for about
        150 ms each in a run's first second, with the database 11 ms away."""
        outage = DatabaseOutage("creating the run's units")
        items = blueprint.iter_assignments()
        done = await self._call_until_done(outage, launcher.assignments_created)
        await asyncio.to_thread(lambda: next(itertools.islice(items, done, done), None))  # skip what exists
        if done:
            # A resumed run's waiting units (withdrawn by a stop, or never offered) before the link is printed.
            await self._call_until_done(outage, launcher.launch_available)
            await publisher.kick()
        while not self._stop_level:
            chunk = await asyncio.to_thread(lambda: list(itertools.islice(items, FEED_CHUNK)))
            if not chunk:
                launcher.ctx.all_created = True
                break
            # A failed chunk is undone whole (one transaction, or one writer job in its savepoint), so trying it
            # again is safe.
            await self._call_until_done(outage, launcher.create_assignments, chunk)
            await self._call_until_done(outage, launcher.launch_available)
            # Waited for here (on the platform, not the writer): the link is printed once units are offered.
            await publisher.kick()
            first_chunk.set()
        first_chunk.set()

    async def _call_until_done(self, outage: DatabaseOutage, fn: Callable[..., T], *args: Any) -> T:
        """`_tick_write(fn, *args)`, tried again every tick while the database fails, up to the outage's limit."""
        while True:
            try:
                result = await self._tick_write(fn, *args)
            except pw.OperationalError as exc:
                outage.failed(exc)
                await asyncio.sleep(TICK_SECONDS)
                continue
            outage.succeeded()
            return result

    async def _watch(
        self,
        ctx: RunContext,
        launcher: TaskLauncher,
        publisher: Publisher,
        pool: WorkerPool,
        io: ClientIOHandler,
        feeder: asyncio.Task[None],
        router_lost: asyncio.Task[str | None],
    ) -> bool:
        """Tick until every unit is done (True) or a stop ends the run early (False).

        Raises RouterLostError when the architect reports its router dead, and DatabaseUnavailableError when
        every tick has failed on the database for `database_outage.GIVE_UP_SECONDS`.
        """
        state = _WatchState()
        outage = DatabaseOutage("running the run's tick")
        while True:
            if router_lost.done() and (reason := router_lost.result()) is not None:
                if state.done_at is not None:
                    return True  # every unit is done: no page can come back for its answer now
                await self._stop_for_lost_router(launcher, publisher, io, reason)
            try:
                finished = await self._tick(ctx, launcher, publisher, pool, io, feeder, state)
            except pw.OperationalError as exc:
                if self._stop_level >= 2:
                    log.warning("database error while stopping now (%s); the counts shown may be stale", exc)
                    return False
                outage.failed(exc)
            else:
                outage.succeeded()
                if finished is not None:
                    return finished
            try:
                await asyncio.wait_for(self._stop_event.wait(), TICK_SECONDS)
                self._stop_event.clear()
            except TimeoutError:
                pass

    async def _tick(
        self,
        ctx: RunContext,
        launcher: TaskLauncher,
        publisher: Publisher,
        pool: WorkerPool,
        io: ClientIOHandler,
        feeder: asyncio.Task[None],
        state: _WatchState,
    ) -> bool | None:
        """One round of the watch loop; the run's outcome when it is over, None while it goes on.

        Every step may fail on the database (peewee.OperationalError) and is then simply done again next tick:
        each writer call is its own savepoint, and what the loop remembers changes only after a call succeeded.
        """
        if self._stop_level and not state.graceful_started:
            # Either speed of stop withdraws what nobody holds, so no worker accepts work at the
            # provider that no server will serve.
            await publisher.withdraw_unclaimed()
            state.graceful_started = True
        if self._stop_level >= 2:
            await self._refresh(launcher, io)
            return False
        now = time.monotonic()
        if now - state.last_beat >= run_setup.HEARTBEAT_SECONDS:
            await self._tick_write(run_setup.beat, ctx.run.id, self.owner)
            if self._leases:
                await self._beat_lease(ctx)
            state.last_beat = now
        await self._release_absent(pool, io, now, ctx.config.task.disconnect_grace_seconds)
        await self._time_out_overdue(pool, io)
        if not state.graceful_started:
            await self._tick_write(launcher.launch_available)
            publisher.kick()
        await self._refresh(launcher, io)
        if feeder.done() and not feeder.cancelled() and feeder.exception() is not None:
            # A data item the blueprint could not read: none of its units exist; withdraw the offered ones.
            await self._withdraw_unclaimed(publisher)
            raise feeder.exception()  # type: ignore[misc]
        incomplete = self.stats.count(*INCOMPLETE_UNIT_STATUSES)
        if incomplete == 0 and (feeder.done() or state.graceful_started):
            if not state.graceful_started and await self._waiting_for_late_answers(io, state, now):
                return None
            return not state.graceful_started or self.stats.count(UnitStatus.EXPIRED) == 0
        if state.graceful_started and self.stats.count(UnitStatus.ASSIGNED) == 0:
            return False
        return None

    async def _withdraw_unclaimed(self, publisher: Publisher) -> bool:
        """Withdraw the unclaimed units of a run that is about to fail; False when that failed.

        A failure here (the database, or the provider's `expire_units`) is only logged, so the failure that
        stops the run is the one reported.
        """
        try:
            await publisher.withdraw_unclaimed()
        except Exception as exc:  # logged, and the caller keeps the run so the next launch withdraws them
            log.warning("could not withdraw the unclaimed units (%s); the next launch offers them again", exc)
            return False
        return True

    async def _stop_for_lost_router(
        self, launcher: TaskLauncher, publisher: Publisher, io: ClientIOHandler, reason: str
    ) -> None:
        """Stop as a stop now would, then raise RouterLostError with `reason` and how to resume."""
        self._stop_level = max(self._stop_level, 2)
        self.stats.stopping = "now"
        if self.ctx is not None:
            self.ctx.accepting = False
        # As for Ctrl-C: units nobody holds are withdrawn at the provider, since nothing serves them now.
        # Units that pages held stay `assigned`; the next launch offers them again after the grace period.
        await self._withdraw_unclaimed(publisher)
        try:
            await self._refresh(launcher, io)
        except pw.OperationalError as exc:
            log.warning("database error while counting units after the router died (%s)", exc)
        left = self.stats.count(*INCOMPLETE_UNIT_STATUSES, UnitStatus.EXPIRED)  # expired: withdrawn just now
        raise RouterLostError(
            f"{reason}\nWorkers cannot reach the task any more, so the run stopped with {left} of "
            f"{self.stats.total} units not done. {RESUME_HINT}"
        )

    async def _release_absent(self, pool: WorkerPool, io: ClientIOHandler, now: float, grace: float) -> None:
        for agent, since in list(io.absent_since.items()):
            if now - since < grace:
                continue
            is_onboarding, agent_id = agent
            if is_onboarding:
                await self.writer.call(pool.release_onboarding, agent_id)
            else:
                await self.writer.call(pool.release_agent, agent_id, AgentStatus.DISCONNECTED)
            io.forget_agent(agent)  # only once released: a failed release is tried again next tick

    def _start_side_connection(self, stack: contextlib.AsyncExitStack, launcher: TaskLauncher) -> None:
        """The run's side connection (`side_connection.py`), on which a large run's units are counted off the
        writer (`background_count.py`, started at each tick), the agents past their deadline are found and, on
        PostgreSQL, the tick's beat, offer of waiting units and count are made."""
        side = self._side = SideConnection(self.database)
        stack.push_async_callback(self._close_side, side)
        self._background_counts = BackgroundCounts(self._side, self.writer, launcher.counts, launcher.count_by_status)
        stack.push_async_callback(self._background_counts.close)

    async def _close_side(self, side: SideConnection) -> None:
        """Close the side connection; what the run does after goes through the writer again."""
        if self._side is side:
            self._side = None
        await side.close()

    async def _tick_write(self, fn: Callable[..., T], *args: Any) -> T:
        """A write of the tick's own: beside the writer on PostgreSQL (`side_connection.py`), where on the writer
        its round trips held up every hello and submission queued behind it (the longest pauses of a run served
        from a database 11 ms away); on the writer on SQLite."""
        if self._side is not None and self._side.writes:
            ctx = self.ctx
            offers = ctx.offers if ctx is not None else None
            result = await self._side.write(fn, *args)
            if ctx is not None and ctx.offers != offers:
                # It offered units, and moved `offers` before its commit: again now that they are committed, so
                # that a "nothing to offer" hint the writer took from a read in between is dropped.
                ctx.offered()
            return result
        return await self.writer.call(fn, *args)

    async def _tick_read(self, fn: Callable[..., T], *args: Any) -> T:
        """A read of the tick's own: beside the writer on PostgreSQL, as its writes are (`_tick_write`)."""
        if self._side is not None and self._side.writes:
            return await self._side.read(fn, *args)
        return await self.writer.call(fn, *args)

    async def _refresh(self, launcher: TaskLauncher, io: ClientIOHandler) -> None:
        # What the count decides holds on what is committed, as read beside the writer: no unit comes back to an
        # unfinished status once finished, and the data's units are all committed before the feeder is done.
        self.stats.counts = await self._tick_read(launcher.status_counts)
        if self._background_counts is not None:
            self._background_counts.kick()
        self.stats.refusals = dict(io.refusals)
        self.stats.submissions_per_minute = io.submissions_in_last(60)


def _fresh_build(blueprint: Blueprint, build_dir: Path) -> None:
    if build_dir.exists():
        shutil.rmtree(build_dir)
    make_private_dir(build_dir.parent)  # runs/<id>/ holds the run's logs: private, as the data dir
    build_dir.mkdir()
    blueprint.build(build_dir)


async def _tell_router_the_run_is_over(io: ClientIOHandler) -> None:
    """Every unit is done: the router answers pages that come after this process left (`run_over`) rather than
    have them wait for an operator (docs/protocol.md); run_over_notice says how a channel that is down is waited
    for."""
    if io.channel is not None:
        await tell_router_the_run_is_over(io.channel, await io.answers_after_run_over())
