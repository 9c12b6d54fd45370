"""Read a task's data file (CSV, JSON or JSON Lines) into rows; errors point at the file and line."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mephisto_core.errors import ConfigError
from mephisto_core.text_files import loads_json


@dataclass(frozen=True, slots=True)
class Row:
    """One data item and where it came from (for error messages)."""

    label: str  # "row", "item" or "line": how the data file's kind counts its items
    number: int  # the item's position as `label` counts it (1-based)
    line: int | None
    values: dict[str, Any]

    @property
    def where(self) -> str:
        """e.g. "row 3 (line 4)", "item 2", "line 7"."""
        if self.label == "row":
            return f"row {self.number} (line {self.line})"
        return f"{self.label} {self.number}"


def iter_rows(path: Path, kind: str) -> Iterator[Row]:
    """Rows of `path` read as `kind` ("data_csv", "data_json" or "data_jsonl"), one at a time.

    Any problem raises ConfigError when the iteration reaches it, naming the key `blueprint.<kind>`, the file,
    and the line where that is known. A file with no rows is an error too: a run without assignments has
    nothing to do. Nothing is kept once yielded, so a caller that streams the rows holds one at a time.
    """
    key = f"blueprint.{kind}"
    text = read_text(path, key)
    if kind == "data_csv":
        rows = _csv_rows(text, path, key)
    elif kind == "data_json":
        rows = _json_rows(text, path, key)
    elif kind == "data_jsonl":
        rows = _jsonl_rows(text, path, key)
    else:
        raise ValueError(f"unknown data kind {kind!r}")
    empty = True
    for row in rows:
        empty = False
        yield row
    if empty:
        raise ConfigError("the data file has no rows; every row becomes one assignment", file=path, key=key)


def read_text(path: Path, key: str) -> str:
    """The UTF-8 text of a file the task names (a leading byte-order mark is dropped)."""
    if not path.exists():
        raise ConfigError("file not found", file=path, key=key)
    if not path.is_file():
        raise ConfigError("is not a file", file=path, key=key)
    try:
        data = path.read_bytes()
    except PermissionError as exc:
        raise ConfigError("cannot be read (permission denied)", file=path, key=key) from exc
    except OSError as exc:
        raise ConfigError(f"cannot be read: {exc.strerror}", file=path, key=key) from exc
    try:
        # utf-8-sig: spreadsheet programs often save CSV with a byte-order mark. Decoding the bytes ourselves
        # keeps line endings as they are, which matters for CSV cells that hold line breaks.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"is not UTF-8 text (byte {exc.start}); save it as UTF-8", file=path, key=key, line=line
        ) from exc


def _csv_rows(text: str, path: Path, key: str) -> Iterator[Row]:
    # A lone "\r" ends a line too (old Mac files): io.StringIO cuts those, at the cost of a copy up front.
    lone_cr = text.count("\r") != text.count("\r\n")
    reader = csv.reader(io.StringIO(text, newline="") if lone_cr else _lines(text), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise ConfigError("the CSV file is empty; it needs a header row and data rows", file=path, key=key)
        _check_header(header, path, key)
        width = len(header)
        number = 0
        for cells in reader:
            if not cells or not "".join(cells).strip():
                continue  # blank lines (or only blank cells) are not data
            number += 1
            if len(cells) != width:
                raise ConfigError(
                    f"row {number} has {len(cells)} cells but the header has {width} columns",
                    file=path,
                    key=key,
                    line=reader.line_num,
                )
            yield Row("row", number, reader.line_num, dict(zip(header, cells, strict=True)))
    except csv.Error as exc:
        raise ConfigError(f"not valid CSV: {exc}", file=path, key=key, line=reader.line_num) from exc


def _lines(text: str) -> Iterator[str]:
    """The lines of `text` with their endings, cut at "\n" as they are asked for (for text with no lone "\r").

    What io.StringIO(text, newline="") gives the csv module, but lazily: reading the first rows does not first
    copy the whole file.
    """
    start, size = 0, len(text)
    while start < size:
        end = text.find("\n", start) + 1 or size
        yield text[start:end]
        start = end


def _check_header(header: list[str], path: Path, key: str) -> None:
    seen: set[str] = set()
    for position, name in enumerate(header, start=1):
        if not name.strip():
            raise ConfigError(f"header column {position} has no name", file=path, key=key, line=1)
        if name in seen:
            raise ConfigError(f"the header names column {name!r} twice", file=path, key=key, line=1)
        seen.add(name)


def _json_rows(text: str, path: Path, key: str) -> Iterator[Row]:
    try:
        # loads_json: thousands of nested brackets or digits are located errors, not a RecursionError/ValueError.
        data = loads_json(text, path, key=key)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"not valid JSON: {exc.msg} (column {exc.colno})", file=path, key=key, line=exc.lineno
        ) from exc
    if not isinstance(data, list):
        raise ConfigError(
            f"must hold a JSON list of objects, one per assignment; found a {_json_type(data)}",
            file=path,
            key=key,
        )
    for index, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            raise ConfigError(f"item {index} of the list is a {_json_type(item)}, not an object", file=path, key=key)
        yield Row("item", index, None, item)


def _jsonl_rows(text: str, path: Path, key: str) -> Iterator[Row]:
    # Split on \n only: str.splitlines() would also split inside strings holding U+2028, which JSON allows.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            item = loads_json(line, path, key=key, first_line=number)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"line {number} is not valid JSON: {exc.msg} (column {exc.colno})",
                file=path,
                key=key,
                line=number,
            ) from exc
        if not isinstance(item, dict):
            raise ConfigError(
                f"line {number} is a {_json_type(item)}, not a JSON object", file=path, key=key, line=number
            )
        yield Row("line", number, number, item)


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "list", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
