"""Entry point of the `mephisto` plugin group: registers the `remote` architect."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from mephisto_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from mephisto_core.abstractions import Architect


@hookimpl
def mephisto_register_architects(register: Callable[[type[Architect]], None]) -> None:
    """Register `RemoteArchitect` as architect type `remote`."""
    from mephisto_architect_remote.architect import RemoteArchitect

    register(RemoteArchitect)
