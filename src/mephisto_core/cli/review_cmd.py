"""`mephisto review`: review submissions in a local web app (default) or in the terminal (`--cli`)."""

from __future__ import annotations

import ipaddress
import signal
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from types import FrameType

    from mephisto_core.data_model import Database
    from mephisto_core.settings import Settings


@click.group(invoke_without_command=True)
@click.option(
    "--task", "task_name", default=None, metavar="NAME", help="Open this task first (with --cli: review only it)."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve the review app on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port of the review app (0: a free one).",
)
@click.option("--no-browser", is_flag=True, help="Print the link but do not open a browser.")
@click.option("--cli", "in_terminal", is_flag=True, help="Review in this terminal instead of a browser.")
@click.option(
    "--undo-seconds",
    type=click.IntRange(0, 60),
    default=5,
    show_default=True,
    help="Web app: an approve / reject is sent this long after it is given, so Undo can take it back (0: at once).",
)
@click.pass_context
def review(
    ctx: click.Context,
    task_name: str | None,
    host: str,
    port: int,
    no_browser: bool,
    in_terminal: bool,
    undo_seconds: int,
) -> None:
    """Approve, reject, soft-reject and bonus submitted units; block workers and manage qualifications.

    The web app is served on this computer only (127.0.0.1) behind a secret link printed at start: open that
    exact link. With --cli, each unit awaiting review is shown here and one key decides it (? lists the keys).
    From a script: `mephisto review approve --task NAME --yes` (and reject, soft-reject, bonus; see their --help).
    """
    if ctx.invoked_subcommand is not None:
        return
    from mephisto_core.cli.context import load_settings, open_settings_database

    settings = load_settings()
    # The web app answers each request in a thread; kept connections spare each one a connection's round trips.
    database = open_settings_database(settings, keep_connections=not in_terminal)
    try:
        if in_terminal:
            from mephisto_core.cli._review_terminal import run_terminal_review

            run_terminal_review(settings, database, task_name)
        else:
            _serve(settings, database, task_name, host, port, open_browser=not no_browser, undo_seconds=undo_seconds)
    finally:
        database.close()


def _serve(
    settings: Settings,
    database: Database,
    task_name: str | None,
    host: str,
    port: int,
    open_browser: bool,
    undo_seconds: int = 5,
) -> None:
    from mephisto_core.review_app import ReviewApp, ReviewServer

    app = ReviewApp(settings, database, task=task_name, undo_seconds=undo_seconds)
    # Requests run in threads of their own: with kept connections the first one takes this thread's, opened at
    # start, instead of opening another while this one sits unused.
    database.db.close()
    try:
        server = ReviewServer(app, host, port)
    except OSError as exc:
        raise click.ClickException(
            f"cannot serve the review app on {host}:{port}: {exc.strerror or exc}. "
            "Pick another --port (0 picks a free one)."
        ) from exc
    if not _is_loopback(host):
        click.secho(
            f"Warning: serving on {host}, which other computers may reach. Anyone with the link can review.",
            fg="yellow",
            err=True,
        )
    click.echo(f"Review app: {server.url}")
    click.echo("Open that exact link (it carries the access token). Press Ctrl-C to stop.")
    if open_browser:
        import webbrowser

        if not webbrowser.open(server.url):
            click.echo("No browser could be opened here; open the link yourself.")
    # SIGTERM (a service manager, `kill`) stops the app as Ctrl-C does.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("Review app stopped.")
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.shutdown()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _add_bulk_commands() -> None:
    from mephisto_core.cli.review_bulk_cmds import approve, bonus, reject, soft_reject

    for command in (approve, reject, soft_reject, bonus):
        review.add_command(command)


_add_bulk_commands()
