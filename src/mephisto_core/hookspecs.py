"""The hooks a plugin distribution implements to add task types, servers, crowd providers and commands.

A plugin is a module listed in the `mephisto` entry-point group of its distribution, e.g.::

    [project.entry-points.mephisto]
    static = "mephisto_blueprint_static.plugin"

and that module defines functions decorated with `mephisto_core.hookimpl` whose names match the hooks below.
Hooks are called once, the first time the plugin registry is needed (never for `mephisto --help`), each
plugin's on its own: a hook that raises leaves that distribution out and is reported, the rest keep working.
docs/plugins.md is the authors' guide.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from mephisto_core.abstractions import Architect, Blueprint, CrowdProvider
    from mephisto_core.abstractions.leftovers import LeftoverCleaner

hookspec = pluggy.HookspecMarker("mephisto")
hookimpl = pluggy.HookimplMarker("mephisto")


@hookspec
def mephisto_register_blueprints(register: Callable[[type[Blueprint]], None]) -> None:
    """Register task types.

    Called once when the registry is built. Call `register(SomeBlueprint)` for every Blueprint subclass the
    plugin provides; each class names its type in `type_name` (the `[blueprint] type` of a task file) and its
    arguments in its `Args` pydantic model. Returns nothing.
    """


@hookspec
def mephisto_register_architects(register: Callable[[type[Architect]], None]) -> None:
    """Register architects: where the worker-facing server runs.

    Called once when the registry is built. Call `register(SomeArchitect)` for every Architect subclass; its
    `type_name` is the `[architect] type` of a task file. Returns nothing.
    """


@hookspec
def mephisto_register_providers(register: Callable[[type[CrowdProvider]], None]) -> None:
    """Register crowd providers: where workers come from and how they are paid.

    Called once when the registry is built. Call `register(SomeProvider)` for every CrowdProvider subclass;
    its `type_name` is the `[provider] type` of a task file. Returns nothing.
    """


@hookspec
def mephisto_register_commands(cli: click.Group) -> None:
    """Add subcommands to the `mephisto` command line.

    Called when the user runs a command that is not one of the core's, before it is looked up, and by
    `mephisto plugins`. Call `cli.add_command(command)`. A command named like a core command (or like one
    another plugin added first) is refused: it is reported on stderr and by `mephisto plugins` as the
    distribution's problem, never allowed to replace or hide the other. Returns nothing.
    """


@hookspec
def mephisto_cleanup(register: Callable[[LeftoverCleaner], None]) -> None:
    """Offer a way to list and remove what a provider or architect of the plugin left behind.

    Called by `mephisto cleanup` and at the end of every launch (which warns about what its own run left).
    Call `register(cleaner)` with a `mephisto_core.abstractions.leftovers.LeftoverCleaner` instance per type
    that can leave something behind (HITs, studies, participant groups, servers, processes, folders): its
    `find` lists each leftover with what it costs, its `remove` removes one. A hook or cleaner that raises is
    reported and costs only its own listing. Returns nothing.
    """
