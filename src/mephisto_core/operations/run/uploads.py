"""Durable storage of files workers upload, before the submission that lists them is committed.

Each upload lives in `<data_dir>/files/uploads/<upload_id>/` as `file/<name>` plus a `meta.json`, both fsynced before
the page gets `upload_ack`; a submission then links it to its agent. Because it is on disk and not in memory, a
submission retried after an operator restart still finds its files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import threading
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path

from mephisto_core.file_modes import make_private_dir, open_private_file

log = logging.getLogger(__name__)

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
        self._locks = [threading.Lock() for _ in range(64)]

    def folder(self, upload_id: str) -> Path:
        """Where the upload with this id is (or would be) stored."""
        return self.root / upload_id

    def relative_path(self, upload_id: str, name: str) -> str:
        """The data-dir-relative path a new upload of this id and file name is stored at (its AgentFile.path)."""
        # The file sits in its own sub-folder so no uploaded name can clash with meta.json.
        return str((self.folder(upload_id) / "file" / safe_file_name(name)).relative_to(self.data_dir))

    def save(
        self, upload_id: str, agent_id: int, field: str, name: str, content_type: str, data: bytes
    ) -> StoredUpload:
        """Store the bytes durably; a repeated upload_id from the same agent returns the stored one.

        On any failure (a full disk, a quota, an I/O error) nothing of this upload stays on disk and the error is
        raised, so the page can send the same upload_id again later.
        """
        if not UPLOAD_ID.match(upload_id):
            raise ValueError("upload_id must be 8-64 characters of A-Z, a-z, 0-9, '_' or '-'")
        # A page resends an upload it got no answer for, so two saves of one id may overlap; each must see
        # the other's finished file, never its half-written one, nor clean it up.
        with self._locks[hash(upload_id) % len(self._locks)]:
            existing = self.load(upload_id)
            if existing is not None:
                if existing.agent_id != agent_id:
                    raise ValueError("upload_id already used by another worker")
                return existing
            folder = self.folder(upload_id)
            target = self.data_dir / self.relative_path(upload_id, name)
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
            try:
                make_private_dir(target.parent)  # 0700, as the data dir: uploads are workers' data
                _write_synced(target, data)
                # meta.json is written last: its presence means the file is complete.
                _write_synced(folder / "meta.json", json.dumps(asdict(stored)).encode())
                _fsync_dir(folder)
            except BaseException:
                _remove_unfinished(folder, target)
                raise
            return stored

    def remove(self, upload_id: str) -> None:
        """Delete a stored upload (nothing to do if it is not there, e.g. its writer crashed before writing it);
        raises OSError if its folder cannot go (what is left then has no meta.json)."""
        folder = self.folder(upload_id)
        (folder / "meta.json").unlink(missing_ok=True)  # first: without it no reader trusts what is left
        if folder.exists():
            shutil.rmtree(folder)

    def load(self, upload_id: str) -> StoredUpload | None:
        if not UPLOAD_ID.match(upload_id):
            return None
        meta = self.root / upload_id / "meta.json"
        if not meta.is_file():
            return None
        return StoredUpload(**json.loads(meta.read_text()))


def _write_synced(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".part")
    try:
        with os.fdopen(open_private_file(tmp), "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _remove_unfinished(folder: Path, target: Path) -> None:
    """Remove what a failed save left: meta.json if it got that far, the file, then its folders if empty.

    A failure here is logged, not raised: the caller is already raising the error that made the save fail.
    """
    try:
        (folder / "meta.json").unlink(missing_ok=True)  # first: without it no reader trusts the file
        target.unlink(missing_ok=True)
        for directory in (target.parent, folder):
            if directory.exists():
                directory.rmdir()
    except OSError as exc:  # e.g. ENOTEMPTY: a file an earlier, interrupted process left there
        log.warning("could not remove all of a failed upload in %s: %s", folder, exc)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
