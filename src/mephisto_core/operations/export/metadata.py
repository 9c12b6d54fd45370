"""The export's metadata file, written beside the export as `<output>.meta.json`: what was exported, with which
options, and the task-level inputs left out of the unit rows (see `shared_inputs`)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from mephisto_core.operations.export.targets import atomic_text_file

#: Bumped when a key changes meaning; readers check it.
METADATA_SCHEMA = 1


def metadata_path(output: Path) -> Path:
    """Where the metadata of an export written to `output` goes: `labels.csv` -> `labels.csv.meta.json`."""
    return output.with_name(output.name + ".meta.json")


def write_metadata(
    path: Path, *, fmt: str, rows: int, aggregate: str | None, task_level_runs: dict[int, dict[str, Any]]
) -> None:
    """Write the metadata atomically: `runs` maps each run id whose unit rows have `inputs: null` to its task,
    number of assignments and the inputs they all share."""
    document = {
        "schema": METADATA_SCHEMA,
        "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "format": fmt,
        "rows": rows,
        "aggregate": aggregate,
        "task_level_inputs": {str(run_id): run for run_id, run in sorted(task_level_runs.items())},
    }
    with atomic_text_file(path) as out:
        json.dump(document, out, ensure_ascii=False, indent=2, allow_nan=False)
        out.write("\n")
