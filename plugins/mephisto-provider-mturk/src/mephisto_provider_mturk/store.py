"""The provider's own files in its data folder: this installation's tag, each run's HIT type, assignments seen.

- `install_id`: a random tag written once; every HIT this installation publishes carries it in its
  RequesterAnnotation, so HITs of another installation (or made by hand) on the same account are never touched.
- `runs/<run id>.json`: the run's HIT type, so review, reconciliation and cleanup find it without a launch.
- `assignments.jsonl`: one line per assignment a worker opened (assignment, HIT, worker), so reconciliation knows
  which HIT a held assignment belongs to (MTurk lists only submitted assignments).
- `qualifications.json`: {requester: {mephisto name: MTurk qualification type id}}.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mephisto_core.abstractions import append_line, read_new_lines

ANNOTATION_PREFIX = "mephisto"


@dataclass(frozen=True)
class Annotation:
    """What a HIT's RequesterAnnotation says: which installation and run published it, under which key."""

    install_id: str
    run_id: int
    key: str

    def text(self) -> str:
        """The RequesterAnnotation value (MTurk allows 255 characters; keys are far shorter)."""
        return f"{ANNOTATION_PREFIX}:{self.install_id}:{self.run_id}:{self.key}"

    @classmethod
    def parse(cls, text: str | None) -> Annotation | None:
        """The annotation of a HIT this toolkit published, or None for any other HIT."""
        parts = (text or "").split(":", 3)
        if len(parts) != 4 or parts[0] != ANNOTATION_PREFIX or not parts[2].isdigit():
            return None
        return cls(parts[1], int(parts[2]), parts[3])


def _private_dir(folder: Path) -> None:
    """Make `folder` and any missing parent 0700 (mkdir's `parents` would make the parents 0755)."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for level in reversed(missing):
        level.mkdir(mode=0o700, exist_ok=True)


def _write_private(path: Path, text: str) -> None:
    """Replace `path` with `text` atomically, readable by this user only."""
    _private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class ProviderStore:
    """Reads and writes the files above; safe to use from several threads and processes."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._lock = threading.Lock()
        self._assignments: dict[str, tuple[str, str]] = {}  # assignment -> (hit, worker)
        self._latest_on_hit: dict[str, str] = {}  # hit -> the last assignment seen on it
        self._read_up_to = 0  # bytes of assignments.jsonl read so far (other processes append too)

    def install_id(self) -> str:
        """This installation's tag (made on first use; when two processes race, the first one written wins)."""
        path = self.data_dir / "install_id"
        with self._lock:
            if not path.exists():
                _private_dir(self.data_dir)
                tmp = path.with_name(f".install_id.{os.getpid()}.{threading.get_ident()}.tmp")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(secrets.token_hex(4) + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())
                try:
                    os.link(tmp, path)  # never replaces an id another process wrote meanwhile
                except FileExistsError:
                    pass
                finally:
                    tmp.unlink()
            value = path.read_text(encoding="utf-8").strip()
            if not value.isalnum():
                raise ValueError(f"{path} is damaged (expected letters and digits): restore it or delete it")
            return value

    def run_record(self, run_id: int) -> dict[str, Any] | None:
        """What setup_resources stored for run `run_id` (hit_type_id, requester, worker_url), or None."""
        path = self.data_dir / "runs" / f"{run_id}.json"
        if not path.exists():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else None

    def save_run_record(self, run_id: int, record: dict[str, Any]) -> None:
        """Store run `run_id`'s HIT type (and whatever else setup_resources needs later)."""
        with self._lock:
            _write_private(self.data_dir / "runs" / f"{run_id}.json", json.dumps(record, sort_keys=True) + "\n")

    def run_ids(self) -> list[int]:
        """Every run this installation set up at MTurk."""
        folder = self.data_dir / "runs"
        return sorted(int(p.stem) for p in folder.glob("*.json") if p.stem.isdigit()) if folder.exists() else []

    def _read_new_assignments(self) -> None:
        """Read what was appended to assignments.jsonl since the last read (by any process)."""
        lines, self._read_up_to = read_new_lines(self.data_dir / "assignments.jsonl", self._read_up_to)
        for line in lines:
            try:
                row = json.loads(line)
                assignment, hit = str(row["assignment"]), str(row["hit"])
                self._assignments[assignment] = (hit, str(row["worker"]))
                self._latest_on_hit[hit] = assignment
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a crash: that assignment is simply not known

    def note_assignment(self, assignment_id: str, hit_id: str, worker_id: str) -> None:
        """Remember which HIT and worker an assignment belongs to (once per assignment)."""
        with self._lock:
            if self._assignments.get(assignment_id) == (hit_id, worker_id):
                return
            self._read_new_assignments()
            if self._assignments.get(assignment_id) == (hit_id, worker_id):
                return
            _private_dir(self.data_dir)
            line = json.dumps({"assignment": assignment_id, "hit": hit_id, "worker": worker_id})
            append_line(self.data_dir / "assignments.jsonl", line, durable=False)
            self._read_new_assignments()

    def assignment(self, assignment_id: str) -> tuple[str, str] | None:
        """(HIT id, worker id) of an assignment a worker opened, or None."""
        with self._lock:
            self._read_new_assignments()
            return self._assignments.get(assignment_id)

    def latest_assignment_of_hit(self, hit_id: str) -> str | None:
        """The last assignment seen on `hit_id` (one HIT holds one assignment at a time)."""
        with self._lock:
            self._read_new_assignments()
            return self._latest_on_hit.get(hit_id)

    def qualification_ids(self, requester: str) -> dict[str, str]:
        """{mephisto name: MTurk qualification type id} made for `requester`."""
        path = self.data_dir / "qualifications.json"
        if not path.exists():
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
        known = data.get(requester, {}) if isinstance(data, dict) else {}
        return {str(k): str(v) for k, v in known.items()}

    def save_qualification_id(self, requester: str, name: str, type_id: str) -> None:
        """Remember the MTurk qualification type used for mephisto qualification `name`."""
        path = self.data_dir / "qualifications.json"
        with self._lock:
            data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
            data.setdefault(requester, {})[name] = type_id
            _write_private(path, json.dumps(data, sort_keys=True, indent=1) + "\n")
