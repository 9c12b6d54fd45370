"""A task's build dir as one deterministic tar: packed by the operator, checked and unpacked by a remote router.

The digest of a build is the sha256 of this tar, so the same files give the same digest on every machine (names
sorted, times, owners and modes normalised). Only what the router would serve is packed: regular files and
folders, no dot-files, symlinks only when they resolve to a file inside the build dir (packed as that file).

Unpacking trusts nothing: the digest and size are checked first, then every entry must be a regular file or a
folder with a relative, normalised name (no absolute path, no `..`, no backslash, no NUL, no dot-file), within the
limits on size and count. Anything else refuses the whole archive with `UnsafeBuildError` naming the entry.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from mephisto_core.errors import MephistoError

log = logging.getLogger(__name__)

#: The largest build a router takes by default (the tar's size); `--max-build-mb` changes it.
DEFAULT_MAX_BUILD_BYTES = 256 * 2**20
#: The most entries (files and folders) one build may hold.
MAX_BUILD_ENTRIES = 20_000
_FILE_MODE = 0o644
_DIR_MODE = 0o755
_COPY_CHUNK = 2**20


class UnsafeBuildError(MephistoError):
    """A pushed build was refused: wrong digest or size, or an entry that could write outside its folder."""


@dataclass(frozen=True)
class BuildArchive:
    """A packed build: the tar's bytes and their sha256 (hex)."""

    data: bytes
    digest: str

    @property
    def size(self) -> int:
        """The tar's size in bytes."""
        return len(self.data)


def _entries(root: Path) -> Iterator[tuple[str, Path | None]]:
    """(archive name, file to read or None for a folder), sorted by name, of what the router would serve."""
    found: list[tuple[str, Path | None]] = []
    for folder, dirs, files in os.walk(root):
        # Hidden folders are never served, so they are not packed (and not walked).
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not os.path.islink(os.path.join(folder, d)))
        base = Path(folder)
        relative = base.relative_to(root)
        for name in dirs:
            found.append(((relative / name).as_posix(), None))
        for name in files:
            if name.startswith("."):
                continue
            path = base / name
            try:
                real = path.resolve()
                # As the router serves a link: only when it ends at a file inside the build dir, not hidden there.
                inside = real.relative_to(root)
            except (ValueError, RuntimeError, OSError):  # outside the dir, a symlink loop, unreadable
                continue
            if any(part.startswith(".") for part in inside.parts):
                continue
            if real.is_file():
                found.append(((relative / name).as_posix(), real))
    found.sort(key=lambda entry: entry[0])
    return iter(found)


def _tar_info(name: str, size: int, is_dir: bool) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
    info.size = 0 if is_dir else size
    info.mode = _DIR_MODE if is_dir else _FILE_MODE
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


class _Hasher(io.RawIOBase):
    """A write-only file that only hashes (and counts) what is written to it."""

    def __init__(self) -> None:
        self.sha = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def tell(self) -> int:  # tarfile asks where it is; there is no seeking
        return self.size

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self.sha.update(data)
        self.size += len(data)
        return len(data)


def _write_tar(root: Path, out: io.RawIOBase | io.BytesIO) -> None:
    root = root.resolve(strict=True)
    if not root.is_dir():
        raise MephistoError(f"the build dir {root} is not a directory")
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, path in _entries(root):
            if path is None:
                tar.addfile(_tar_info(name, 0, is_dir=True))
                continue
            try:
                fh = path.open("rb")
            except OSError as exc:
                # The router could not serve it either (it would answer 404); the rest of the build still goes.
                log.warning("leaving %s out of the build: %s", path, exc.strerror or exc)
                continue
            with fh:
                size = os.fstat(fh.fileno()).st_size
                tar.addfile(_tar_info(name, size, is_dir=False), fh)


def pack_build(build_dir: Path) -> BuildArchive:
    """Pack `build_dir` into its deterministic tar (held in memory). Blocking."""
    out = io.BytesIO()
    _write_tar(Path(build_dir), out)
    data = out.getvalue()
    return BuildArchive(data, hashlib.sha256(data).hexdigest())


