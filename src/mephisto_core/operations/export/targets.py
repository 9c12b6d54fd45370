"""Where an export is written: a regular file atomically, a character device or FIFO directly, never a folder.

Writing beside a path and renaming over it is only right for a regular file: renamed over `/dev/null` (as root)
it would replace the device node with a file, and over a FIFO it would take the pipe away from its reader.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from mephisto_core.errors import MephistoError

__all__ = ["ExportTargetError", "atomic_text_file", "output_text_file"]


class ExportTargetError(MephistoError):
    """The export cannot be written where it was asked to go."""


@contextlib.contextmanager
def output_text_file(path: Path) -> Iterator[TextIO]:
    """A UTF-8 text stream (newline="" as the csv module needs) writing to `path`.

    A missing path or a regular file is written atomically (`atomic_text_file`); a character device (such as
    `/dev/null` or a terminal) or a FIFO is written directly, so it stays what it is; a folder or any other kind
    of file is refused with `ExportTargetError`.
    """
    try:
        mode = os.stat(path).st_mode  # follows a symlink: `-o link-to-dev-null` is a device too
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise ExportTargetError(f"cannot write the export to {path}: {exc.strerror}") from None
    if mode is None or stat.S_ISREG(mode):
        with atomic_text_file(path) as out:
            yield out
        return
    if stat.S_ISDIR(mode):
        raise ExportTargetError(f"cannot write the export to {path}: it is a folder; name a file inside it")
    if not (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)):
        raise ExportTargetError(
            f"cannot write the export to {path}: it is a {_kind(mode)}; name a regular file, a character device "
            "or a FIFO"
        )
    with _direct_text_file(path) as out:
        yield out


@contextlib.contextmanager
def _direct_text_file(path: Path) -> Iterator[TextIO]:
    try:
        # No O_CREAT, O_TRUNC: the node exists, and a device or pipe has nothing to truncate.
        fd = os.open(path, os.O_WRONLY)
    except OSError as exc:
        raise ExportTargetError(f"cannot write the export to {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            yield out
    except BrokenPipeError:
        raise ExportTargetError(f"the reader of {path} closed it before the export was complete") from None


@contextlib.contextmanager
def atomic_text_file(path: Path) -> Iterator[TextIO]:
    """A UTF-8 text file (newline="" as the csv module needs) written beside `path`, fsynced and renamed over
    it on success; on any failure the temporary file is removed and `path` is left as it was.

    Only for a regular file or a missing one; `output_text_file` chooses.
    """
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise ExportTargetError(f"cannot write {path}: the folder {directory} does not exist")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp makes it 0600; an export is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _kind(mode: int) -> str:
    if stat.S_ISBLK(mode):
        return "block device (a disk: writing there would overwrite it)"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


def _current_umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask
