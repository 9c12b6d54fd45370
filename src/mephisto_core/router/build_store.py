"""Which build a router serves, and where pushed builds are kept so a restarted router serves them again.

A router started with a build dir serves that folder for its whole life and refuses pushes. A standalone router
(`mephisto router serve`) starts with the build its data dir names, if any, and takes pushes over the operator
channel: each is unpacked into a new folder `<data dir>/builds/<digest>/`, fsynced, and only then named current,
first on disk (`builds/current`, replaced by an atomic rename) and then in memory. Requests look the current build
up once each, so a page's request is answered from the old build or from the new one, never from a folder that is
half written. The two builds before the current one are kept a while for requests still reading them.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from mephisto_core.file_modes import make_private_dir
from mephisto_core.router.build_archive import DEFAULT_MAX_BUILD_BYTES, build_digest, check_archive, unpack_build
from mephisto_core.router.static_files import StaticFiles

log = logging.getLogger(__name__)

BUILDS_FOLDER = "builds"
CURRENT_FILE = "current"
_INCOMING_PREFIX = ".incoming-"
#: Builds kept besides the current one (requests that started on them may still be reading).
KEEP_PREVIOUS = 2


@dataclass(frozen=True)
class Build:
    """A build ready to serve: its digest and its files."""

    digest: str
    static: StaticFiles


class BuildStore:
    """The router's current build (see the module docstring)."""

    def __init__(
        self,
        *,
        fixed_dir: Path | None = None,
        data_dir: Path | None = None,
        max_build_bytes: int = DEFAULT_MAX_BUILD_BYTES,
    ) -> None:
        self.fixed_dir = fixed_dir
        self.data_dir = data_dir
        self.max_build_bytes = max_build_bytes
        self.current: Build | None = None
        self._history: list[str] = []  # digests served before the current one, oldest first

    @property
    def accepts_pushes(self) -> bool:
        """Whether operators may push builds (a standalone router with a data dir, not a fixed build dir)."""
        return self.fixed_dir is None and self.data_dir is not None

    @property
    def digest(self) -> str | None:
        """The current build's digest, None while there is none."""
        return None if self.current is None else self.current.digest

    @property
    def _builds(self) -> Path:
        assert self.data_dir is not None
        return self.data_dir / BUILDS_FOLDER

    def load(self) -> None:
        """Find the build to serve at start: the fixed dir, or the one the data dir names. Blocking."""
        if self.fixed_dir is not None:
            self.current = Build(build_digest(self.fixed_dir), StaticFiles(self.fixed_dir))
            return
        if self.data_dir is None:
            return
        make_private_dir(self._builds)
        self._remove_incoming()
        try:
            digest = (self._builds / CURRENT_FILE).read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("cannot read %s (%s); serving no task until an operator pushes one", CURRENT_FILE, exc)
            return
        folder = self._builds / digest
        if not _is_digest(digest) or not folder.is_dir():
            log.warning("the data dir names build %.80r, which it does not hold; serving no task until a push", digest)
            return
        actual = build_digest(folder)
        if actual != digest:
            # A disk that lost writes, or hands that edited the folder: serve nothing rather than a mix.
            log.warning("build %s on disk has digest %s; serving no task until an operator pushes one", digest, actual)
            return
        self.current = Build(digest, StaticFiles(folder))
        log.info("serving build %s from %s", digest, folder)

    def install(self, data: bytes, digest: str) -> Build:
        """Check and unpack a pushed build and name it current on disk; return it (not served yet). Blocking.

        Raises UnsafeBuildError for a build that fails its checks (nothing of it is kept), RuntimeError when this
        router takes no pushes, and OSError when the disk fails.
        """
        if not self.accepts_pushes:
            raise RuntimeError("this router serves a fixed build dir and takes no pushed builds")
        check_archive(data, digest, self.max_build_bytes)  # also when the folder exists: a push is checked whole
        folder = self._builds / digest
        if _is_digest(digest) and folder.is_dir() and build_digest(folder) != digest:
            # Kept from an earlier push but changed on disk since (load() refused to serve it): unpack afresh.
            log.warning("build %s on disk does not match its digest any more; replacing it", digest)
            shutil.rmtree(folder)
        if not (_is_digest(digest) and folder.is_dir()):
            incoming = self._builds / f"{_INCOMING_PREFIX}{secrets.token_hex(8)}"
            try:
                unpack_build(data, digest, incoming, self.max_build_bytes)
                if folder.is_dir():  # the same build pushed twice at once
                    shutil.rmtree(incoming)
                else:
                    incoming.rename(folder)
            except BaseException:
                shutil.rmtree(incoming, ignore_errors=True)
                raise
        self._write_current(digest)
        return Build(digest, StaticFiles(folder))

    def switch(self, build: Build) -> None:
        """Serve `build` from now on (on the event loop: one assignment, so every request sees one build)."""
        previous = self.current
        self.current = build
        if previous is not None and previous.digest != build.digest:
            self._history = [d for d in self._history if d != previous.digest] + [previous.digest]

    def prune(self) -> None:
        """Delete builds older than the `KEEP_PREVIOUS` before the current one. Blocking."""
        if self.data_dir is None or self.fixed_dir is not None:
            return
        keep = {self.digest, *self._history[-KEEP_PREVIOUS:]}
        for entry in self._builds.iterdir():
            if _is_digest(entry.name) and entry.name not in keep and entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)

    def _write_current(self, digest: str) -> None:
        temporary = self._builds / f"{CURRENT_FILE}.{secrets.token_hex(4)}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(digest + "\n")
            out.flush()
            os.fsync(out.fileno())
        temporary.replace(self._builds / CURRENT_FILE)
        fd = os.open(self._builds, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _remove_incoming(self) -> None:
        # Pushes a killed router was unpacking, and pointer files it was writing.
        for entry in self._builds.iterdir():
            if entry.name.startswith(_INCOMING_PREFIX):
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.name.startswith(f"{CURRENT_FILE}.") and entry.name.endswith(".tmp"):
                entry.unlink(missing_ok=True)


def _is_digest(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)
