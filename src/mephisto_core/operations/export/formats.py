"""The three export formats: JSONL (one object per line), JSON (one array) and CSV (flattened, dotted columns).

Writers take export objects (`UnitRecord.to_dict()`) one at a time and never hold them all: CSV, whose header
must name every input and output key before the first row, spools the flattened rows to a temporary file.
"""

from __future__ import annotations

import csv
import json
import pickle
import tempfile
from collections.abc import Iterable
from enum import StrEnum
from typing import Any, TextIO

from mephisto_core.operations.export.records import EXPORT_KEYS


class ExportFormat(StrEnum):
    """What `mephisto export --format` writes."""

    JSONL = "jsonl"
    CSV = "csv"
    JSON = "json"


#: CSV columns that every row has, in this order; `inputs.*`, `outputs.*` and `aggregate.*` follow.
CSV_FIXED_COLUMNS: tuple[str, ...] = tuple(k for k in EXPORT_KEYS if k not in ("inputs", "outputs"))
_FLATTENED = ("inputs", "outputs", "aggregate")


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def write_jsonl(objects: Iterable[dict[str, Any]], out: TextIO) -> int:
    """One JSON object per line; returns how many were written."""
    count = 0
    for obj in objects:
        out.write(_dumps(obj))
        out.write("\n")
        count += 1
    return count


def write_json(objects: Iterable[dict[str, Any]], out: TextIO) -> int:
    """One JSON array of the objects, one object per line inside it; returns how many were written."""
    count = 0
    out.write("[")
    for obj in objects:
        out.write(",\n" if count else "\n")
        out.write(_dumps(obj))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def write_csv(objects: Iterable[dict[str, Any]], out: TextIO) -> int:
    """A header and one row per object (see `flatten`); returns how many rows were written.

    Columns: the fixed ones, then `inputs.*`, `outputs.*` and `aggregate.*` keys each in first-seen order.
    """
    dynamic: dict[str, dict[str, None]] = {group: {} for group in _FLATTENED}  # ordered sets
    count = 0
    # The spool holds only what this process wrote, so pickle (much faster than JSON here) is safe to read back.
    with tempfile.TemporaryFile() as spool:
        for obj in objects:
            row = flatten(obj)
            for column in row:
                group = column.split(".", 1)[0]
                if group in dynamic:
                    dynamic[group].setdefault(column, None)
            pickle.dump(row, spool, protocol=pickle.HIGHEST_PROTOCOL)
            count += 1
        columns = [*CSV_FIXED_COLUMNS, *(c for group in _FLATTENED for c in dynamic[group])]
        writer = csv.writer(out)
        writer.writerow(columns)
        spool.seek(0)
        for _ in range(count):
            row = pickle.load(spool)
            writer.writerow([row.get(column, "") for column in columns])
    return count


def flatten(obj: dict[str, Any]) -> dict[str, str]:
    """An export object as CSV cells: nested dicts become dotted columns (`outputs.answer`, `inputs.a.b`),
    lists are JSON text in one cell, booleans `true`/`false`, null an empty cell."""
    row: dict[str, str] = {}
    for key, value in obj.items():
        if key in _FLATTENED:
            if isinstance(value, dict):
                _flatten_into(row, key, value)
            elif value is not None:  # inputs that are not an object (a list, a string) get one column
                row[key] = cell(value)
        else:
            row[key] = cell(value)
    return row


def _flatten_into(row: dict[str, str], prefix: str, value: dict[str, Any]) -> None:
    for key, item in value.items():
        column = f"{prefix}.{key}"
        if isinstance(item, dict) and item:
            _flatten_into(row, column, item)
        else:
            row[column] = cell(item)


def cell(value: Any) -> str:
    """One value as CSV cell text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return repr(value)
    return _dumps(value)


WRITERS = {ExportFormat.JSONL: write_jsonl, ExportFormat.JSON: write_json, ExportFormat.CSV: write_csv}
