"""Entry point of the `mephisto` plugin group: registers the `live` blueprint."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from mephisto_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from mephisto_core.abstractions import Blueprint


@hookimpl
def mephisto_register_blueprints(register: Callable[[type[Blueprint]], None]) -> None:
    """Register `LiveBlueprint` as blueprint type `live`."""
    from mephisto_blueprint_live.blueprint import LiveBlueprint

    register(LiveBlueprint)
