"""Export operation: stream units from the data browser into JSONL, CSV or JSON, optionally copying their files
and adding aggregated answers; write a regular file atomically so a failed export leaves nothing half-written
(a character device or FIFO is written directly, see `targets.output_text_file`).

```python
plan = ExportPlan(filters=UnitQuery(task="my-task").resolve(), fmt=ExportFormat.CSV)
export_to_file(database, settings.data_dir, plan, Path("out.csv"))
```
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from mephisto_core.data_model import Database
from mephisto_core.errors import MephistoError
from mephisto_core.operations.data_browser import DataBrowser
from mephisto_core.operations.export.files import FileCopier
from mephisto_core.operations.export.formats import WRITERS, ExportFormat, write_csv
from mephisto_core.operations.export.targets import atomic_text_file, output_text_file
from mephisto_core.operations.review.agreement import AGGREGATION_METHODS, AnswerTable
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

#: How often (in units) the progress callback is told; per unit would cost more than the export itself.
PROGRESS_EVERY = 1000


@dataclass(frozen=True)
class ExportPlan:
    """What to export and how: which units, the format, where files go, which aggregation to add, and whether
    CSV text cells that start like a formula are neutralised (the default; see `formats.neutralise_formula`)."""

    filters: UnitFilters = field(default_factory=UnitFilters)
    fmt: ExportFormat = ExportFormat.JSONL
    files_dir: Path | None = None
    aggregate: str | None = None  # "majority", "ds" or "mace"
    neutralise_csv_formulas: bool = True

    def __post_init__(self) -> None:
        if self.aggregate is not None and self.aggregate not in AGGREGATION_METHODS:
            raise MephistoError(
                f"aggregate {self.aggregate!r} is not known; use one of {', '.join(AGGREGATION_METHODS)}"
            )


@dataclass(frozen=True)
class ExportResult:
    """How many units were written and files copied."""

    units: int
    files_copied: int


def export_units(
    database: Database,
    data_dir: Path,
    plan: ExportPlan,
    out: TextIO,
    on_progress: Callable[[int], None] | None = None,
) -> ExportResult:
    """Write the plan's units to `out`; `on_progress(units_done)` is called now and then and at the end."""
    browser = DataBrowser(database)
    aggregates: dict[int, dict[str, Any]] | None = None
    if plan.aggregate is not None:
        # Dawid-Skene and MACE model every worker across all assignments: a first pass collects the answers.
        table = AnswerTable.from_records(browser.iter_filtered(plan.filters))
        aggregates = table.aggregate(plan.aggregate)
    copier = FileCopier(data_dir, plan.files_dir) if plan.files_dir is not None else None

    def objects() -> Iterator[dict[str, Any]]:
        for done, record in enumerate(browser.iter_filtered(plan.filters), start=1):
            if copier is not None:
                copier.copy(record)
            if aggregates is not None:
                record.aggregate = aggregates.get(record.assignment_id, {})
            yield record.to_dict()
            if on_progress is not None and done % PROGRESS_EVERY == 0:
                on_progress(done)

    if plan.fmt is ExportFormat.CSV:
        units = write_csv(objects(), out, neutralise_formulas=plan.neutralise_csv_formulas)
    else:
        units = WRITERS[plan.fmt](objects(), out)
    if on_progress is not None:
        on_progress(units)
    return ExportResult(units=units, files_copied=copier.copied if copier is not None else 0)


def export_to_file(
    database: Database,
    data_dir: Path,
    plan: ExportPlan,
    path: Path,
    on_progress: Callable[[int], None] | None = None,
) -> ExportResult:
    """`export_units` into `path`: a regular file atomically (it appears complete or not at all), a character
    device or FIFO directly; a folder is refused (see `targets.output_text_file`)."""
    with output_text_file(path) as out:
        return export_units(database, data_dir, plan, out, on_progress)


def export_agreement(database: Database, filters: UnitFilters) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Agreement per output field of the filtered units (see `agreement`), and the categorical fields."""
    table = AnswerTable.from_records(DataBrowser(database).iter_filtered(filters))
    return table.agreement(), table.categorical_fields()
