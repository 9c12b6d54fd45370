"""Reading the text files a user hands the project (task TOML, user config, JSON data) without tracebacks.

Two things escape the parsers' own error types: bytes that are not UTF-8 (`UnicodeDecodeError`) and arrays or
tables nested so deep that the parser runs out of Python stack (`RecursionError`, from `tomllib` and `json`
alike); `tomllib` also lets Python's `ValueError` for an integer of more than 4300 digits through. Each becomes
a `ConfigError` naming the file and the line (and byte offset or nesting depth), like any other mistake.
"""

from __future__ import annotations

import functools
import json
import math
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from mephisto_core.errors import ConfigError

Syntax = Literal["toml", "json"]
#: The deepest lists/tables/objects a file the user writes may hold; real task files and data need a handful.
MAX_NESTING = 100
TOO_MANY_DIGITS = "an integer has more digits than Python reads (over 4300)"


def decode_utf8(data: bytes, file: Path | str, *, key: str | None = None, bom: bool = False) -> str:
    """`data` decoded as UTF-8; ConfigError with the line and byte offset of the first bad byte.

    `bom=True` drops a leading byte-order mark (spreadsheet programs write one); TOML allows none.
    """
    try:
        return data.decode("utf-8-sig" if bom else "utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"is not UTF-8 text: byte {exc.start} (0x{data[exc.start]:02x}) cannot be read; save the file as UTF-8",
            file=file,
            key=key,
            line=line,
        ) from None


def read_utf8(path: Path, *, key: str | None = None, bom: bool = False) -> str:
    """The UTF-8 text of `path` (see `decode_utf8`); a file that cannot be read is a ConfigError too."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError("file not found", file=path, key=key) from None
    except IsADirectoryError:
        raise ConfigError("is a folder, not a file", file=path, key=key) from None
    except OSError as exc:
        raise ConfigError(f"cannot be read: {exc.strerror}", file=path, key=key) from None
    return decode_utf8(data, path, key=key, bom=bom)


def loads_toml(text: str, file: Path | str, *, key: str | None = None, what: str = "not valid TOML") -> dict[str, Any]:
    """Parse TOML text; ConfigError naming the file and line for a syntax error or a too-deep nesting."""
    try:
        value = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        line = int(match.group(1)) if match else None
        raise ConfigError(f"{what}: {exc}", file=file, key=key, line=line) from None
    except RecursionError:
        raise nesting_error(text, "toml", file, key=key) from None
    except ValueError:  # not a TOMLDecodeError: Python's cap on the digits of an integer
        raise ConfigError(
            f"{what}: {TOO_MANY_DIGITS}", file=file, key=key, line=_line_of_longest_number(text)
        ) from None
    check_nesting(value, text, "toml", file, key=key)
    return value


def _line_of_longest_number(text: str) -> int | None:
    longest = max(re.finditer(r"[0-9_]+", text), key=lambda m: m.end() - m.start(), default=None)
    return None if longest is None else text.count("\n", 0, longest.start()) + 1


def guard_nesting(
    parse: Callable[[str], Any], text: str, file: Path | str, *, key: str | None = None, first_line: int = 1
) -> Any:
    """`parse(text)` (e.g. `json.loads`); a `RecursionError` or a result deeper than MAX_NESTING: `nesting_error`."""
    try:
        value = parse(text)
    except RecursionError:
        raise nesting_error(text, "json", file, key=key, first_line=first_line) from None
    check_nesting(value, text, "json", file, key=key, first_line=first_line)
    return value


def check_nesting(
    value: Any, text: str, syntax: Syntax, file: Path | str, *, key: str | None = None, first_line: int = 1
) -> None:
    """Refuse parsed data nested deeper than MAX_NESTING.

    A value the parser could just read (a 900-deep list) would still break the next recursive step, which
    depends on how deep the stack already is there: storing it, reading it back, sending it to a page. One
    fixed limit at the door makes the outcome the same everywhere.
    """
    if nesting_depth(value) > MAX_NESTING:
        raise nesting_error(text, syntax, file, key=key, first_line=first_line)


def nesting_depth(value: Any) -> int:
    """How deep lists and dicts nest in `value` (0 for a scalar); iterative, so any depth can be measured."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        if deepest > MAX_NESTING:
            return deepest  # deep enough to refuse: no need to walk the rest
        stack.extend((child, depth + 1) for child in children)
    return deepest


