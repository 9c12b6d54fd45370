"""The registry of requester operations the fake implements, and what each handler receives."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._state import FakeState


@dataclass
class Call:
    """One requester API call: the validated parameters, the caller's account and the time."""

    state: FakeState
    owner: str
    params: dict[str, Any]
    now: float
    require_https: bool = False


Handler = Callable[[Call], dict[str, Any]]
OPERATIONS: dict[str, Handler] = {}


def operation(name: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of the requester operation `name`."""

    def register(handler: Handler) -> Handler:
        if name in OPERATIONS:
            raise RuntimeError(f"two handlers for {name}")
        OPERATIONS[name] = handler
        return handler

    return register


def _load_handlers() -> None:
    from . import _hit_ops, _qualification_ops  # noqa: F401  (registration happens on import)


def implemented_operations() -> list[str]:
    """The names of every operation the fake answers (the others get UnknownOperationException)."""
    _load_handlers()
    return sorted(OPERATIONS)


def handler_for(name: str) -> Handler | None:
    """The handler of the operation `name`, or None when the fake does not implement it."""
    _load_handlers()
    return OPERATIONS.get(name)
