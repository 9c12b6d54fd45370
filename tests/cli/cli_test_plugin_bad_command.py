"""A test-only plugin whose commands hook raises: its blueprint type must go with it."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import click

from mephisto_core.abstractions import Blueprint
from mephisto_core.hookspecs import hookimpl

BLUEPRINT = "clitest_cmdfail"


class CmdFailBlueprint(Blueprint):
    """Registered fine; the plugin's other hook raises."""

    type_name: ClassVar[str] = BLUEPRINT


@hookimpl
def mephisto_register_blueprints(register: Callable[[type[Blueprint]], None]) -> None:
    register(CmdFailBlueprint)


@hookimpl
def mephisto_register_commands(cli: click.Group) -> None:
    raise ImportError("the command's dependency is missing")
