"""The operator's end of the router channel when the router runs on the operator's own event loop.

Same interface as `operations.channel.OperatorChannel`, but no socket: the router hands each envelope and upload to
the callbacks as Python objects, and `send` puts an operator envelope on its worker socket at once (encoded once,
for that socket). The router's queue, back-pressure and channel `hello` work as over a socket (see
docs/protocol.md, "In-process link").
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from mephisto_core.abstractions.architect import (
    EnvelopeHandler,
    LocalChannelLink,
    LocalChannelSession,
    UploadHandler,
)


class LocalOperatorChannel:
    """Connects the operator to a router in the same process through the router's `LocalChannelLink`.

    Nothing can be lost in between, so there is no reconnecting: the session lasts from `start` until `stop`, or
    until the router stops (then `connected` turns False and envelopes sent are dropped, as over a lost socket).
    """

    def __init__(
        self,
        link: LocalChannelLink,
        on_envelope: EnvelopeHandler,
        on_upload: UploadHandler,
        on_connected: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.link = link
        self.on_envelope = on_envelope
        self.on_upload = on_upload
        self.on_connected = on_connected
        self._session: LocalChannelSession | None = None
        # Over a socket, on_connected finishes before the first envelope is read; this keeps that order.
        self._ready = asyncio.Event()

    @property
    def connected(self) -> bool:
        """Whether the session is open (it ends with `stop` or with the router)."""
        return self._session is not None and self._session.is_open

    async def start(self, timeout: float = 10.0) -> None:
        """Open the session; the router's `hello` is the first envelope `on_envelope` gets.

        `timeout` is accepted for the socket channel's signature: opening a local session does not wait.
        """
        if self._session is not None:
            raise RuntimeError("this channel is already started")
        self._session = self.link.open_local(self._deliver_envelope, self._deliver_upload)
        if self.on_connected is not None:
            await self.on_connected()
        self._ready.set()

    def send(self, envelope: dict[str, Any]) -> None:
        """Deliver an envelope to the router now (the page's socket gets it without waiting)."""
        if self._session is None:
            raise RuntimeError("the channel is not started; call `await channel.start()` first")
        self._session.send(envelope)

    async def delivered(self, timeout: float) -> bool:
        """Whether every envelope sent has reached the router: each did at `send`, while the session is open."""
        return self.connected

    async def stop(self) -> None:
        """Close the session; envelopes the router still holds for the operator are dropped. Safe to call twice."""
        if self._session is not None:
            self._session.close()

    async def _deliver_envelope(self, envelope: dict[str, Any]) -> None:
        if not self._ready.is_set():
            await self._ready.wait()
        await self.on_envelope(envelope)

    async def _deliver_upload(self, conn: int, frame: bytes) -> None:
        if not self._ready.is_set():
            await self._ready.wait()
        await self.on_upload(conn, frame)
