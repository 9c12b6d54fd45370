"""The router's end of a build push: collects one operator channel's chunks, then installs the build.

See docs/protocol.md, "channel: build push". The operator sends `{"build": "start", "digest", "size"}`, the tar in
binary frames, then `{"build": "end", "digest"}`; the router answers `{"event": "build", "digest", "status":
"installed"}` once the build is on disk and served, or `"status": "refused"` with a `reason`. Nothing of a refused
build is kept and the build served before stays served.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from mephisto_core.router.build_archive import UnsafeBuildError
from mephisto_core.router.build_store import BuildStore

log = logging.getLogger(__name__)


class BuildReceiver:
    """One channel's push in progress; `send` queues an event for that channel's operator."""

    def __init__(
        self,
        store: BuildStore,
        install_lock: asyncio.Lock,
        send: Callable[[dict[str, Any]], None],
        *,
        on_served: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """`on_served` runs once a pushed build is served, before the operator hears that it is installed."""
        self._store = store
        self._on_served = on_served
        self._lock = install_lock
        self._send = send
        self._digest: str | None = None
        self._size = 0
        self._chunks = bytearray()
        self._dropping: str | None = None  # the digest of a refused push, whose remaining frames are dropped quietly
        self._tasks: set[asyncio.Task[None]] = set()

    def on_envelope(self, envelope: dict[str, Any]) -> None:
        """Handle a `{"build": ...}` envelope from the operator."""
        step, digest = envelope.get("build"), envelope.get("digest")
        if not isinstance(digest, str) or not digest:
            self._refuse(None, "a build envelope needs a 'digest' string")
            return
        if step == "start":
            self._start(digest, envelope.get("size"))
        elif step == "end":
            self._end(digest)
        else:
            self._refuse(digest, f"unknown build step {str(step)[:40]!r} (expected 'start' or 'end')")

    def on_chunk(self, data: bytes) -> None:
        """Take one binary frame of the build being pushed."""
        if self._digest is None:
            if self._dropping is not None:
                return
            log.warning("ignoring a %d-byte binary frame from the operator outside a build push", len(data))
            return
        if len(self._chunks) + len(data) > self._size:
            self._refuse(self._digest, f"the build is larger than the {self._size} bytes announced")
            return
        self._chunks += data

    def _start(self, digest: str, size: object) -> None:
        self._dropping = None
        if self._digest is not None:
            log.warning("a new build push replaces the unfinished push of %s", self._digest)
            self._reset()
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            self._refuse(digest, "a build start needs 'size', the tar's length in bytes")
            return
        if not self._store.accepts_pushes:
            self._refuse(digest, "this router serves a fixed build dir; start it with `mephisto router serve`")
            return
        if size > self._store.max_build_bytes:
            limit = self._store.max_build_bytes
            self._refuse(digest, f"the build is {size} bytes, more than this router takes ({limit} bytes)")
            return
        self._digest, self._size = digest, size

    def _end(self, digest: str) -> None:
        if self._digest is None and self._dropping == digest:
            self._dropping = None  # the end of a push refused already: said once is enough
            return
        if self._digest != digest:
            self._refuse(digest, "a build end without its start")
            return
        if len(self._chunks) != self._size:
            self._refuse(digest, f"the build ended after {len(self._chunks)} of {self._size} bytes")
            return
        data = bytes(self._chunks)
        self._reset()
        task = asyncio.get_running_loop().create_task(self._install(data, digest), name="mephisto-router-build")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _install(self, data: bytes, digest: str) -> None:
        try:
            async with self._lock:  # one install at a time: the pointer on disk and in memory move together
                build = await asyncio.to_thread(self._store.install, data, digest)
                self._store.switch(build)
                await asyncio.to_thread(self._store.prune)
                if self._on_served is not None:
                    await self._on_served()
        except UnsafeBuildError as exc:
            self._refuse(digest, str(exc))
            return
        except OSError as exc:
            log.error("could not store the pushed build %s: %s", digest, exc)
            self._refuse(digest, f"the router could not store the build: {exc}")
            return
        log.warning("now serving build %s (%d bytes)", digest, len(data))
        self._send({"event": "build", "digest": digest, "status": "installed"})

    def _refuse(self, digest: str | None, reason: str) -> None:
        log.warning("refused a build push: %s", reason)
        self._reset()
        self._dropping = digest
        self._send({"event": "build", "digest": digest, "status": "refused", "reason": reason})

    def _reset(self) -> None:
        self._digest, self._size, self._chunks = None, 0, bytearray()
