"""Export operation: stream units from the data browser into JSONL, CSV, JSON or Parquet, optionally copying
their files, or one aggregated row per assignment; write a regular file atomically so a failed export leaves
nothing half-written (a character device or FIFO is written directly, see `targets.output_text_file`).

```python
plan = ExportPlan(filters=UnitQuery(task="my-task").resolve(), fmt=ExportFormat.CSV)
export_to_file(database, settings.data_dir, plan, Path("out.csv"))
```
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from mephisto_core.data_model import Database
from mephisto_core.errors import MephistoError
from mephisto_core.operations.data_browser import DataBrowser
from mephisto_core.operations.export.aggregate import AGGREGATE_METHODS, ItemAggregator
from mephisto_core.operations.export.files import FileCopier
from mephisto_core.operations.export.formats import CSV_FIXED_COLUMNS, WRITERS, ExportFormat, write_csv
from mephisto_core.operations.export.metadata import metadata_path, write_metadata
from mephisto_core.operations.export.parquet import write_parquet
from mephisto_core.operations.export.records import UnitRecord
from mephisto_core.operations.export.shared_inputs import SharedInputs
from mephisto_core.operations.export.span_agreement import SpanTable
from mephisto_core.operations.export.targets import atomic_text_file, output_text_file
from mephisto_core.operations.review.agreement import AnswerTable
from mephisto_core.operations.unit_filters import UnitFilters, UnitQuery, resolve_filters

__all__ = [
    "ExportFormat",
    "ExportPlan",
    "ExportResult",
    "UnitQuery",
    "atomic_text_file",
    "export_agreement",
    "export_to_file",
    "export_units",
    "output_text_file",
    "resolve_filters",
]

#: The columns of an aggregated row before `inputs.*` and `aggregate.<field>.*`.
AGGREGATE_FIXED_COLUMNS: tuple[str, ...] = ("task", "task_run_id", "assignment_id", "units", "method")

#: How often (in units) the progress callback is told; per unit would cost more than the export itself.
PROGRESS_EVERY = 1000


@dataclass(frozen=True)
class ExportPlan:
    """What to export and how: which units, the format, where files go, which aggregation to make (one row per
    assignment instead of one per unit), whether CSV text cells that start like a formula are neutralised (the
    default; see `formats.neutralise_formula`), and whether task-level inputs stay on every row."""

    filters: UnitFilters = field(default_factory=UnitFilters)
    fmt: ExportFormat = ExportFormat.JSONL
    files_dir: Path | None = None
    aggregate: str | None = None  # "majority", "ds" or "mace"
    neutralise_csv_formulas: bool = True
    inline_inputs: bool = False  # True: every row keeps its inputs, even when they are task-level

    def __post_init__(self) -> None:
        if self.aggregate is not None and self.aggregate not in AGGREGATE_METHODS:
            raise MephistoError(f"aggregate {self.aggregate!r} is not known; use one of {', '.join(AGGREGATE_METHODS)}")
        if self.aggregate is not None and self.files_dir is not None:
            raise MephistoError("an aggregated export has one row per assignment, not per unit: it copies no files")


@dataclass(frozen=True)
class ExportResult:
    """How many rows were written and files copied, and the runs whose inputs were left out of the rows
    (run id -> {"task", "assignments", "inputs"}: what the metadata file holds)."""

    units: int
    files_copied: int
    task_level_inputs: dict[int, dict[str, Any]] = field(default_factory=dict)


class _Rows:
    """The export objects of a plan: one per unit, or one per assignment when aggregating."""

    def __init__(
        self, database: Database, data_dir: Path, plan: ExportPlan, on_progress: Callable[[int], None] | None
    ) -> None:
        self.browser = DataBrowser(database)
        self.plan = plan
        self.on_progress = on_progress
        self.shared = None if plan.inline_inputs else SharedInputs(database)
        self.copier = FileCopier(data_dir, plan.files_dir) if plan.files_dir is not None else None

    @property
    def fixed_columns(self) -> tuple[str, ...]:
        return AGGREGATE_FIXED_COLUMNS if self.plan.aggregate is not None else CSV_FIXED_COLUMNS

    def _inputs(self, record: UnitRecord) -> Any:
        if self.shared is not None and self.shared.is_task_level(record.task_run_id, record.task):
            return None  # written once, in the metadata file
        return record.inputs

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self.plan.aggregate is not None:
            # ItemAggregator also aggregates span and numeric (Likert) fields (span_agreement.SpanTable).
            aggregator = ItemAggregator(self.plan.aggregate)
            for record in self.browser.iter_filtered(self.plan.filters):
                aggregator.add(record, self._inputs(record))
            yield from aggregator.rows()
            return
        for done, record in enumerate(self.browser.iter_filtered(self.plan.filters), start=1):
            if self.copier is not None:
                self.copier.copy(record)
            record.inputs = self._inputs(record)
            yield record.to_dict()
            if self.on_progress is not None and done % PROGRESS_EVERY == 0:
                self.on_progress(done)

    def result(self, count: int) -> ExportResult:
        if self.on_progress is not None:
            self.on_progress(count)
        return ExportResult(
            units=count,
            files_copied=self.copier.copied if self.copier is not None else 0,
            task_level_inputs=self.shared.runs if self.shared is not None else {},
        )


def export_units(
    database: Database,
    data_dir: Path,
    plan: ExportPlan,
    out: TextIO,
    on_progress: Callable[[int], None] | None = None,
) -> ExportResult:
    """Write the plan's rows to `out` (JSONL, JSON or CSV); `on_progress(units_done)` is called now and then.

    Task-level inputs are left out of the rows (`inputs: null`) unless `plan.inline_inputs`: the caller writes
    `result.task_level_inputs` somewhere (`export_to_file` writes the metadata file). Parquet needs a path:
    `export_to_file`.
    """
    rows = _Rows(database, data_dir, plan, on_progress)
    if plan.fmt is ExportFormat.PARQUET:
        raise MephistoError("Parquet is a binary file format: write it to a file (--output FILE)")
    if plan.fmt is ExportFormat.CSV:
        count = write_csv(iter(rows), out, neutralise_formulas=plan.neutralise_csv_formulas, fixed=rows.fixed_columns)
    else:
        count = WRITERS[plan.fmt](iter(rows), out)
    return rows.result(count)


def export_to_file(
    database: Database,
    data_dir: Path,
    plan: ExportPlan,
    path: Path,
    on_progress: Callable[[int], None] | None = None,
) -> ExportResult:
    """`export_units` into `path`: a regular file atomically (it appears complete or not at all), a character
    device or FIFO directly; a folder is refused (see `targets.output_text_file`).

    To a regular file, runs whose inputs are task-level have them written once to `<path>.meta.json`
    (`metadata.write_metadata`) and `inputs: null` on their rows; to a device or FIFO every row keeps them.
    """
    regular = not path.exists() or path.is_file()
    if not regular and not plan.inline_inputs:
        plan = replace(plan, inline_inputs=True)  # no file beside a pipe or device to put the metadata in
    if plan.fmt is ExportFormat.PARQUET:
        if not regular:
            raise MephistoError(f"cannot write Parquet to {path}: name a regular file (it is written atomically)")
        rows = _Rows(database, data_dir, plan, on_progress)
        result = rows.result(write_parquet(iter(rows), path, rows.fixed_columns))
    else:
        with output_text_file(path) as out:
            result = export_units(database, data_dir, plan, out, on_progress)
    if result.task_level_inputs:
        write_metadata(
            metadata_path(path),
            fmt=plan.fmt.value,
            rows=result.units,
            aggregate=plan.aggregate,
            task_level_runs=result.task_level_inputs,
        )
    return result


def export_agreement(database: Database, filters: UnitFilters) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Agreement per output field of the filtered units (see `agreement`), and the categorical fields."""
    browser = DataBrowser(database)
    table, spans = AnswerTable(), SpanTable()
    for answer in browser.answers_filtered(filters):  # who answered what; inputs only where spans point into them
        table.add(answer)
        spans.add(answer)
    spans.add_inputs(browser.assignment_inputs(spans.inputs_wanted()))
    numbers = table.agreement()
    spans.update_agreement(numbers)  # span overlap, and interval alpha for numeric (Likert) fields
    return numbers, table.categorical_fields()
