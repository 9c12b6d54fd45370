"""What a task's procedures module uses: the `procedure` decorator, `ProcedureError` and `CallInfo`.

A task file's `[task.procedures] module = "procedures.py"` names a Python file. Its functions marked with
`@procedure` (or listed in a module-level `PROCEDURES = {"name": function}` dict) are what task pages may call
with `await mephisto.call(name, args)`. Each function takes the page's `args` (any JSON value) and, if it has a
second parameter, a `CallInfo`; it returns any JSON value. It may be `async def`. See docs/procedures.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

F = TypeVar("F", bound=Callable[..., Any])

#: the attribute `@procedure` sets on a function: the name pages call it by
MARK = "__mephisto_procedure__"


class ProcedureError(Exception):
    """Raise it in a procedure to refuse a call: its message is shown to the worker as it is.

    Any other exception is shown to the worker as a generic failure; its details go to the log and the database.
    """


@dataclass(frozen=True)
class CallInfo:
    """Who is calling: passed as the second argument to procedures that take two."""

    name: str
    worker_id: int
    provider_worker_id: str
    agent_id: int
    unit_id: int
    #: the unit's inputs (the data item the page shows)
    inputs: Any


@overload
def procedure(function: F, /) -> F: ...


@overload
def procedure(*, name: str | None = None) -> Callable[[F], F]: ...


def procedure(function: F | None = None, /, *, name: str | None = None) -> F | Callable[[F], F]:
    """Mark `function` as callable from task pages, under its own name or `name`."""

    def mark(target: F) -> F:
        setattr(target, MARK, name or target.__name__)
        return target

    return mark(function) if function is not None else mark
