"""Files of the task's build dir, looked up safely for the router's HTTP GETs.

Everything here blocks on the file system, so the router calls `StaticFiles.lookup` in a worker thread.
"""

from __future__ import annotations

import errno
import mimetypes
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from mephisto_core.router.http_encoding import entity_tag, gzip_variant

INDEX_FILE = "index.html"

# Text types are served as UTF-8 so a page's scripts and styles decode the same in every browser.
_CHARSET_TYPES = frozenset({"application/javascript", "application/json", "image/svg+xml"})


# Failures of this process, not of the request: out of descriptors or memory, an I/O error. The page exists (or
# may), so the answer is "try again" (503), never "not found".
_SERVER_TROUBLE = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.EIO, errno.EAGAIN})


class StaticFileUnavailable(Exception):
    """The file could not be read for a reason of the server's (see `_SERVER_TROUBLE`), not of the request."""


@dataclass(frozen=True, slots=True)
class StaticFile:
    """A file ready to be sent: its bytes, its Content-Type, whether browsers may keep it (and ask whether it
    changed), its entity tag and, when worth it, its gzipped bytes (`StaticFile.of` works the last two out)."""

    body: bytes
    content_type: str
    cacheable: bool
    etag: str
    gzipped: bytes | None

    @classmethod
    def of(cls, body: bytes, content_type: str, *, cacheable: bool) -> StaticFile:
        """The file ready to be sent, compressed once here (blocking: CPU in proportion to its size)."""
        return cls(body, content_type, cacheable, entity_tag(body), gzip_variant(body, content_type))

    @property
    def memory_bytes(self) -> int:
        """What keeping it in memory costs, its compressed copy included."""
        return len(self.body) + (len(self.gzipped) if self.gzipped is not None else 0)


def content_type_for(name: str) -> str:
    """The Content-Type for a file name (with a UTF-8 charset for text)."""
    guessed, _encoding = mimetypes.guess_type(name, strict=False)
    content_type = guessed or "application/octet-stream"
    if content_type.startswith("text/") or content_type in _CHARSET_TYPES:
        content_type += "; charset=utf-8"
    return content_type


def url_path_parts(target: str) -> tuple[str, ...] | None:
    """The path components a request target names under the build dir, or None if it names none safely.

    `/` (with any query string) is `index.html`. Refused, after percent-decoding: `..` and `.` segments,
    dot-files, empty segments (so `//etc/passwd` and trailing slashes), NUL, backslashes, and non-UTF-8.
    """
    path = target.split("?", 1)[0].split("#", 1)[0]
    try:
        decoded = urllib.parse.unquote(path, errors="strict")
    except UnicodeDecodeError:
        return None
    if not decoded.startswith("/") or "\x00" in decoded or "\\" in decoded:
        return None
    relative = decoded[1:]
    if not relative:
        return (INDEX_FILE,)
    parts = tuple(relative.split("/"))
    # One rule covers `.`, `..` and hidden files such as `.env` or `.git/`.
    if any(not part or part.startswith(".") for part in parts):
        return None
    return parts


class StaticFiles:
    """The build dir of a task, served read-only; nothing outside it is ever read."""

    def __init__(self, build_dir: Path) -> None:
        # Resolved once so symlinks inside the dir are judged by where they finally point.
        self._root = build_dir.resolve(strict=True)

    @property
    def root(self) -> Path:
        """The resolved build dir."""
        return self._root

    def lookup(self, target: str, max_bytes: int | None = None) -> StaticFile | None:
        """Read the file a request target names, or None (404) if it is missing or not allowed (or, with
        `max_bytes`, larger than that). Blocking.

        Raises StaticFileUnavailable when the server cannot read files right now (e.g. out of descriptors).
        """
        parts = url_path_parts(target)
        if parts is None:
            return None
        try:
            real = self._root.joinpath(*parts).resolve(strict=True)
            # A symlink may point anywhere; only its final target counts, and it must stay inside the dir
            # and not be a hidden file there.
            inside = real.relative_to(self._root)
            if any(part.startswith(".") for part in inside.parts) or not real.is_file():
                return None
            if max_bytes is not None and real.stat().st_size > max_bytes:
                return None
            body = real.read_bytes()
        except OSError as exc:
            if exc.errno in _SERVER_TROUBLE:
                raise StaticFileUnavailable(f"cannot read {target[:200]!r} now: {exc.strerror or exc}") from exc
            return None  # missing, unreadable, not a directory, name too long
        except (ValueError, RuntimeError):
            # ValueError: outside the dir. RuntimeError: a symlink loop.
            return None
        return StaticFile.of(body, content_type_for(real.name), cacheable=not real.name.endswith(".html"))
