"""The three export formats: JSONL (one object per line), JSON (one array) and CSV (flattened, dotted columns).

Writers take export objects (`UnitRecord.to_dict()`) one at a time and never hold them all: CSV, whose header
must name every input and output key before the first row, spools the flattened rows to a temporary file.

Numbers are written exactly (integers of any length keep every digit); NaN and infinities, which JSON cannot
hold, stop the export with an error naming the unit. CSV text cells that a spreadsheet would run as a formula
are neutralised unless the caller asks for them raw (see `neutralise_formula`).
"""

from __future__ import annotations

import csv
import json
import math
import pickle
import tempfile
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Any, TextIO

from mephisto_core.errors import MephistoError
from mephisto_core.operations.export.records import EXPORT_KEYS


class ExportFormat(StrEnum):
    """What `mephisto export --format` writes."""

    JSONL = "jsonl"
    CSV = "csv"
    JSON = "json"
    PARQUET = "parquet"


#: CSV columns that every row has, in this order; `inputs.*`, `outputs.*` and `aggregate.*` follow.
CSV_FIXED_COLUMNS: tuple[str, ...] = tuple(k for k in EXPORT_KEYS if k not in ("inputs", "outputs"))
_FLATTENED = ("inputs", "outputs", "aggregate")


# OWASP's list for CSV injection: a cell starting with one of these is a formula to Excel, LibreOffice, Sheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


class NonFiniteNumber(MephistoError):
    """A stored value holds NaN or an infinity (written before the router refused them), which JSON cannot hold."""


def _object_text(obj: dict[str, Any]) -> str:
    try:
        return _dumps(obj)
    except ValueError:  # allow_nan=False: NaN or an infinity somewhere in the unit's data
        raise _non_finite(obj) from None


def _non_finite(obj: dict[str, Any]) -> NonFiniteNumber:
    return NonFiniteNumber(
        f"unit {obj.get('unit_id')} holds a number that is not finite (NaN or Infinity), which JSON cannot "
        "hold; it was stored before such numbers were refused. Leave the unit out (for example with --until or "
        "--status) or correct the stored answer."
    )


def write_jsonl(objects: Iterable[dict[str, Any]], out: TextIO) -> int:
    """One JSON object per line; returns how many were written."""
    count = 0
    for obj in objects:
        out.write(_object_text(obj))
        out.write("\n")
        count += 1
    return count


def write_json(objects: Iterable[dict[str, Any]], out: TextIO) -> int:
    """One JSON array of the objects, one object per line inside it; returns how many were written."""
    count = 0
    out.write("[")
    for obj in objects:
        out.write(",\n" if count else "\n")
        out.write(_object_text(obj))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def write_csv(
    objects: Iterable[dict[str, Any]],
    out: TextIO,
    *,
    neutralise_formulas: bool = True,
    fixed: tuple[str, ...] = CSV_FIXED_COLUMNS,
) -> int:
    """A header and one row per object (see `flatten`); returns how many rows were written.

    Columns: the `fixed` ones (a unit's by default), then `inputs.*`, `outputs.*` and `aggregate.*` keys each
    in first-seen order.
    With `neutralise_formulas` (the default), text cells a spreadsheet would run get a leading `'`.
    """
    dynamic: dict[str, dict[str, None]] = {group: {} for group in _FLATTENED}  # ordered sets
    count = 0
    # The spool holds only what this process wrote, so pickle (much faster than JSON here) is safe to read back.
    with tempfile.TemporaryFile() as spool:
        for obj in objects:
            try:
                row = flatten(obj, neutralise_formulas=neutralise_formulas)
            except NonFiniteNumber:
                raise _non_finite(obj) from None
            for column in row:
                group = column.split(".", 1)[0]
                if group in dynamic:
                    dynamic[group].setdefault(column, None)
            pickle.dump(row, spool, protocol=pickle.HIGHEST_PROTOCOL)
            count += 1
        columns = [*fixed, *(c for group in _FLATTENED for c in dynamic[group])]
        writer = csv.writer(out)
        writer.writerow(columns)
        spool.seek(0)
        for _ in range(count):
            row = pickle.load(spool)
            writer.writerow([row.get(column, "") for column in columns])
    return count


def flatten(obj: dict[str, Any], *, neutralise_formulas: bool = True) -> dict[str, str]:
    """An export object as CSV cells: nested dicts become dotted columns (`outputs.answer`, `inputs.a.b`),
    a list of plain values is joined with `|` (`cat|dog`), other lists are JSON text in one cell, booleans
    `true`/`false`, null an empty cell; text cells that start like a
    formula are neutralised unless `neutralise_formulas` is false."""
    to_cell = cell if neutralise_formulas else raw_cell
    row: dict[str, str] = {}
    for key, value in obj.items():
        if key in _FLATTENED:
            if isinstance(value, dict):
                _flatten_into(row, key, value, to_cell)
            elif value is not None:  # inputs that are not an object (a list, a string) get one column
                row[key] = to_cell(value)
        else:
            row[key] = to_cell(value)
    return row


def _flatten_into(row: dict[str, str], prefix: str, value: dict[str, Any], to_cell: Callable[[Any], str]) -> None:
    for key, item in value.items():
        column = f"{prefix}.{key}"
        if isinstance(item, dict) and item:
            _flatten_into(row, column, item, to_cell)
        else:
            row[column] = to_cell(item)


def cell(value: Any) -> str:
    """One value as CSV cell text, a text value that starts like a formula neutralised."""
    if isinstance(value, str):
        return neutralise_formula(value)
    if is_plain_list(value):
        return LIST_DELIMITER.join(cell(item) for item in value)
    return raw_cell(value)


#: What joins the values of a multi-select answer (a list of plain values) in one CSV cell: `cat|dog`.
LIST_DELIMITER = "|"


def is_plain_list(value: Any) -> bool:
    """Whether `value` is a list of text, numbers and booleans (a multi-select answer) whose values can be
    joined with `|` and split back: no null, no nested list or object, no text holding a `|`. An empty list is
    not one (it stays `[]`, which an empty cell, meaning null, could not say)."""
    return (
        isinstance(value, list)
        and len(value) > 0
        and all(
            (isinstance(item, str) and LIST_DELIMITER not in item)
            or (isinstance(item, int | float) and (not isinstance(item, float) or math.isfinite(item)))
            for item in value
        )
    )


def raw_cell(value: Any) -> str:
    """One value as CSV cell text, exactly as stored (a multi-select list as its values joined by `|`)."""
    if is_plain_list(value):
        return LIST_DELIMITER.join(raw_cell(item) for item in value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise NonFiniteNumber(f"{value!r} is not a finite number")
    if isinstance(value, int | float):
        return repr(value)
    try:
        return _dumps(value)
    except ValueError:
        raise NonFiniteNumber("a list or object holds a number that is not finite") from None


def neutralise_formula(text: str) -> str:
    """`text` with a leading `'` when it starts with `=`, `+`, `-`, `@`, tab or carriage return (OWASP's rule for
    CSV injection), so a spreadsheet shows it as text instead of running it.

    Only text gets this: numbers are written by the exporter itself (`-3` stays a number), and lists and objects
    are JSON text starting with `[` or `{`.
    """
    return "'" + text if text.startswith(FORMULA_STARTS) else text


WRITERS = {ExportFormat.JSONL: write_jsonl, ExportFormat.JSON: write_json, ExportFormat.CSV: write_csv}
