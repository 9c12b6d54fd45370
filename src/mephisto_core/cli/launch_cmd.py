"""`mephisto launch`: serve a task to workers until every unit is done, with a live panel."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from mephisto_core.cli._launch_panel import LaunchDisplay
    from mephisto_core.data_model import Database
    from mephisto_core.operations.run.operator import RunStats
    from mephisto_core.settings import Settings
    from mephisto_core.task_config import TaskConfig


@click.command()
@click.argument("task_file", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("overrides", nargs=-1)
@click.option(
    "--simulate",
    "simulate",
    type=click.IntRange(min=0),
    default=0,
    metavar="N",
    help="Also run N simulated workers through the real server (they answer what the blueprint proposes).",
)
@click.option(
    "--simulate-log",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Append one JSON line per submission a simulated worker saw acknowledged.",
)
@click.option("--panel/--no-panel", default=None, help="Live panel (default: on when the output is a terminal).")
@click.option(
    "--metrics-port",
    type=click.IntRange(min=0, max=65535),
    default=None,
    help="Serve OpenMetrics on 127.0.0.1:PORT while the run goes on (0: a free port; docs/monitoring.md). "
    "Default: MEPHISTO_METRICS_PORT, else off.",
)
@click.option(
    "--join",
    is_flag=True,
    help="Serve the task's run with this process too, next to the launch that owns it (PostgreSQL only): its own "
    "router and worker link, units of the same run. See 'Several operators on one run' in docs/reliability.md.",
)
def launch(
    task_file: Path,
    overrides: tuple[str, ...],
    simulate: int,
    simulate_log: Path | None,
    panel: bool | None,
    metrics_port: int | None,
    join: bool,
) -> None:
    """Launch TASK_FILE (with optional section.key=value OVERRIDES) and serve it until every unit is done.

    Launching the same task name again resumes its unfinished units. Ctrl-C once: hand out no new units and
    wait for work in flight; twice: stop now (held units are offered again on the next launch).

    With --join, this process only helps a running launch of the task serve workers (on PostgreSQL); Ctrl-C then
    stops this process alone, and the units its workers held go back to the pool.
    """
    from mephisto_core import event_loop
    from mephisto_core.cli.context import load_settings, open_settings_database
    from mephisto_core.router.open_files import raise_open_file_limit
    from mephisto_core.task_config import load_task_config

    settings = load_settings()
    if metrics_port is not None:
        settings = settings.model_copy(update={"metrics_port": metrics_port})
    config = load_task_config(task_file, overrides)
    if simulate:
        _check_provider_can_simulate(settings, config)
    # An in-process router holds one socket per worker page in this process.
    raise_open_file_limit()
    database = open_settings_database(settings)
    try:
        event_loop.run(
            _launch(
                settings,
                database,
                config,
                simulate,
                simulate_log,
                sys.stdout.isatty() if panel is None else panel,
                join,
            ),
            settings.event_loop,
        )
    finally:
        database.close()


async def _launch(
    settings: Settings,
    database: Database,
    config: TaskConfig,
    simulate: int,
    simulate_log: Path | None,
    panel: bool,
    join: bool = False,
) -> None:
    from mephisto_core import collector
    from mephisto_core.cli._launch_panel import LaunchDisplay
    from mephisto_core.data_model import UnitStatus
    from mephisto_core.operations.run.operator import Operator
    from mephisto_core.operations.run.simulate import run_crowd

    operator = Operator(settings, database, join=join)
    display = LaunchDisplay(operator.stats, live=panel)
    loop = asyncio.get_running_loop()

    def on_interrupt() -> None:
        operator.request_stop()
        if join:
            display.note(
                "Stopping: this --join process hands out no new units; waiting for its workers' units in flight. "
                "Press Ctrl-C again to stop now (their units go back to the pool). The other processes go on."
                if operator.stats.stopping == "graceful"
                else "Second Ctrl-C: stopping this --join process now; its workers' units go back to the pool."
            )
            return
        display.note(
            "Stopping: no new units; waiting for work in flight. Press Ctrl-C again to stop now."
            if operator.stats.stopping == "graceful"
            else "Second Ctrl-C: stopping now, without waiting. Units nobody has taken are withdrawn from the "
            "provider; workers still on a unit cannot submit it while the task is stopped. Launch this task again "
            "to offer every unfinished unit again."
        )

    loop.add_signal_handler(signal.SIGINT, on_interrupt)
    loop.add_signal_handler(signal.SIGTERM, on_interrupt)
    bots: asyncio.Task[object] | None = None

    def on_ready(stats: RunStats) -> None:
        nonlocal bots
        assert operator.ctx is not None
        if collector.process_is_ours:
            collector.settle_after_start()
        if join:
            display.note(
                f"Joined the run: this process serves workers of run {stats.run_id} through its own link; the launch "
                "that owns the run creates and offers its units."
            )
        display.announce(operator.ctx.provider.worker_link(stats.worker_url), stats)
        if simulate:
            bots = asyncio.create_task(
                run_crowd(
                    stats.worker_url,
                    operator.ctx.blueprint,
                    simulate,
                    ack_log=simulate_log,
                    # A joined process's bots are other workers than the owner's (names are per provider).
                    name_prefix=f"sim-{operator.owner.replace(':', '-')}" if join else "sim",
                    provider=operator.ctx.provider,
                    # Bots call the task's procedures too, when its module says with what (SIMULATED_CALLS).
                    calls=operator.ctx.rules.procedures.simulated_calls if operator.ctx.rules.procedures else (),
                )
            )

    try:
        with display:
            run = asyncio.create_task(operator.run(config, on_ready))
            await _refresh_until_done(run, display)
            stats = run.result()
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        loop.remove_signal_handler(signal.SIGTERM)
        if bots is not None and not bots.done():
            bots.cancel()
    if join and stats.count(UnitStatus.CREATED, UnitStatus.LAUNCHED, UnitStatus.ASSIGNED):
        display.console.print(
            f"This --join process stopped (run {stats.run_id}); the process that owns the run goes on serving it.",
            highlight=False,
        )
        return
    display.summary(stats)


def _check_provider_can_simulate(settings: Settings, config: TaskConfig) -> None:
    """Refuse `--simulate` before anything is launched when the task's provider cannot make a simulated
    worker's link (ProviderError naming the provider)."""
    from mephisto_core.errors import ConfigError
    from mephisto_core.operations.providers import build_provider

    try:
        provider = build_provider(settings, config.provider_type, config.provider_args)
    except ConfigError as exc:
        if exc.file is not None:  # already located (e.g. the user config file)
            raise
        raise ConfigError(exc.detail, file=config.path, key=exc.key) from exc
    provider.simulated_worker_params("sim-0")


async def _refresh_until_done(run: asyncio.Task[RunStats], display: LaunchDisplay) -> None:
    while not run.done():
        display.refresh()
        await asyncio.wait({run}, timeout=0.5)
