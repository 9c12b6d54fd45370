"""Entry point of the `mephisto` plugin group: the `inhouse` provider and the `mephisto inhouse` commands.

Importing this module is cheap: the provider and the commands are imported when a hook is called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from mephisto_core.hookspecs import hookimpl

if TYPE_CHECKING:
    import click

    from mephisto_core.abstractions import CrowdProvider, LeftoverCleaner


@hookimpl
def mephisto_register_providers(register: Callable[[type[CrowdProvider]], None]) -> None:
    """Register `InhouseProvider` as provider type `inhouse`."""
    from mephisto_provider_inhouse.provider import InhouseProvider

    register(InhouseProvider)


@hookimpl
def mephisto_register_commands(cli: click.Group) -> None:
    """Add the `mephisto inhouse` command group (add-worker, remove-worker, list, links)."""
    from mephisto_provider_inhouse.cli import inhouse

    cli.add_command(inhouse)


@hookimpl
def mephisto_cleanup(register: Callable[[LeftoverCleaner], None]) -> None:
    """Register the cleaner of units a dead `inhouse` run still shows as offered (`mephisto cleanup`)."""
    from mephisto_core.abstractions import OfferedUnitsCleaner

    register(
        OfferedUnitsCleaner(
            "inhouse",
            cost="no money (the in-house provider has no platform); the units look offered in listings until withdrawn",
        )
    )
