"""Entry point of the `mephisto` plugin group: the `prolific` provider, `mephisto prolific ...` and its cleaner.

Importing this module is cheap: httpx and the provider are imported when a hook is called.
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
    """Register `ProlificProvider` as provider type `prolific`."""
    from mephisto_provider_prolific.provider import ProlificProvider

    register(ProlificProvider)


@hookimpl
def mephisto_register_commands(cli: click.Group) -> None:
    """Add `mephisto prolific` (studies, cleanup, message)."""
    from mephisto_provider_prolific.cli import prolific

    cli.add_command(prolific)


@hookimpl
def mephisto_cleanup(register: Callable[[LeftoverCleaner], None]) -> None:
    """Register the cleaner of studies and one-off participant groups that dead runs left at Prolific."""
    from mephisto_provider_prolific.cleanup import ProlificStudiesCleaner

    register(ProlificStudiesCleaner())
