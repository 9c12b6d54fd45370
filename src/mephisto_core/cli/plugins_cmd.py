"""`mephisto plugins`: which plugin distributions are installed and what each one provides."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from mephisto_core.plugins import DistributionInfo


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list (for scripts) instead of a table.")
def plugins(as_json: bool) -> None:
    """List installed plugins: distributions, versions, and the types and commands they provide."""
    from mephisto_core.cli import CORE_COMMANDS
    from mephisto_core.plugins import KINDS, distributions

    # A scratch group collects the plugins' commands: adding them to the real `mephisto` group again would
    # hide which distribution added which (the group may already hold them). Core names are refused and
    # reported as the distribution's problem.
    scratch = click.Group(name="mephisto")
    infos = distributions(scratch, frozenset(CORE_COMMANDS))
    records = [_record(info, KINDS) for info in infos]
    if as_json:
        click.echo(json.dumps(records, indent=2))
        return
    _print_table(records)


def _record(info: DistributionInfo, kinds: tuple[str, ...]) -> dict[str, Any]:
    types: dict[str, list[str]] = {kind: [] for kind in kinds}
    for entry in info.types:
        types[entry.kind].append(entry.name)
    return {
        "name": info.name,
        "version": info.version,
        "modules": sorted(info.modules),
        "types": {kind: sorted(names) for kind, names in types.items()},
        "commands": sorted(info.commands),
        "status": "failed" if info.failed else "loaded",
        "problems": list(info.problems),
    }


def _print_table(records: list[dict[str, Any]]) -> None:
    from rich.table import Table
    from rich.text import Text

    from mephisto_core.cli._tables import console

    out = console()
    if not records:
        out.print(
            "No plugins installed. A task needs a blueprint, an architect and a provider, e.g.\n"
            "  pip install ./plugins/mephisto-blueprint-static ./plugins/mephisto-architect-local "
            "./plugins/mephisto-provider-mock\n"
            "from a checkout of the Mephisto repository (first-party plugins are not on the package index yet)."
        )
        return
    table = Table(title="Installed plugins", title_justify="left")
    table.add_column("distribution", style="bold", no_wrap=True)
    table.add_column("version", no_wrap=True)
    table.add_column("types", overflow="fold")
    table.add_column("commands", overflow="fold")
    table.add_column("status", overflow="fold")
    for record in records:
        types = "\n".join(f"{kind}: {', '.join(names)}" for kind, names in record["types"].items() if names)
        commands = "\n".join(record["commands"])
        status = Text("FAILED" if record["status"] == "failed" else "ok", style="red" if record["problems"] else "")
        for problem in record["problems"]:
            status.append(f"\n{problem}")
        table.add_row(
            Text(record["name"]), Text(record["version"] or "-"), Text(types or "-"), Text(commands or "-"), status
        )
    out.print(table)
    example = next(
        (f"{kind}={names[0]}" for record in records for kind, names in record["types"].items() if names), None
    )
    hint = f" (e.g. mephisto wut {example})" if example else ""
    out.print(f"Describe a type's arguments with: mephisto wut KIND=TYPE{hint}")
