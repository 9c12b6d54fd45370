"""A test-only plugin that registers a blueprint, then falls over in its provider hook (a missing SDK)."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from mephisto_core.abstractions import Blueprint, CrowdProvider
from mephisto_core.hookspecs import hookimpl


class HalfBlueprint(Blueprint):
    """Registered before the plugin's other hook raises: it must not be left behind."""

    type_name: ClassVar[str] = "clitest_half"


@hookimpl
def mephisto_register_blueprints(register: Callable[[type[Blueprint]], None]) -> None:
    register(HalfBlueprint)


@hookimpl
def mephisto_register_providers(register: Callable[[type[CrowdProvider]], None]) -> None:
    raise RuntimeError("the platform SDK is missing")
