"""Load a task's remote procedures from the module `[task.procedures]` names, with located errors."""

from __future__ import annotations

import importlib.util
import inspect
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mephisto_core.abstractions.task_args import ProceduresArgs
from mephisto_core.errors import ConfigError
from mephisto_core.procedures import MARK

#: names pages call procedures by: short identifiers, so they read well in logs, exports and review
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
_KEY = "task.procedures.module"


@dataclass(frozen=True)
class Procedure:
    """One registered function."""

    name: str
    function: Callable[..., Any]
    takes_info: bool  # whether it takes a second argument, the CallInfo
    is_async: bool


@dataclass(frozen=True)
class ProcedureRegistry:
    """The procedures of one task and the task file's limits for them."""

    procedures: dict[str, Procedure]
    timeout_seconds: float
    max_calls_per_minute: int
    #: what simulated workers call before they submit: the module's SIMULATED_CALLS, (name, args) pairs
    simulated_calls: tuple[tuple[str, Any], ...] = ()

    def names(self) -> list[str]:
        return sorted(self.procedures)


def load_procedures(args: ProceduresArgs | None, task_file: Path | None = None) -> ProcedureRegistry | None:
    """Import the module and collect its procedures; None when the task has no `[task.procedures]`.

    Raises ConfigError naming the task file, `task.procedures.module` and its line for every problem: a missing
    file, an import that fails (with the module's own file and line), no procedures, a duplicate or bad name,
    a function that takes neither one nor two arguments.
    """
    if args is None:
        return None
    line = _line_of(task_file)
    path = args.module
    if path.suffix != ".py" or not path.is_file():
        raise ConfigError(
            f"{path} is not a Python file (give the .py file of the task's procedures, relative to the task file)",
            file=task_file,
            key=_KEY,
            line=line,
        )
    module = _import(path, task_file, line)
    found: dict[str, Procedure] = {}

    def add(name: object, function: object, where: str) -> None:
        if not isinstance(name, str) or not NAME.match(name):
            raise ConfigError(
                f"{where}: procedure name {name!r} must be 1-64 characters of letters, digits, _ . - "
                "(starting with a letter or _)",
                file=task_file,
                key=_KEY,
                line=line,
            )
        if not callable(function):
            raise ConfigError(f"{where}: {name!r} is not a function", file=task_file, key=_KEY, line=line)
        if name in found and found[name].function is not function:
            raise ConfigError(f"{where}: two functions are registered as {name!r}", file=task_file, key=_KEY, line=line)
        found[name] = Procedure(
            name, function, _takes_info(name, function, where, task_file, line), _is_async(function)
        )

    for attr, value in vars(module).items():
        marked = getattr(value, MARK, None) if inspect.isfunction(value) else None
        if isinstance(marked, str):
            add(marked, value, f"{path.name}, function {attr}")
    table = getattr(module, "PROCEDURES", None)
    if table is not None:
        if not isinstance(table, dict):
            raise ConfigError(
                f"{path.name}: PROCEDURES must be a dict of name -> function, not {type(table).__name__}",
                file=task_file,
                key=_KEY,
                line=line,
            )
        for name, function in table.items():
            add(name, function, f"{path.name}, PROCEDURES[{name!r}]")
    if not found:
        raise ConfigError(
            f"{path.name} registers no procedure: mark functions with @procedure "
            "(from mephisto_core.procedures import procedure) or list them in PROCEDURES = {'name': function}",
            file=task_file,
            key=_KEY,
            line=line,
        )
    simulated = _simulated_calls(getattr(module, "SIMULATED_CALLS", ()), found, path, task_file, line)
    return ProcedureRegistry(found, args.timeout_seconds, args.max_calls_per_minute, simulated)


def _simulated_calls(
    value: object, found: dict[str, Procedure], path: Path, task_file: Path | None, line: int | None
) -> tuple[tuple[str, Any], ...]:
    calls = []
    for item in value if isinstance(value, list | tuple) else [value]:
        if not (isinstance(item, list | tuple) and len(item) == 2 and item[0] in found):
            raise ConfigError(
                f"{path.name}: SIMULATED_CALLS must be a list of (procedure name, args) pairs naming procedures of "
                f"the module ({', '.join(sorted(found))}); found {item!r}",
                file=task_file,
                key=_KEY,
                line=line,
            )
        calls.append((str(item[0]), item[1]))
    return tuple(calls)


def _import(path: Path, task_file: Path | None, line: int | None) -> Any:
    # A name of its own per file, so two tasks' procedures.py never collide in one process.
    unique = f"_mephisto_procedures_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(unique, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot import {path}", file=task_file, key=_KEY, line=line)
    module = importlib.util.module_from_spec(spec)
    sys.modules[unique] = module  # dataclasses and pickling look the module up by name
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(unique, None)
        where = _innermost_frame_in(exc, path)
        raise ConfigError(
            f"importing {path.name}{where} failed: {type(exc).__name__}: {exc}", file=task_file, key=_KEY, line=line
        ) from exc
    return module


def _innermost_frame_in(exc: BaseException, path: Path) -> str:
    if isinstance(exc, SyntaxError) and exc.lineno:
        return f" (line {exc.lineno})"
    tb = exc.__traceback__
    lineno = None
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename) == path:
            lineno = tb.tb_lineno
        tb = tb.tb_next
    return f" (line {lineno})" if lineno else ""


def _takes_info(name: str, function: Callable[..., Any], where: str, task_file: Path | None, line: int | None) -> bool:
    try:
        params = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return True
    if len(required) > 2 or not positional:
        raise ConfigError(
            f"{where}: procedure {name!r} must take (args) or (args, call), not ({', '.join(p.name for p in params)})",
            file=task_file,
            key=_KEY,
            line=line,
        )
    return len(positional) >= 2


def _is_async(function: Callable[..., Any]) -> bool:
    # An object whose __call__ is `async def` (a callable class instance) counts as well.
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(type(function).__call__)


def _line_of(task_file: Path | None) -> int | None:
    if task_file is None or not task_file.is_file():
        return None
    lines = task_file.read_text(encoding="utf-8", errors="replace").splitlines()
    section = None
    for number, text in enumerate(lines, start=1):
        stripped = text.strip()
        if stripped.startswith("["):
            section = stripped.strip("[] ")
        elif (section == "task.procedures" and re.match(r"module\s*=", stripped)) or (
            section == "task" and re.match(r"procedures\s*=", stripped)
        ):
            return number
    return None
