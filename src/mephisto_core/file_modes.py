"""Who may read the data dir: its owner only.

The data dir holds the database (submissions, agent tokens), uploaded files, run logs and providers' files, so it
is made 0700 and the files mephisto writes there 0600, whatever the umask. A data dir an older version (or a
`mkdir`) left readable by others is tightened the first time mephisto opens it, with one warning saying so.

Exports are not here: where they go and who may read them is the user's choice, so they follow the umask.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from mephisto_core.errors import ConfigError

log = logging.getLogger(__name__)

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
#: The database file and the files SQLite keeps beside it (they hold the same rows).
SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")
#: Folders of the data dir made private as it is opened, so what is written below them later is private too.
DATA_SUBFOLDERS = ("files", "runs", "providers")


def make_private_dir(path: Path) -> None:
    """Create `path` and its missing parents as 0700 folders (an existing folder is left as it is)."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:  # made meanwhile by another thread or process: it is there, which is all we need
            continue


def open_private_file(path: Path, flags: int = os.O_WRONLY | os.O_CREAT | os.O_TRUNC) -> int:
    """Open (creating) `path` as a 0600 file and return the descriptor.

    The mode is also set on the open descriptor: `os.open` applies it only to a file it creates, and a file an
    interrupted earlier write left behind may be more open.
    """
    fd = os.open(path, flags, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def create_private_file(path: Path) -> None:
    """Create an empty 0600 file at `path` unless a file is there already (which is left untouched)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)


def secure_data_dir(data_dir: Path, database_name: str = "mephisto.db") -> None:
    """Make the data dir private: create it 0700, or tighten an existing one and its database files.

    A folder or database file that other users could read or write is changed to 0700 / 0600 and reported once
    as a one-line warning; the next call finds nothing to change and says nothing. Only the top-level folders
    are checked: once the data dir is 0700, nobody else can reach what is inside, so a walk over every upload
    would cost time and protect nothing more.
    """
    try:
        _secure(data_dir, database_name)
    except OSError as exc:
        raise ConfigError(
            f"cannot create or open the data dir {data_dir}: {exc}; set MEPHISTO_DATA_DIR to a folder you can write"
        ) from exc


def _secure(data_dir: Path, database_name: str) -> None:
    if not data_dir.exists():
        data_dir.parent.mkdir(parents=True, exist_ok=True)  # above the data dir: the user's folders, their modes
        make_private_dir(data_dir)
        for name in DATA_SUBFOLDERS:
            make_private_dir(data_dir / name)
        return
    if not data_dir.is_dir():
        raise NotADirectoryError(f"{data_dir} is not a folder")
    changed = [_tighten(data_dir, PRIVATE_DIR_MODE)]
    for name in DATA_SUBFOLDERS:
        folder = data_dir / name
        if folder.exists():
            changed.append(_tighten(folder, PRIVATE_DIR_MODE))
        else:
            make_private_dir(folder)
    for suffix in SQLITE_SUFFIXES:
        database_file = data_dir / (database_name + suffix)
        if database_file.exists():
            changed.append(_tighten(database_file, PRIVATE_FILE_MODE))
    fixed = [entry for entry in changed if entry is not None]
    if fixed:
        log.warning(
            "the data dir %s was open to other users (%s); it is now private (folders 0700, database files 0600)",
            data_dir,
            ", ".join(fixed),
        )


def _tighten(path: Path, mode: int) -> str | None:
    """chmod `path` to `mode` when group or others have any access; return what it was ("name 0755") or None."""
    current = stat.S_IMODE(path.stat().st_mode)
    if current & 0o077 == 0:
        return None
    try:
        os.chmod(path, mode)
    except PermissionError as exc:
        # Someone else's folder (a shared lab disk): mephisto can still work in it, so say so and go on.
        log.warning("%s is open to other users (mode %04o) and cannot be made private: %s", path, current, exc)
        return None
    return f"{path.name} {current:04o}"
