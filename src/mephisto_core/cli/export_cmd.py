"""`mephisto export`: submitted units as JSONL (default), CSV or JSON, their files, agreement and aggregation."""

from __future__ import annotations

import io
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from mephisto_core.data_model import Database
    from mephisto_core.operations.export.plan import ExportPlan, ExportResult
    from mephisto_core.operations.unit_filters import UnitFilters
    from mephisto_core.settings import Settings


@click.command()
@click.option("--task", metavar="NAME", help="Only units of this task.")
@click.option("--run", "run_id", type=int, metavar="ID", help="Only units of this task run.")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    metavar="S",
    help="Only units in this status (repeat, or separate with commas). Default: completed, accepted, rejected, "
    "soft_rejected. Aliases: approved = accepted, awaiting_review = completed.",
)
@click.option("--worker", metavar="NAME", help="Only units of this worker (the provider's worker id).")
@click.option("--since", metavar="DATE", help="Only units submitted at or after DATE (ISO, UTC unless an offset).")
@click.option("--until", metavar="DATE", help="Only units submitted before DATE; a date alone includes that day.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv", "json", "parquet"]),
    default="jsonl",
    show_default=True,
    help="jsonl: one object per line; csv: flattened dotted columns; json: one array; parquet: the CSV's columns, "
    "typed (needs pyarrow and --output).",
)
@click.option(
    "--output",
    "-o",
    default="-",
    metavar="FILE",
    help="Write here instead of to standard output: a file atomically, a FIFO or device (/dev/null) directly.",
)
@click.option(
    "--csv-raw-formulas",
    is_flag=True,
    help="CSV: write text cells starting with = + - @ tab or CR as they are. Default: prefix them with ' so a "
    "spreadsheet shows them as text instead of running them as formulas.",
)
@click.option(
    "--files",
    "files_dir",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Copy uploaded files to DIR/<unit_id>/<field>/<name>; the export's files[].path points at the copies.",
)
@click.option(
    "--agreement",
    is_flag=True,
    help="Print agreement per output field (percent and Krippendorff's alpha) instead of the units.",
)
@click.option(
    "--aggregate",
    type=click.Choice(["majority", "ds", "mace"]),
    help="One row per assignment instead of per unit: each categorical field's answer, votes, agreement "
    "(majority) or confidence (ds, mace) and a tie flag; ties are reported, not broken.",
)
@click.option(
    "--inline-inputs",
    is_flag=True,
    help="Keep task-level inputs (the same on every assignment of a run, e.g. a form's definition) on every "
    "row. Default: written once to FILE.meta.json when --output is a file.",
)
def export(
    task: str | None,
    run_id: int | None,
    statuses: tuple[str, ...],
    worker: str | None,
    since: str | None,
    until: str | None,
    fmt: str,
    output: str,
    csv_raw_formulas: bool,
    files_dir: Path | None,
    agreement: bool,
    aggregate: str | None,
    inline_inputs: bool,
) -> None:
    """Export submitted units: one object per unit with its inputs, outputs, files, timing and review.

    Examples: `mephisto export --task my-task > out.jsonl`, `mephisto export --format csv -o out.csv`,
    `mephisto export --task my-task --agreement`. See docs/export.md for the columns and definitions.
    """
    from mephisto_core.cli.context import load_settings, open_settings_database
    from mephisto_core.operations.export.plan import ExportFormat, ExportPlan
    from mephisto_core.operations.unit_filters import UnitQuery

    if agreement and (aggregate or files_dir):
        raise click.UsageError(
            "--agreement prints agreement numbers instead of units: leave out --aggregate and --files"
        )
    if aggregate and files_dir:
        raise click.UsageError("--aggregate writes one row per assignment, not per unit: leave out --files")
    if fmt == "parquet" and output == "-":
        raise click.UsageError("Parquet is a binary file: give --output FILE (e.g. -o labels.parquet)")
    if agreement and fmt != "json" and output != "-":
        raise click.UsageError("--agreement prints a table; add --format json to write the numbers to --output")
    settings = load_settings()
    database = open_settings_database(settings)
    try:
        query = UnitQuery(
            task=task, run_id=run_id, statuses=_split_statuses(statuses), worker=worker, since=since, until=until
        )
        filters = query.resolve()
        if agreement:
            _print_agreement(database, filters, as_json=fmt == "json", output=output)
            return
        plan = ExportPlan(
            filters=filters,
            fmt=ExportFormat(fmt),
            files_dir=files_dir,
            aggregate=aggregate,
            neutralise_csv_formulas=not csv_raw_formulas,
            inline_inputs=inline_inputs,
        )
        result = _run_export(settings, database, plan, output)
    finally:
        database.close()
    if output != "-":
        copied = f", {result.files_copied} files copied to {files_dir}" if files_dir is not None else ""
        what = "assignments" if aggregate else "units"
        click.echo(f"Exported {result.units} {what} to {output}{copied}.", err=True)
        if result.task_level_inputs:
            from mephisto_core.operations.export.metadata import metadata_path

            runs = ", ".join(str(run_id) for run_id in sorted(result.task_level_inputs))
            click.echo(
                f"The inputs shared by every assignment of run {runs} are in {metadata_path(Path(output))} "
                "(their rows have inputs: null); --inline-inputs keeps them on every row.",
                err=True,
            )


