"""Entry point of the `mephisto` group: registers provider type `example`.

Only `mephisto_core.hookspecs` is imported here: the provider module (and anything heavy it needs) is imported
inside the hook, when a command needs the registry, never for `mephisto --help`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mephisto_core.hookspecs import hookimpl


@hookimpl
def mephisto_register_providers(register: Callable[[type[Any]], None]) -> None:
    """Register `ExampleProvider`."""
    from mephisto_provider_example.provider import ExampleProvider

    register(ExampleProvider)
