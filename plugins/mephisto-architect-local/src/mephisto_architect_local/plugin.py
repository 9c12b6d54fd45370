"""Entry point of the `mephisto` plugin group: registers the `local` architect and its leftovers cleaner."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from mephisto_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from mephisto_core.abstractions import Architect, LeftoverCleaner


@hookimpl
def mephisto_register_architects(register: Callable[[type[Architect]], None]) -> None:
    """Register `LocalArchitect` as architect type `local`."""
    from mephisto_architect_local.architect import LocalArchitect

    register(LocalArchitect)


@hookimpl
def mephisto_cleanup(register: Callable[[LeftoverCleaner], None]) -> None:
    """Register the cleaner of router processes left by local launches that died (`mephisto cleanup`)."""
    from mephisto_architect_local.leftovers import LocalArchitectCleaner

    register(LocalArchitectCleaner())
