"""Entry point of the `mephisto` plugin group: the `ec2` architect, its leftovers cleaner and `mephisto ec2`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from mephisto_core.hookspecs import hookimpl

if TYPE_CHECKING:
    import click

    from mephisto_core.abstractions import Architect, LeftoverCleaner


@hookimpl
def mephisto_register_architects(register: Callable[[type[Architect]], None]) -> None:
    """Register `Ec2Architect` as architect type `ec2`."""
    from mephisto_architect_ec2.architect import Ec2Architect

    register(Ec2Architect)


@hookimpl
def mephisto_cleanup(register: Callable[[LeftoverCleaner], None]) -> None:
    """Register the cleaner of AWS resources left by ec2 deployments whose launch is gone."""
    from mephisto_architect_ec2.leftovers import Ec2Cleaner

    register(Ec2Cleaner())


@hookimpl
def mephisto_register_commands(cli: click.Group) -> None:
    """Add `mephisto ec2 status` and `mephisto ec2 cleanup`."""
    from mephisto_architect_ec2.cli import ec2

    cli.add_command(ec2)
