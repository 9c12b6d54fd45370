"""`mephisto cleanup`: list and remove what runs left behind, across every installed plugin."""

from __future__ import annotations

import sys

import click


@click.command()
@click.option("--dry-run", is_flag=True, help="Only list what was left behind; remove nothing.")
@click.option("--provider", "provider_type", default=None, help="Only the leftovers of this provider type.")
@click.option("--yes", is_flag=True, help="Remove without asking (needed when there is no terminal to ask on).")
def cleanup(dry_run: bool, provider_type: str | None, yes: bool) -> None:
    """List what runs left behind (HITs, studies, servers, processes) with its cost, and remove it.

    Every provider and architect plugin that can leave something behind lists it here. Nothing of a run a
    launch still serves is listed. Without --yes you are asked first; without a terminal, --yes is required.
    """
    from rich.table import Table
    from rich.text import Text

    from mephisto_core.cli._tables import console
    from mephisto_core.cli.context import load_settings, open_settings_database
    from mephisto_core.errors import MephistoError
    from mephisto_core.operations import cleanup as ops

    settings = load_settings()
    chosen, problems = ops.installed_cleaners(provider_type)
    database = open_settings_database(settings)
    try:
        scope = ops.scope_for(settings, database)
        findings = ops.find_leftovers(scope, chosen, problems)
        out = console()
        for problem in findings.problems:
            click.echo(f"Warning: {problem}", err=True)
        if not findings.leftovers:
            click.echo("Nothing left behind.")
            return
        table = Table(title=Text("Left behind"), title_justify="left")
        for column in ("plugin", "run", "what", "cost"):
            table.add_column(column)
        for _, item in findings.leftovers:
            run = "" if item.run_id is None else str(item.run_id)
            table.add_row(Text(f"{item.kind} {item.type_name}"), run, Text(item.what), Text(item.cost))
        out.print(table)
        if dry_run:
            click.echo(f"{len(findings.leftovers)} item(s) left behind; `mephisto cleanup` removes them.")
            return
        if not yes:
            if not sys.stdin.isatty():
                raise MephistoError("not removing anything: there is no terminal to confirm on. Run with --yes.")
            click.confirm(f"Remove these {len(findings.leftovers)} item(s)?", abort=True)
        removals = ops.remove_leftovers(scope, findings)
    finally:
        database.close()
    for removal in removals:
        mark = "Removed" if removal.ok else "NOT removed"
        click.echo(f"{mark}: {removal.leftover.kind} {removal.leftover.type_name}: {removal.message}")
    failed = sum(1 for r in removals if not r.ok)
    if failed:
        raise MephistoError(f"{failed} of {len(removals)} item(s) could not be removed (see above)")
