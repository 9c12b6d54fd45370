"""`mephisto export --files DIR`: copy each unit's uploaded files to DIR/<unit_id>/<field>/<name>.

Field and file names come from workers, so both are reduced to a plain basename (`safe_file_name`), and every
destination is checked to lie inside DIR; every source is checked to lie inside the data dir, so a tampered
database row cannot make the export read or write anywhere else.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mephisto_core.errors import MephistoError
from mephisto_core.operations.export.records import UnitRecord
from mephisto_core.operations.run.uploads import safe_file_name


class FileCopier:
    """Copies records' files out of the data dir and points their `path` at the copies."""

    def __init__(self, data_dir: Path, files_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self.files_dir = files_dir  # as given: exported paths start with it, relative or absolute
        self._root = files_dir.resolve()
        self.copied = 0

    def copy(self, record: UnitRecord) -> None:
        """Copy every file of the record; afterwards `files[i]["path"]` is the copy's path."""
        taken: set[str] = set()
        for entry in record.files:
            source = self._source(record, entry["path"])
            relative = self._destination(record, entry["field"], entry["name"], taken)
            target = self._root / relative
            if not target.resolve().is_relative_to(self._root):
                raise MephistoError(
                    f"unit {record.unit_id}: file {entry['name']!r} would be copied outside {self.files_dir}"
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            entry["path"] = str(self.files_dir / relative)
            self.copied += 1

    def _source(self, record: UnitRecord, stored: str) -> Path:
        source = (self.data_dir / stored).resolve()
        if not source.is_relative_to(self.data_dir):
            raise MephistoError(f"unit {record.unit_id}: stored file path {stored!r} points outside the data dir")
        if not source.is_file():
            raise MephistoError(
                f"unit {record.unit_id}: the stored file {stored!r} is missing from the data dir {self.data_dir}"
            )
        return source

    def _destination(self, record: UnitRecord, field: str, name: str, taken: set[str]) -> Path:
        folder = Path(str(record.unit_id), safe_file_name(field))
        base = safe_file_name(name)
        candidate, n = base, 1
        # Two uploads of one field may share a name (or become equal once sanitised): number the later ones.
        while str(folder / candidate) in taken:
            n += 1
            stem, dot, suffix = base.rpartition(".")
            candidate = f"{stem}-{n}.{suffix}" if dot and stem else f"{base}-{n}"
        taken.add(str(folder / candidate))
        return folder / candidate
