"""Entry point of the `mephisto` plugin group: providers `mturk` and `mturk_sandbox`, `mephisto mturk`, cleanup.

Importing this module is cheap: boto3 and the provider are imported when a hook is called.
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
    """Register `mturk` (live) and `mturk_sandbox`."""
    from mephisto_provider_mturk.provider import MTurkProvider, MTurkSandboxProvider

    register(MTurkProvider)
    register(MTurkSandboxProvider)


@hookimpl
def mephisto_register_commands(cli: click.Group) -> None:
    """Add `mephisto mturk` (balance, hits, cleanup, notify)."""
    from mephisto_provider_mturk.cli import mturk

    cli.add_command(mturk)


@hookimpl
def mephisto_cleanup(register: Callable[[LeftoverCleaner], None]) -> None:
    """Register the cleaners of open HITs of dead runs, one per provider type."""
    from mephisto_provider_mturk.cleanup import OpenHitsCleaner, SandboxOpenHitsCleaner

    register(OpenHitsCleaner())
    register(SandboxOpenHitsCleaner())
