"""Finding the file a download link names: only files recorded for that unit, only under the data dir."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mephisto_core.errors import NotFound

if TYPE_CHECKING:
    from mephisto_core.review_app.app import ReviewApp

_MIME = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}")


@dataclass(frozen=True)
class RecordedFile:
    """A file a worker uploaded, resolved to its place on disk."""

    path: Path
    name: str
    content_type: str
    size: int


def recorded_file(app: ReviewApp, unit_id: int, index: int) -> RecordedFile:
    """The `index`-th file stored with unit `unit_id`'s submission; NotFound for anything else.

    The path comes from the database record, never from the request, and must resolve inside the data dir
    (a record edited to point elsewhere is refused).
    """
    record = app.browser.unit(unit_id)
    if not 0 <= index < len(record.files):
        have = len(record.files)
        raise NotFound(f"unit {unit_id} has no file number {index} (it has {have} file{'s' if have != 1 else ''})")
    stored = record.files[index]
    root = app.settings.data_dir.resolve()
    path = (root / stored["path"]).resolve()
    if not path.is_relative_to(root):
        raise NotFound(f"file {index} of unit {unit_id} is recorded outside the data dir; it is not served")
    if not path.is_file():
        raise NotFound(f"file {index} of unit {unit_id} ({stored['name']}) is recorded but missing from {path}")
    content_type = stored["type"] if _MIME.fullmatch(str(stored["type"])) else "application/octet-stream"
    return RecordedFile(path, str(stored["name"]), content_type, path.stat().st_size)
