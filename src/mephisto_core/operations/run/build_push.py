"""The operator's end of a build push: keeps a standalone router serving this run's build dir.

The router's channel `hello` names the build it serves (`build`: a digest, or null). When that is not the digest of
this run's build dir, the operator pushes the build over the channel (docs/protocol.md, "channel: build push") and
the router answers `{"event": "build", "status": "installed" | "refused"}`. This happens on every connection, so a
router restarted with an empty disk, or one another run pushed to meanwhile, is brought back to this build.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed

from mephisto_core.operations.run.channel_client import ChannelConnection
from mephisto_core.router.build_archive import BuildArchive, pack_build
from mephisto_core.router.versions import PROTOCOL_VERSION

log = logging.getLogger(__name__)

#: Bytes per binary frame of a push: small enough to keep pages' traffic flowing between frames.
CHUNK_BYTES = 256 * 2**10


class BuildPusher:
    """Pushes one build dir to whichever router the channel reaches, when that router serves another build."""

    def __init__(self, build_dir: Path, url: str, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.build_dir = build_dir
        self.url = url
        self.chunk_bytes = chunk_bytes
        self.archive: BuildArchive | None = None
        #: Set once a router confirmed that it serves this build (in its `hello`, or after a push).
        self.served = asyncio.Event()
        #: Why the router refused the build or cannot take one (set with `failed`).
        self.error: str | None = None
        self.failed = asyncio.Event()
        self.pushes = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def digest(self) -> str:
        """The build's digest (after `prepare`)."""
        if self.archive is None:
            raise RuntimeError("call `await pusher.prepare()` first")
        return self.archive.digest

    async def prepare(self) -> None:
        """Pack the build dir (once; in a thread)."""
        if self.archive is None:
            self.archive = await asyncio.to_thread(pack_build, self.build_dir)
            log.info("build %s: %d bytes packed from %s", self.archive.digest, self.archive.size, self.build_dir)

    def on_hello(self, hello: dict[str, Any], ws: ChannelConnection) -> None:
        """A new connection's `hello`: push on `ws` unless the router serves this build already."""
        if self._task is not None:
            self._task.cancel()  # a push on an older connection: that socket is gone
        self.error = None  # this connection's router decides afresh
        self.failed.clear()
        protocol = hello.get("protocol", 1)
        if protocol != PROTOCOL_VERSION:
            self._fail(
                f"the router at {self.url} speaks protocol {protocol!r} and this operator {PROTOCOL_VERSION}; "
                "install the same mephisto-core version on both"
            )
            return
        if hello.get("build") == self.digest:
            self.served.set()
            return
        self.served.clear()
        self._task = asyncio.get_running_loop().create_task(self._push(ws), name="mephisto-build-push")

    def on_event(self, event: dict[str, Any]) -> None:
        """The router's answer to a push (`{"event": "build", ...}`)."""
        if event.get("digest") != self.digest:
            log.warning("ignoring the router's answer about another build: %.200s", event)
            return
        if event.get("status") == "installed":
            log.info("the router at %s serves build %s now", self.url, self.digest)
            self.served.set()
        else:
            self._fail(f"the router at {self.url} refused the task's build: {event.get('reason', '(no reason)')}")

    def stop(self) -> None:
        """Cancel a push in progress."""
        if self._task is not None:
            self._task.cancel()

    def _fail(self, message: str) -> None:
        log.error("%s", message)
        self.error = message
        self.failed.set()

    async def _push(self, ws: ChannelConnection) -> None:
        archive = self.archive
        assert archive is not None
        self.pushes += 1
        log.info("pushing build %s (%d bytes) to %s", archive.digest, archive.size, self.url)
        try:
            await ws.send(json.dumps([{"build": "start", "digest": archive.digest, "size": archive.size}]))
            view = memoryview(archive.data)
            for offset in range(0, archive.size, self.chunk_bytes):
                if self.failed.is_set():
                    break  # refused already (too large, say): the router drops the rest anyway
                await ws.send(view[offset : offset + self.chunk_bytes])
            await ws.send(json.dumps([{"build": "end", "digest": archive.digest}]))
        except ConnectionClosed:
            # The next connection's hello names the router's build again, and the push starts over.
            log.warning("the channel closed during the build push; it is pushed again on the next connection")