class _NotFinite(ValueError):
    """A number JSON cannot hold: the words NaN/Infinity, or a literal like 1e999 that overflows to infinity."""

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.token = token


def _finite_float(token: str) -> float:
    value = float(token)
    if not math.isfinite(value):
        raise _NotFinite(token)
    return value


def _no_constant(token: str) -> float:
    raise _NotFinite(token)


_strict_json = functools.partial(json.loads, parse_float=_finite_float, parse_constant=_no_constant)


def loads_json(text: str, file: Path | str, *, key: str | None = None, first_line: int = 1) -> Any:
    """`json.loads(text)`; too-deep nesting, a 4300-digit integer, NaN, Infinity or a number that overflows to
    infinity (`1e999`) is a ConfigError at its line: stored data must stay JSON.

    A syntax error stays `json.JSONDecodeError`, for the caller to word (it knows what the file should hold).
    """
    try:
        return guard_nesting(_strict_json, text, file, key=key, first_line=first_line)
    except json.JSONDecodeError:
        raise
    except _NotFinite as exc:
        line = first_line + text.count("\n", 0, max(text.find(exc.token), 0))
        raise ConfigError(
            f"{exc.token[:30]} is not a finite number; JSON data holds no NaN or infinity",
            file=file,
            key=key,
            line=line,
        ) from None
    except ValueError:  # json raises only JSONDecodeError for syntax: this is Python's cap on digits
        line = first_line + (_line_of_longest_number(text) or 1) - 1
        raise ConfigError(TOO_MANY_DIGITS, file=file, key=key, line=line) from None


def nesting_error(
    text: str, syntax: Syntax, file: Path | str, *, key: str | None = None, first_line: int = 1
) -> ConfigError:
    """The error for text whose arrays/objects nest deeper than the parser can follow, at its deepest line.

    `first_line` is the line `text` starts on in the file (a JSON Lines file parses one line at a time).
    """
    depth, line = deepest_nesting(text, syntax)
    return ConfigError(
        f"is nested too deeply: brackets [ ] and {{ }} are {depth} levels deep at this line "
        f"(at most {MAX_NESTING}; a task's files need a few)",
        file=file,
        key=key,
        line=first_line + line - 1,
    )


def deepest_nesting(text: str, syntax: Syntax) -> tuple[int, int]:
    """The greatest depth of `[`/`{` in `text` outside strings and comments, and the (1-based) line it is on."""
    depth = deepest = 0
    line = deepest_line = 1
    i, size = 0, len(text)
    while i < size:
        char = text[i]
        if char == "\n":
            line += 1
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest, deepest_line = depth, line
        elif char in "]}":
            depth = max(depth - 1, 0)
        elif char == "#" and syntax == "toml":
            end = text.find("\n", i)
            i = size if end < 0 else end
            continue
        elif char == '"' or (char == "'" and syntax == "toml"):
            i, line = _skip_string(text, i, line, syntax)
            continue
        i += 1
    return deepest, deepest_line


def _skip_string(text: str, start: int, line: int, syntax: Syntax) -> tuple[int, int]:
    """Index just past the string opening at `start`, and the line count after it."""
    quote = text[start]
    if syntax == "toml" and text.startswith(quote * 3, start):
        delimiter, i = quote * 3, start + 3
    else:
        delimiter, i = quote, start + 1
    escapes = quote == '"'  # TOML literal strings ('...') have no escapes
    while i < len(text):
        if escapes and text[i] == "\\":
            i += 2
            continue
        if text.startswith(delimiter, i):
            return i + len(delimiter), line + text.count("\n", start, i)
        if text[i] == "\n" and len(delimiter) == 1:
            break  # an unterminated one-line string: the parser says so; keep counting from here
        i += 1
    return i, line + text.count("\n", start, i)
