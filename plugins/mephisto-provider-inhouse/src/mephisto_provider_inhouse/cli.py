"""`mephisto inhouse ...`: add and remove the known workers of in-house studies and print their personal links.

The commands use the roster in the same place the running provider reads it: the provider's data folder
(`CrowdProvider.data_dir_under`), i.e. `<MEPHISTO_DATA_DIR>/providers/inhouse/roster.toml`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from mephisto_core.errors import MephistoError
from mephisto_provider_inhouse.csv_input import WorkerToAdd, read_workers_csv
from mephisto_provider_inhouse.links import DEFAULT_BASE_URL, base_url_problem, personal_link
from mephisto_provider_inhouse.roster import (
    NAME_RULE,
    RosterWorker,
    edit_roster,
    name_problem,
    new_worker,
    read_roster,
    roster_path,
)

MAX_NAMES_SHOWN = 10  # past this, messages give a count instead of every name


class _InhouseGroup(click.Group):
    """Turns the plugin's expected errors into one-line messages, also when the group is run on its own."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MephistoError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_InhouseGroup)
def inhouse() -> None:
    """Manage the known workers of in-house studies (provider type `inhouse`) and their personal links.

    Each worker gets a secret token; their personal link `<base>?worker=NAME&token=TOKEN` is the only way
    in. Start with `mephisto inhouse add-worker alice bob`, then `mephisto inhouse links`.
    """


@inhouse.command("add-worker")
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option(
    "--csv",
    "csv_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="CSV file with a `name` column (and an optional `email` column), one worker per row.",
)
@click.option("--rotate", is_flag=True, help="Give workers who exist a new token; their old link stops working.")
def add_worker(names: tuple[str, ...], csv_file: Path | None, rotate: bool) -> None:
    """Add workers, each with a fresh secret token.

    A name that exists already is refused unless --rotate is given. Names have 1 to 64 characters: letters,
    digits and . _ - @. Nothing is changed when any name is wrong.
    """
    if not names and csv_file is None:
        raise click.UsageError("name at least one worker (mephisto inhouse add-worker alice bob) or give --csv FILE")
    to_add = [WorkerToAdd(name, None, f"argument {position}") for position, name in enumerate(names, 1)]
    for item in to_add:
        problem = name_problem(item.name)
        if problem is not None:
            raise click.UsageError(f"{item.source}: worker name {item.name!r} {problem}")
    if csv_file is not None:
        to_add += read_workers_csv(csv_file)
    _refuse_repeats(to_add)

    path = _roster_file()
    with edit_roster(path) as workers:
        existing = [item for item in to_add if item.name in workers]
        if existing and not rotate:
            first = existing[0]
            raise click.ClickException(
                f"{first.source}: worker {first.name!r} exists already"
                + (f" (and {len(existing) - 1} more)" if len(existing) > 1 else "")
                + ". Give --rotate to make new tokens (their old links stop working), "
                "or remove them first: mephisto inhouse remove-worker NAME. Nothing was changed."
            )
        for item in to_add:
            kept_email = workers[item.name].email if item.name in workers else None
            workers[item.name] = new_worker(item.name, item.email or kept_email)

    rotated = [item.name for item in existing]
    added = [item.name for item in to_add if item.name not in rotated]
    if added:
        click.echo(f"Added {_names(added, 'worker')}.")
    if rotated:
        click.echo(f"Made new tokens for {_names(rotated, 'worker')}: their old links no longer work.")
    click.echo(f"Roster: {path}")
    click.echo("Print the personal links with: mephisto inhouse links --base-url URL")


@inhouse.command("remove-worker")
@click.argument("names", nargs=-1, required=True, metavar="NAME...")
def remove_worker(names: tuple[str, ...]) -> None:
    """Remove workers: their personal links stop working, also in a task that is running.

    What they already submitted stays in the database.
    """
    path = _roster_file()
    with edit_roster(path) as workers:
        unknown = [name for name in names if name not in workers]
        if unknown:
            raise click.ClickException(
                f"no in-house worker named {unknown[0]!r}"
                + (f" (nor {', '.join(repr(n) for n in unknown[1:])})" if len(unknown) > 1 else "")
                + "; see them with: mephisto inhouse list. Nothing was changed."
            )
        for name in names:
            workers.pop(name, None)
    click.echo(f"Removed {_names(list(dict.fromkeys(names)), 'worker')}: their links no longer work.")


@inhouse.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (name, email, added_at) for scripts.")
def list_workers(as_json: bool) -> None:
    """List the known workers (without their tokens: see `mephisto inhouse links`)."""
    workers = list(read_roster(_roster_file()).values())
    if as_json:
        rows = [{"name": w.name, "email": w.email, "added_at": w.added_at} for w in workers]
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not workers:
        click.echo("No in-house workers yet. Add some with: mephisto inhouse add-worker NAME [NAME]...")
        return
    _echo_columns([("NAME", "EMAIL", "TOKEN MADE")] + [(w.name, w.email or "-", w.added_at) for w in workers])


@inhouse.command("links")
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option(
    "--base-url",
    default=DEFAULT_BASE_URL,
    show_default=True,
    help="The address workers open: the task server's (see `Worker link:` when you launch), or your proxy's.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (name, email, link) for scripts.")
def links(names: tuple[str, ...], base_url: str, as_json: bool) -> None:
    """Print each worker's personal link (or only those of the NAMEs given).

    Each link logs its worker in: send it to that person only.
    """
    problem = base_url_problem(base_url)
    if problem is not None:
        raise click.BadParameter(f"{base_url!r} {problem}", param_hint="--base-url")
    workers = read_roster(_roster_file())
    chosen = _chosen(workers, names)
    if as_json:
        rows = [{"name": w.name, "email": w.email, "link": personal_link(base_url, w.name, w.token)} for w in chosen]
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not chosen:
        click.echo("No in-house workers yet. Add some with: mephisto inhouse add-worker NAME [NAME]...")
        return
    _echo_columns([(w.name, personal_link(base_url, w.name, w.token)) for w in chosen])


def _roster_file() -> Path:
    # The folder the core gives the running provider (public API: CrowdProvider.data_dir_under), so both use
    # the same file.
    from mephisto_core.settings import load_settings_or_explain
    from mephisto_provider_inhouse.provider import InhouseProvider

    return roster_path(InhouseProvider.data_dir_under(load_settings_or_explain().data_dir))


def _refuse_repeats(to_add: list[WorkerToAdd]) -> None:
    first_seen: dict[str, WorkerToAdd] = {}
    for item in to_add:
        earlier = first_seen.setdefault(item.name, item)
        if earlier is not item:
            raise click.ClickException(
                f"{item.source}: worker {item.name!r} is also given at {earlier.source}; "
                "name each worker once. Nothing was changed."
            )


def _chosen(workers: dict[str, RosterWorker], names: tuple[str, ...]) -> list[RosterWorker]:
    if not names:
        return list(workers.values())
    unknown = [name for name in names if name not in workers]
    if unknown:
        raise click.ClickException(
            f"no in-house worker named {unknown[0]!r}; see them with: mephisto inhouse list (names have {NAME_RULE})"
        )
    return [workers[name] for name in dict.fromkeys(names)]


def _names(names: list[str], noun: str) -> str:
    count = f"{len(names)} {noun}{'' if len(names) == 1 else 's'}"
    if len(names) > MAX_NAMES_SHOWN:
        return count
    return f"{count} ({', '.join(names)})"


def _echo_columns(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)] + [row[-1]]
        click.echo("  ".join(cells))
