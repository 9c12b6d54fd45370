"""`mephisto wut`: describe the arguments a task file may set, per kind and type."""

from __future__ import annotations

import difflib
import typing
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from pydantic import BaseModel
    from rich.console import Console

    from mephisto_core.plugins import Kind, Registry

TASK_KIND = "task"


@click.command()
@click.argument("target", required=False, metavar="[KIND[=TYPE]]")
@click.argument("type_name", required=False, metavar="[TYPE]")
def wut(target: str | None, type_name: str | None) -> None:
    """Describe the arguments of the task section, blueprints, architects and providers.

    \b
    mephisto wut                     the kinds and every installed type
    mephisto wut blueprint           the installed blueprint types
    mephisto wut blueprint=static    every argument of the `static` blueprint
    mephisto wut task                the arguments of the [task] section
    mephisto wut task.onboarding     the keys of a nested table ([task.onboarding])

    KIND is one of task, blueprint, architect, provider.
    """
    from mephisto_core.cli._tables import console
    from mephisto_core.plugins import get_registry

    kind, chosen = _parse_target(target, type_name)
    out = console()
    if kind is None:
        _print_overview(out, get_registry())
    elif kind == TASK_KIND:
        _print_task_args(out, chosen)
    elif chosen is None:
        _print_kind(out, get_registry(), typing.cast("Kind", kind))
    else:
        _print_type(out, get_registry(), typing.cast("Kind", kind), chosen)


def _parse_target(target: str | None, type_name: str | None) -> tuple[str | None, str | None]:
    from mephisto_core.plugins import KINDS

    if target is None:
        return None, None
    kind, sep, chosen = (part.strip() for part in target.partition("="))
    kind = kind.lower()
    if not sep and kind.startswith(f"{TASK_KIND}.") and type_name is None:
        return TASK_KIND, "." + kind.split(".", 1)[1]  # a nested table of [task], e.g. task.onboarding
    known = (TASK_KIND, *KINDS)
    if kind not in known:
        raise click.UsageError(f"unknown kind {kind!r}; use one of: {', '.join(known)}")
    if sep and not chosen:
        raise click.UsageError(f"give a type after '=', e.g. mephisto wut {kind}=TYPE (or just: mephisto wut {kind})")
    if sep and type_name is not None:
        raise click.UsageError(f"give the {kind} type once: either {kind}={chosen} or {kind} {type_name}")
    picked = chosen or type_name
    if kind == TASK_KIND and picked and not picked.startswith("."):
        raise click.UsageError("the [task] section has no types; run: mephisto wut task")
    return kind, picked or None


def _print_overview(out: Console, registry: Registry) -> None:
    from rich.table import Table
    from rich.text import Text

    from mephisto_core.plugins import KINDS

    table = Table(title="What a task file is made of", title_justify="left")
    table.add_column("kind", style="bold", no_wrap=True)
    table.add_column("installed types (distribution)", overflow="fold")
    table.add_row(Text("task"), Text("the [task] section every task has: mephisto wut task"))
    for kind in KINDS:
        entries = registry.types(kind).values()
        listing = ", ".join(f"{e.name} ({e.distribution})" for e in entries) or "none installed"
        table.add_row(Text(kind), Text(listing))
    out.print(table)
    out.print("Describe one: mephisto wut KIND=TYPE, e.g. mephisto wut blueprint=NAME")


def _print_task_args(out: Console, nested: str | None) -> None:
    from mephisto_core.abstractions.task_args import TaskArgs
    from mephisto_core.cli._tables import args_table

    if not nested:
        out.print(args_table(TaskArgs, "[task] arguments"))
        return
    model: type[BaseModel] = TaskArgs
    dotted = TASK_KIND
    for part in nested.strip(".").split("."):
        fields = model.model_fields
        if part not in fields:
            close = difflib.get_close_matches(part, list(fields), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise click.UsageError(f"[{dotted}] has no key {part!r}{hint}; its keys: {', '.join(fields)}")
        inner = _nested_model(fields[part].annotation)
        dotted = f"{dotted}.{part}"
        if inner is None:
            raise click.UsageError(
                f"{dotted} is a single value, not a table: its description is in the table of mephisto wut "
                + dotted.rsplit(".", 1)[0]
            )
        model = inner
    out.print(args_table(model, f"[{dotted}] arguments"))


def _nested_model(annotation: object) -> type[BaseModel] | None:
    """The pydantic model a field holds (directly, optionally, or as list items), or None for a plain value."""
    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in typing.get_args(annotation):
        found = _nested_model(argument)
        if found is not None:
            return found
    return None


def _print_kind(out: Console, registry: Registry, kind: Kind) -> None:
    from rich.table import Table
    from rich.text import Text

    from mephisto_core.cli._tables import first_line

    entries = registry.types(kind)
    if not entries:
        out.print(
            f"No {kind} types are installed. Install a plugin distribution that provides one "
            f"(first-party ones are named mephisto-{kind}-NAME and, until published, are installed from the "
            f"repository's plugins/ folder: pip install ./plugins/mephisto-{kind}-NAME); `mephisto plugins` shows "
            "what is installed."
        )
        return
    table = Table(title=f"Installed {kind} types", title_justify="left")
    table.add_column("type", style="bold", no_wrap=True)
    table.add_column("distribution", no_wrap=True)
    table.add_column("version", no_wrap=True)
    table.add_column("description", overflow="fold")
    for entry in entries.values():
        table.add_row(
            Text(entry.name),
            Text(entry.distribution),
            Text(entry.version or "-"),
            Text(first_line(entry.cls.__doc__)),
        )
    out.print(table)
    out.print(f"Describe one: mephisto wut {kind}=TYPE")


def _print_type(out: Console, registry: Registry, kind: Kind, name: str) -> None:
    import inspect

    from rich.text import Text

    from mephisto_core.cli._tables import args_table

    cls = registry.get(kind, name)
    entry = registry.types(kind)[name]
    version = f" {entry.version}" if entry.version else ""
    out.print(Text(f"{kind} type {name!r} from {entry.distribution}{version}", style="bold"))
    summary = (inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " ")
    if summary:
        out.print(Text(summary))
    out.print(args_table(cls.Args, f'[{kind}] arguments (with type = "{name}")'))
    requester_args = getattr(cls, "RequesterArgs", None)
    if kind == "provider" and requester_args is not None and requester_args.model_fields:
        out.print(args_table(requester_args, f"credentials: mephisto register {name} NAME key=value ..."))