def build_digest(build_dir: Path) -> str:
    """The digest `pack_build` would give, computed without holding the tar in memory. Blocking."""
    hasher = _Hasher()
    _write_tar(Path(build_dir), hasher)
    return hasher.sha.hexdigest()


def _safe_parts(name: str) -> tuple[str, ...]:
    """The path components of an archive entry name, or UnsafeBuildError."""
    shown = repr(name[:200])
    if not name or "\x00" in name or "\\" in name:
        raise UnsafeBuildError(f"the build holds an entry with an invalid name {shown}")
    path = PurePosixPath(name)
    if path.is_absolute():
        raise UnsafeBuildError(f"the build holds an absolute path {shown}")
    parts = tuple(part for part in name.split("/") if part)  # "a/b/" is a folder written with a slash
    if not parts or any(part in (".", "..") for part in parts):
        raise UnsafeBuildError(f"the build holds a path that leaves its folder or is not normalised: {shown}")
    if any(part.startswith(".") for part in parts):
        raise UnsafeBuildError(f"the build holds a hidden file {shown}, which a router never serves")
    return parts


def check_archive(data: bytes, digest: str, max_bytes: int = DEFAULT_MAX_BUILD_BYTES) -> list[tarfile.TarInfo]:
    """Check size, digest and every entry of a pushed build; return its entries. Raises UnsafeBuildError."""
    if len(data) > max_bytes:
        raise UnsafeBuildError(f"the build is {len(data)} bytes, more than this router's limit of {max_bytes}")
    actual = hashlib.sha256(data).hexdigest()
    if actual != digest:
        raise UnsafeBuildError(f"the build's sha256 is {actual}, not the announced {digest[:80]!r}")
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            members = tar.getmembers()
    except tarfile.TarError as exc:
        raise UnsafeBuildError(f"the build is not a valid tar archive: {exc}") from exc
    if len(members) > MAX_BUILD_ENTRIES:
        raise UnsafeBuildError(f"the build holds {len(members)} entries, more than {MAX_BUILD_ENTRIES}")
    seen: dict[tuple[str, ...], bool] = {}  # parts -> is a folder
    implied: set[tuple[str, ...]] = set()  # folders that entries are inside of
    for member in members:
        parts = _safe_parts(member.name)
        if not (member.isreg() or member.isdir()):
            kind = "a link" if member.issym() or member.islnk() else "a device, pipe or other special file"
            raise UnsafeBuildError(f"the build's entry {member.name[:200]!r} is {kind}; only files and folders")
        if parts in seen:
            raise UnsafeBuildError(f"the build holds {member.name[:200]!r} twice")
        for depth in range(1, len(parts)):
            if seen.get(parts[:depth]) is False:
                raise UnsafeBuildError(f"the build's entry {member.name[:200]!r} is inside a file")
            implied.add(parts[:depth])
        if member.isreg() and parts in implied:
            raise UnsafeBuildError(f"the build's file {member.name[:200]!r} is also a folder of another entry")
        seen[parts] = member.isdir()
    return members


def unpack_build(data: bytes, digest: str, dest: Path, max_bytes: int = DEFAULT_MAX_BUILD_BYTES) -> None:
    """Check the archive (see `check_archive`) and write its files into the new folder `dest`, fsynced. Blocking.

    `dest` must not exist; it is made with its parents. Files are created exclusively and never through a link,
    so an entry cannot write anywhere but below `dest`.
    """
    members = check_archive(data, digest, max_bytes)
    dest.mkdir(parents=True, mode=_DIR_MODE)
    folders = [dest]
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for member in members:
            target = dest.joinpath(*_safe_parts(member.name))
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True, mode=_DIR_MODE)
                folders.append(target)
                continue
            target.parent.mkdir(parents=True, exist_ok=True, mode=_DIR_MODE)
            source = tar.extractfile(member)
            if source is None:  # only for non-regular members, which check_archive refused
                raise UnsafeBuildError(f"the build's entry {member.name[:200]!r} has no content")
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, _FILE_MODE)
            with os.fdopen(fd, "wb") as out:
                while chunk := source.read(_COPY_CHUNK):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
    for folder in folders:
        _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
