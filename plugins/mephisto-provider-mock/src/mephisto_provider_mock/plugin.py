"""Entry point of the `mephisto` plugin group: registers the `mock` provider."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from mephisto_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from mephisto_core.abstractions import CrowdProvider, LeftoverCleaner


@hookimpl
def mephisto_register_providers(register: Callable[[type[CrowdProvider]], None]) -> None:
    """Register `MockProvider` as provider type `mock`."""
    from mephisto_provider_mock.provider import MockProvider

    register(MockProvider)


@hookimpl
def mephisto_cleanup(register: Callable[[LeftoverCleaner], None]) -> None:
    """Register the cleaner of units a dead `mock` run still shows as offered (`mephisto cleanup`)."""
    from mephisto_core.abstractions import OfferedUnitsCleaner

    register(
        OfferedUnitsCleaner(
            "mock",
            cost="no money (the mock provider publishes nowhere); the units look offered in listings until withdrawn",
        )
    )
