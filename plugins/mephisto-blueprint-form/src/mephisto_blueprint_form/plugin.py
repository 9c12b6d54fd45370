"""Entry point of the `mephisto` plugin group: registers the `form` blueprint and the `mephisto form` commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from mephisto_core.hookspecs import hookimpl

if TYPE_CHECKING:
    import click

    from mephisto_core.abstractions import Blueprint


@hookimpl
def mephisto_register_blueprints(register: Callable[[type[Blueprint]], None]) -> None:
    """Register `FormBlueprint` as blueprint type `form`."""
    from mephisto_blueprint_form.blueprint import FormBlueprint

    register(FormBlueprint)


@hookimpl
def mephisto_register_commands(cli: click.Group) -> None:
    """Add `mephisto form validate` and `mephisto form expand`."""
    from mephisto_blueprint_form.commands import form

    cli.add_command(form)
