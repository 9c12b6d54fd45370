"""`mephisto export --format parquet`: the CSV's columns (fixed ones, `inputs.*`, `outputs.*`, `aggregate.*`)
as a Parquet file for pandas, R (arrow) and Hugging Face datasets, with typed columns.

A column's type is what all its values have: booleans, integers (int64), numbers (float64), text, or a list of
text or of numbers (a multi-select answer). A column whose values mix types, an integer beyond int64, an object or
a list of objects is text (JSON text for everything that is not a string). Null stays null. Needs pyarrow:
`pip install 'mephisto-core[parquet]'`.

Rows are spooled to a temporary file while the column types are learned, then written in row groups, so memory
holds one row group (not the whole export). The file is written beside the target and renamed over it at the end.
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from mephisto_core.errors import MephistoError
from mephisto_core.operations.export.formats import _FLATTENED, NonFiniteNumber, _dumps, _non_finite, is_plain_list

INSTALL_HINT = "pip install 'mephisto-core[parquet]'"
ROW_GROUP = 10_000
_INT64 = (-(2**63), 2**63 - 1)


class ParquetUnavailable(MephistoError):
    """pyarrow, which Parquet export needs, is not installed."""


def flatten_native(obj: dict[str, Any]) -> dict[str, Any]:
    """The CSV's columns with the values kept as Python values (see the module doc for lists and objects)."""
    row: dict[str, Any] = {}
    for key, value in obj.items():
        if key in _FLATTENED and isinstance(value, dict):
            _into(row, key, value)
        elif key in _FLATTENED and value is None:
            continue
        else:
            row[key] = _native(value)
    return row


def _into(row: dict[str, Any], prefix: str, value: dict[str, Any]) -> None:
    for key, item in value.items():
        column = f"{prefix}.{key}"
        if isinstance(item, dict) and item:
            _into(row, column, item)
        else:
            row[column] = _native(item)


def _native(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise NonFiniteNumber(f"{value!r} is not a finite number")
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if value == [] or (is_plain_list(value) and not any(isinstance(item, bool) for item in value)):
        return list(value)
    try:
        return _Json(_dumps(value))
    except ValueError:
        raise NonFiniteNumber("a list or object holds a number that is not finite") from None


class _Json(str):
    """A list or object already turned into JSON text: a text column whatever else the column holds."""


def _kind(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, _Json):
        return "json"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int" if _INT64[0] <= value <= _INT64[1] else "json"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if not value:
        return "list:empty"  # fits a list column of any item type
    if all(isinstance(item, str) for item in value):
        return "list:str"
    if all(isinstance(item, int) and _INT64[0] <= item <= _INT64[1] for item in value):
        return "list:int"
    if all(isinstance(item, int | float) for item in value):
        return "list:float"
    return "json"


def _arrow_type(kinds: set[str]) -> Any:
    import pyarrow as pa

    if "list:empty" in kinds:
        kinds = (kinds - {"list:empty"}) or {"list:str"}

    for allowed, arrow in (
        ({"bool"}, pa.bool_()),
        ({"int"}, pa.int64()),
        ({"int", "float"}, pa.float64()),
        ({"str"}, pa.string()),
        ({"list:str"}, pa.list_(pa.string())),
        ({"list:int"}, pa.list_(pa.int64())),
        ({"list:int", "list:float"}, pa.list_(pa.float64())),
    ):
        if kinds and kinds <= allowed:
            return arrow
    return pa.string()


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return str(_dumps(value))


def write_parquet(objects: Iterable[dict[str, Any]], path: Path, fixed: tuple[str, ...]) -> int:
    """Write the objects to `path` as Parquet (atomically); returns how many rows were written."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ParquetUnavailable(f"--format parquet needs pyarrow: {INSTALL_HINT}") from exc
    dynamic: dict[str, dict[str, None]] = {group: {} for group in _FLATTENED}
    kinds: dict[str, set[str]] = {}
    count = 0
    with tempfile.TemporaryFile() as spool:  # only this process's rows: pickle is safe to read back
        for obj in objects:
            try:
                row = flatten_native(obj)
            except NonFiniteNumber:
                raise _non_finite(obj) from None
            for column, value in row.items():
                group = column.split(".", 1)[0]
                if group in dynamic:
                    dynamic[group].setdefault(column, None)
                kind = _kind(value)
                if kind is not None:
                    kinds.setdefault(column, set()).add(kind)
            pickle.dump(row, spool, protocol=pickle.HIGHEST_PROTOCOL)
            count += 1
        columns = [*fixed, *(c for group in _FLATTENED for c in dynamic[group])]
        types = {column: _arrow_type(kinds.get(column, set())) for column in columns}
        schema = pa.schema([(column, types[column]) for column in columns])
        spool.seek(0)
        with _atomic_binary(path) as target, pq.ParquetWriter(target, schema) as writer:
            text = {column for column in columns if types[column] == pa.string()}  # once, not per cell
            for batch in _batches(spool, count):
                data = {
                    column: [_as_text(row.get(column)) for row in batch]
                    if column in text
                    else [row.get(column) for row in batch]
                    for column in columns
                }
                writer.write_table(pa.Table.from_pydict(data, schema=schema))
    return count


def _batches(spool: Any, count: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for _ in range(count):
        batch.append(pickle.load(spool))
        if len(batch) == ROW_GROUP:
            yield batch
            batch = []
    if batch or count == 0:
        yield batch


@contextlib.contextmanager
def _atomic_binary(path: Path) -> Iterator[str]:
    """A temporary file name beside `path`, renamed over it once the `with` block succeeds."""
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise MephistoError(f"cannot write {path}: the folder {directory} does not exist")
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        yield name
        os.chmod(name, 0o644)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
