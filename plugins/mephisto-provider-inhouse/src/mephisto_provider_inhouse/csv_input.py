"""Reading workers to add from a CSV file: a `name` column and an optional `email` column."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from mephisto_core.errors import ProviderError
from mephisto_provider_inhouse.roster import email_problem, name_problem

NAME_COLUMN = "name"
EMAIL_COLUMN = "email"


@dataclass(frozen=True)
class WorkerToAdd:
    """A name (and email) to add, and where it came from, for error messages ("workers.csv:4")."""

    name: str
    email: str | None
    source: str


def read_workers_csv(path: Path) -> list[WorkerToAdd]:
    """Every row of the CSV at `path` as a worker to add; any bad row is a ProviderError naming its line.

    Headers are matched without regard to case or surrounding spaces; other columns are ignored, so a
    spreadsheet with more columns can be used as it is. Rows with neither name nor email are skipped.
    """
    try:
        # utf-8-sig: spreadsheet programs often start a CSV with a byte-order mark.
        with path.open(newline="", encoding="utf-8-sig") as fh:
            return _read_rows(path, fh)
    except FileNotFoundError:
        raise ProviderError(f"{path}: no such CSV file") from None
    except UnicodeDecodeError as exc:
        raise ProviderError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8 CSV") from exc
    except csv.Error as exc:
        raise ProviderError(f"{path}: not a readable CSV file ({exc})") from exc
    except OSError as exc:
        raise ProviderError(f"{path}: cannot read it ({exc.strerror or exc})") from exc


def _read_rows(path: Path, fh: TextIO) -> list[WorkerToAdd]:
    reader = csv.reader(fh)
    header = next(reader, None)
    if header is None:
        raise ProviderError(f"{path}: the file is empty; expected a header line with a {NAME_COLUMN!r} column")
    columns = [column.strip().lower() for column in header]
    if NAME_COLUMN not in columns:
        raise ProviderError(
            f"{path}:1: no {NAME_COLUMN!r} column in the header (found: {', '.join(header) or 'nothing'}); "
            f"the first line must name the columns, e.g. name,email"
        )
    name_at = columns.index(NAME_COLUMN)
    email_at = columns.index(EMAIL_COLUMN) if EMAIL_COLUMN in columns else None
    workers: list[WorkerToAdd] = []
    for row in reader:
        where = f"{path}:{reader.line_num}"
        if not any(cell.strip() for cell in row):
            continue
        name = row[name_at].strip() if name_at < len(row) else ""
        problem = name_problem(name)
        if problem is not None:
            raise ProviderError(f"{where}: worker name {name!r} {problem}")
        email = row[email_at].strip() if email_at is not None and email_at < len(row) else ""
        if email:
            problem = email_problem(email)
            if problem is not None:
                raise ProviderError(f"{where}: email {email!r} of worker {name!r} {problem}")
        workers.append(WorkerToAdd(name, email or None, where))
    return workers
