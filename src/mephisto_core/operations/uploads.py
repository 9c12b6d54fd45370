"""Durable storage of files workers upload, before the submission that lists them is committed.

Each upload lives in `<data_dir>/files/uploads/<upload_id>/` as `file/<name>` plus a `meta.json`, both fsynced before
the page gets `upload_ack`; a submission then links it to its agent. Because it is on disk and not in memory, a
submission retried after an operator restart still finds its files.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path

UPLOAD_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


@dataclass(frozen=True)
class StoredUpload:
    """One stored upload; `path` is relative to the data dir."""

    upload_id: str
    agent_id: int
    field: str
    name: str
    content_type: str
    size: int
    sha256: str
    path: str


def safe_file_name(name: str) -> str:
    """A file name that cannot escape its folder or confuse a shell: the basename, plain characters only."""
    base = unicodedata.normalize("NFKC", name).replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE.sub("_", base).strip(" .")[:180]
    return base or "file"


class UploadStore:
    """Writes and reads uploads under `<data_dir>/files/uploads`."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.root = data_dir / "files" / "uploads"

    def save(
        self, upload_id: str, agent_id: int, field: str, name: str, content_type: str, data: bytes
    ) -> StoredUpload:
        """Store the bytes durably; a repeated upload_id from the same agent returns the stored one."""
        if not UPLOAD_ID.match(upload_id):
            raise ValueError("upload_id must be 8-64 characters of A-Z, a-z, 0-9, '_' or '-'")
        folder = self.root / upload_id
        existing = self.load(upload_id)
        if existing is not None:
            if existing.agent_id != agent_id:
                raise ValueError("upload_id already used by another worker")
            return existing
        # The file sits in its own sub-folder so no uploaded name can clash with meta.json.
        (folder / "file").mkdir(parents=True, exist_ok=True)
        target = folder / "file" / safe_file_name(name)
        _write_synced(target, data)
        stored = StoredUpload(
            upload_id=upload_id,
            agent_id=agent_id,
            field=field[:200],
            name=name[:255],
            content_type=content_type[:200] or "application/octet-stream",
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            path=str(target.relative_to(self.data_dir)),
        )
        # meta.json is written last: its presence means the file is complete.
        _write_synced(folder / "meta.json", json.dumps(asdict(stored)).encode())
        _fsync_dir(folder)
        return stored

    def load(self, upload_id: str) -> StoredUpload | None:
        if not UPLOAD_ID.match(upload_id):
            return None
        meta = self.root / upload_id / "meta.json"
        if not meta.is_file():
            return None
        return StoredUpload(**json.loads(meta.read_text()))


def _write_synced(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".part")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
