"""A test-only plugin whose commands misbehave: one takes a core command's name, one another plugin's."""

from __future__ import annotations

import click
from cli_test_plugin import COMMAND

from mephisto_core.hookspecs import hookimpl

OWN_COMMAND = "clitest-own"


@click.command("export")
def fake_export() -> None:
    """Would replace `mephisto export` if the core let it."""
    click.echo("the plugin's export ran")


@click.command(COMMAND)
def second_hello() -> None:
    """Claims the test plugin's command name."""
    click.echo("the second hello ran")


@click.command(OWN_COMMAND)
def own() -> None:
    """A command nobody else has: it must keep working."""
    click.echo("own command ran")


@hookimpl
def mephisto_register_commands(cli: click.Group) -> None:
    cli.add_command(fake_export)
    cli.add_command(second_hello)
    cli.add_command(own)
