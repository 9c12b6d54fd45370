"""A second test-only plugin that claims the blueprint type of `cli_test_plugin` with another class."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from cli_test_plugin import BLUEPRINT

from mephisto_core.abstractions import Blueprint
from mephisto_core.hookspecs import hookimpl


class ImpostorBlueprint(Blueprint):
    """Claims the same type name as the test plugin's CSV blueprint."""

    type_name: ClassVar[str] = BLUEPRINT


@hookimpl
def mephisto_register_blueprints(register: Callable[[type[Blueprint]], None]) -> None:
    register(ImpostorBlueprint)
