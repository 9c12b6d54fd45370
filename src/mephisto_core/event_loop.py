"""Which event loop the operator and the router run on: uvloop's when it is installed, asyncio's own otherwise.

uvloop (libuv under the asyncio API) does the same work with less of the interpreter: at 1,000 workers it took
10-20 % off the server's CPU per unit and 20-40 % off the router's (docs/performance.md). It is a dependency on
Linux and macOS; `MEPHISTO_EVENT_LOOP=asyncio` turns it off, `uvloop` insists on it. Kept free of pydantic: the
router process starts without it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar, get_args

from mephisto_core.errors import ConfigError

T = TypeVar("T")
EventLoopChoice = Literal["auto", "uvloop", "asyncio"]
EVENT_LOOP_ENV = "MEPHISTO_EVENT_LOOP"
CHOICES: tuple[str, ...] = get_args(EventLoopChoice)


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory of the loop `choice` names (None: asyncio's default), or a ConfigError saying what is wrong."""
    if choice not in CHOICES:
        raise ConfigError(f"{EVENT_LOOP_ENV}={choice!r} is not an event loop: choose one of {', '.join(CHOICES)}")
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise ConfigError(
                f"{EVENT_LOOP_ENV}=uvloop but uvloop is not installed: `pip install uvloop` (Linux and macOS), "
                f"or set {EVENT_LOOP_ENV}=auto"
            ) from None
        return None
    new_event_loop: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return new_event_loop


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """'uvloop' or 'asyncio': what the running process uses, for its start-up log."""
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"


def run(main: Coroutine[Any, Any, T], choice: str) -> T:
    """`asyncio.run(main)` on the loop `choice` names."""
    try:
        factory = loop_factory(choice)
    except ConfigError:
        main.close()  # never awaited: say so quietly rather than with a RuntimeWarning
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
