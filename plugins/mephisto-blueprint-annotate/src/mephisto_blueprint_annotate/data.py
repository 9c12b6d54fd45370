"""Read the data rows to annotate (CSV, JSON list or JSON Lines); errors name the file, the key and the line."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from mephisto_core.errors import ConfigError


def read_rows(path: Path, kind: str) -> list[tuple[int, dict[str, Any]]]:
    """(line, row) for every row of `path` read as `kind` (data_csv, data_json or data_jsonl)."""
    key = f"blueprint.{kind}"
    if not path.is_file():
        raise ConfigError("file not found", file=path, key=key)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"is not UTF-8 text (byte {exc.start}); save it as UTF-8", file=path, key=key) from exc
    rows: list[tuple[int, dict[str, Any]]] = []
    if kind == "data_csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        for row in reader:
            rows.append((reader.line_num, {name: value for name, value in row.items() if name is not None}))
    elif kind == "data_jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                rows.append((number, _object(_loads(line, path, key, number), path, key, number)))
    else:
        data = _loads(text, path, key, None)
        if not isinstance(data, list):
            raise ConfigError("must hold a JSON list of objects (one per assignment)", file=path, key=key)
        rows = [(0, _object(item, path, key, None, index)) for index, item in enumerate(data, start=1)]
    if not rows:
        raise ConfigError("the data file has no rows; every row becomes one assignment", file=path, key=key)
    return rows


def _loads(text: str, path: Path, key: str, line: int | None) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"is not valid JSON: {exc.msg}", file=path, key=key, line=line or exc.lineno) from exc


def _object(value: Any, path: Path, key: str, line: int | None, item: int | None = None) -> dict[str, Any]:
    if not isinstance(value, dict):
        where = f"item {item}" if item is not None else "the line"
        raise ConfigError(f"{where} is not a JSON object", file=path, key=key, line=line)
    return value