def _split_statuses(statuses: tuple[str, ...]) -> tuple[str, ...] | None:
    if not statuses:
        return None
    return tuple(part for value in statuses for part in value.split(",") if part.strip()) or statuses


def _run_export(settings: Settings, database: Database, plan: ExportPlan, output: str) -> ExportResult:
    from mephisto_core.operations.export.plan import export_to_file, export_units

    if output == "-":
        from dataclasses import replace

        # No file beside standard output for the metadata: every row keeps its inputs.
        with _utf8_stdout() as out:
            return export_units(database, settings.data_dir, replace(plan, inline_inputs=True), out)
    path = Path(output)
    if path.is_dir():  # the core refuses it too; here it is a usage error that names the option
        raise click.BadParameter(f"{output} is a folder; name a file", param_hint="--output")
    with _progress_bar(database, plan.filters, enabled=sys.stderr.isatty()) as on_progress:
        return export_to_file(database, settings.data_dir, plan, path, on_progress)


@contextmanager
def _utf8_stdout() -> Iterator[io.TextIOWrapper]:
    """Standard output as UTF-8 text with no newline translation, whatever the locale says."""
    stream = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="")
    try:
        yield stream
        stream.flush()
    except BrokenPipeError:
        # `mephisto export | head`: the reader left; stop quietly, and keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(0) from None
    finally:
        stream.detach()  # leave sys.stdout's buffer open


@contextmanager
def _progress_bar(database: Database, filters: UnitFilters, enabled: bool) -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar on standard error, fed by the export's progress callback (only on a terminal)."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from mephisto_core.operations.data_browser import DataBrowser

    total = DataBrowser(database).count_filtered(filters)
    columns = (TextColumn("Exporting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        bar = progress.add_task("export", total=total)
        yield lambda done: progress.update(bar, completed=done)


def _print_agreement(database: Database, filters: UnitFilters, as_json: bool, output: str) -> None:
    import json

    from mephisto_core.operations.export.plan import export_agreement, output_text_file

    numbers, categorical = export_agreement(database, filters)
    if as_json:
        text = json.dumps(numbers, indent=2, ensure_ascii=False) + "\n"
        if output == "-":
            with _utf8_stdout() as out:
                out.write(text)
        else:
            with output_text_file(Path(output)) as out:
                out.write(text)
        return
    _agreement_table(numbers, categorical)


def _agreement_table(numbers: dict[str, dict[str, Any]], categorical: list[str]) -> None:
    from rich.table import Table
    from rich.text import Text

    from mephisto_core.cli._tables import console

    out = console()
    if not numbers:
        out.print(
            "No assignment has two or more submitted units answering the same field, so there is no agreement "
            "to measure (agreement needs task.units_per_assignment of 2 or more)."
        )
        return
    table = Table(title=Text("Agreement per output field"), title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("categorical", justify="center")
    table.add_column("assignments", justify="right")
    table.add_column("percent agreement", justify="right")
    table.add_column("Krippendorff's alpha (nominal)", justify="right")
    for name, values in numbers.items():
        alpha = values["alpha"]
        table.add_row(
            Text(name),
            "yes" if name in categorical else "no",
            str(values["assignments"]),
            f"{values['percent']:.1f} %",
            "n/a" if alpha is None else f"{alpha:.3f}",
        )
    out.print(table)
    out.print(
        "Percent: share of agreeing unit pairs per assignment, averaged over assignments. Alpha n/a: every "
        "answer is the same (alpha is undefined). See docs/export.md."
    )
