"""The operator's end of the router channel: one authenticated WebSocket, batched both ways, reconnecting.

Incoming text frames are JSON arrays of envelopes and binary frames are uploads (see docs/protocol.md); both are
handed to the `on_envelope` / `on_upload` callbacks. Outgoing envelopes are queued and flushed as one frame per
loop turn, so a burst of answers costs one write. The WebSocket itself is the lean client of
`operations.run.channel_client` (an asyncio.Protocol: no task per send, one wake-up per read of many frames).

For a standalone router on another host the channel URL is wss:// (verified against the system's CAs, or against
`ca_file`), and with `build_dir` the channel keeps that router serving the run's build (`build_push`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import orjson

from mephisto_core.abstractions.architect import EnvelopeHandler, UploadHandler
from mephisto_core.errors import MephistoError
from mephisto_core.json_digits import loads_exactly
from mephisto_core.operations.run.build_push import BuildPusher
from mephisto_core.operations.run.channel_client import (
    ChannelClosed,
    ChannelConnection,
    HandshakeRefused,
    connect_channel,
)

log = logging.getLogger(__name__)

# A burst of answers (say many pages asking for a large task page at once) is split into frames of about this
# many bytes of UTF-8 JSON, so neither end ever holds one enormous frame; the router's batches have the same cap.
MAX_FRAME_CHARS = 2**20
#: How long `start` waits for a router to take the pushed build (a large build over a slow link takes a while).
PUSH_TIMEOUT_SECONDS = 600.0
#: The router closes a channel with this code when another operator's channel replaced it (router.channel).
REPLACED_CLOSE_CODE = 4000

__all__ = ["EnvelopeHandler", "OperatorChannel", "RouterChannel", "UploadHandler"]


class RouterChannel(Protocol):
    """What the operator needs of its channel to the router: this module's socket channel, or the in-process
    link of `operations.local_channel` when the router runs on the operator's event loop."""

    on_envelope: EnvelopeHandler
    on_upload: UploadHandler

    @property
    def connected(self) -> bool:
        """Whether the router is reachable now."""
        ...

    async def start(self, timeout: float = 10.0) -> None:
        """Connect; return once the channel is up (the router's `hello` comes first on it)."""
        ...

    def send(self, envelope: dict[str, Any]) -> None:
        """Queue or deliver one envelope for the router without waiting."""
        ...

    async def delivered(self, timeout: float) -> bool:
        """True once every envelope sent so far has reached the router; False when that could not be shown
        within `timeout` (the channel is down or slow: some may be lost)."""
        ...

    async def stop(self) -> None:
        """Disconnect for good."""
        ...


class OperatorChannel:
    """Keeps the channel to one router open and relays envelopes.

    A lost or refused connection is retried for as long as the channel runs, with a backoff from 0.2 s up to
    5 s: the channel alone cannot tell a router that restarts from one that is gone. Whoever can tell (the
    operator, told by its architect that the router process died) stops the channel.

    With `build_dir`, `start` also waits until the router serves that build (pushing it if the router's `hello`
    names another), and every later connection pushes it again when needed. `ca_file` is a PEM bundle trusted for
    a wss:// URL instead of the system's CAs. When another operator's channel replaces this one (close code 4000),
    the channel stops for good and calls `on_taken_over` with a sentence saying so.
    """

    def __init__(
        self,
        url: str,
        secret: str,
        on_envelope: EnvelopeHandler,
        on_upload: UploadHandler,
        on_connected: Callable[[], Awaitable[None]] | None = None,
        *,
        build_dir: Path | None = None,
        ca_file: Path | None = None,
        push_timeout: float = PUSH_TIMEOUT_SECONDS,
        on_taken_over: Callable[[str], object] | None = None,
    ) -> None:
        self.url = url
        self.secret = secret
        self.on_envelope = on_envelope
        self.on_upload = on_upload
        self.on_connected = on_connected
        self.push_timeout = push_timeout
        self.on_taken_over = on_taken_over
        self.pusher = BuildPusher(build_dir, url) if build_dir is not None else None
        self._ssl = client_ssl_context(url, ca_file)
        #: Why the last attempt to connect failed, for the error when `start` gives up.
        self.last_error: str | None = None
        #: Set when another operator took the router over (close code 4000); the channel then stops reconnecting.
        self.taken_over: str | None = None
        self._outbox: list[dict[str, Any]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._flush_scheduled = False
        self._draining: asyncio.Task[None] | None = None
        self._ws: ChannelConnection | None = None
        #: Whether queued envelopes go out now: not before `on_connected` has finished on a new connection.
        self._sending = False
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def connected(self) -> bool:
        return self._ws is not None

    async def start(self, timeout: float = 10.0) -> None:
        """Connect (retrying) and return once the first connection is up (and the router serves the build).

        Raises ConnectionError when no connection came up within `timeout` (saying why the last attempt failed),
        and MephistoError when the router refused the build or speaks another protocol version.
        """
        if self.pusher is not None:
            await self.pusher.prepare()
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="mephisto-channel")
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError as exc:
            why = f": {self.last_error}" if self.last_error else ""
            await self.stop()
            raise ConnectionError(
                f"could not open the router channel at {self.url} within {timeout:.0f} s{why}"
            ) from exc
        if self.pusher is not None:
            await self._wait_for_build(self.pusher)

    async def _wait_for_build(self, pusher: BuildPusher) -> None:
        served = asyncio.ensure_future(pusher.served.wait())
        failed = asyncio.ensure_future(pusher.failed.wait())
        try:
            await asyncio.wait({served, failed}, timeout=self.push_timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            served.cancel()
            failed.cancel()
        if pusher.served.is_set():
            return
        await self.stop()
        if pusher.error is not None:
            raise MephistoError(pusher.error)
        raise MephistoError(f"the router at {self.url} did not confirm the task's build within {self.push_timeout:g} s")

    def send(self, envelope: dict[str, Any]) -> None:
        """Queue an envelope for the router (sent with everything else queued this loop turn)."""
        self._outbox.append(envelope)
        if not self._flush_scheduled and self._loop is not None:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    async def delivered(self, timeout: float) -> bool:
        """True once every envelope sent so far has reached the router: they are written out, then a ping, and
        the router answers a ping after reading what came before it. False when that could not be shown within
        `timeout`, or the connection they went out on closed (what it carried may be lost)."""
        ws = self._ws
        if ws is None or not self._sending:
            return False
        try:
            async with asyncio.timeout(timeout):
                while self._outbox:
                    self._flush()
                    if self._outbox and not ws.open:
                        # Closed before the receive loop has noticed: the socket takes nothing more (and waiting
                        # for it to drain returns at once, so this loop would never yield). The next takes them.
                        return False
                    if self._outbox:  # the transport's buffer is full: wait for it to drain
                        await ws.wait_writable()
                    if self._ws is not ws:
                        return False
                return await ws.round_trip()
        except TimeoutError:
            return False

    async def stop(self) -> None:
        self._closing = True
        if self.pusher is not None:
            self.pusher.stop()
        ws = self._ws
        if ws is not None and self._outbox:
            unsent = _send_batch(ws, self._take_outbox())
            if unsent:
                log.warning("router channel closed while flushing %d envelopes", len(unsent))
        for task in (self._draining, self._task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if ws is not None:
            await ws.close()

    def _take_outbox(self) -> list[dict[str, Any]]:
        batch, self._outbox = self._outbox, []
        return batch

    def _flush(self) -> None:
        """Send what is queued as one frame (or a few of bounded size); called once per loop turn at most."""
        self._flush_scheduled = False
        ws = self._ws
        if ws is None or not self._sending or not self._outbox:
            return  # kept for the next connection (or until on_connected has finished)
        if not ws.writable:
            # The transport's buffer is full (the router reads slowly): hold the envelopes until it drains.
            if self._draining is None:
                self._draining = asyncio.get_running_loop().create_task(self._drain(ws))
            return
        unsent = _send_batch(ws, self._take_outbox())
        if unsent:
            self._outbox[:0] = unsent  # resend on the next connection

    async def _drain(self, ws: ChannelConnection) -> None:
        try:
            await ws.wait_writable()
        finally:
            self._draining = None
        self._flush()

    async def _run(self) -> None:
        delay = 0.2
        headers = {"Authorization": f"Bearer {self.secret}"}
        while not self._closing:
            try:
                ws = await connect_channel(self.url, headers, ssl_context=self._ssl, ping_interval=10, ping_timeout=20)
                try:
                    self._ws = ws
                    self.last_error = None
                    delay = 0.2
                    self._connected.set()
                    if self.on_connected is not None:
                        await self.on_connected()
                    self._sending = True
                    self._flush()
                    await self._receive_loop(ws)
                finally:
                    self._sending = False
                    self._ws = None
                    if not self._closing:
                        ws.abort()
            except ChannelClosed as exc:
                if exc.close_code == REPLACED_CLOSE_CODE and not self._closing:
                    # Only another live operator with the router's secret does this. Reconnecting would take the
                    # router back and each would push its own build in turn, every fraction of a second.
                    self.taken_over = (
                        f"another operator connected to the router at {self.url} and took it over (a router "
                        "serves one run at a time)"
                    )
                    log.error("%s; this channel stops", self.taken_over)
                    if self.on_taken_over is not None:
                        self.on_taken_over(self.taken_over)
                    return
                self.last_error = str(exc)
                if not self._closing:
                    log.warning("router channel lost: %s; reconnecting", exc)
            except HandshakeRefused as exc:
                if exc.status == 401:
                    self.last_error = "the router refused the channel secret (HTTP 401)"
                    log.error("the router refused the channel secret")
                elif exc.status:
                    self.last_error = f"the router answered HTTP {exc.status}"
                else:
                    self.last_error = str(exc)
                log.warning("router channel refused: %s", exc)
            except ssl.SSLCertVerificationError as exc:
                self.last_error = f"its TLS certificate is not trusted ({exc.verify_message}); see ca_file"
                log.error("router channel: %s", self.last_error)
            except (OSError, TimeoutError) as exc:
                # A refused or reset connection, a failed TLS handshake, a handshake that took too long (a router
                # restarting behind a proxy): all worth retrying.
                self.last_error = str(exc) or type(exc).__name__
                log.warning("router channel lost: %s; reconnecting", exc)
            except Exception:
                # Anything else is a bug, but a dead reconnect task would leave every page `unavailable` with
                # nothing said: report it with its traceback and keep the channel alive.
                log.exception("unexpected error in the router channel; reconnecting")
            if self._closing:
                return
            await asyncio.sleep(delay + random.random() * delay)
            delay = min(delay * 2, 5.0)

    async def _receive_loop(self, ws: ChannelConnection) -> None:
        """Hand every received message to the callbacks, in order, until the connection closes (ChannelClosed)."""
        pusher = self.pusher
        on_envelope = self.on_envelope
        while True:
            for binary, frame in await ws.receive():
                if binary:
                    if len(frame) < 8:
                        log.warning("dropping a binary channel frame of %d bytes", len(frame))
                        continue
                    await self.on_upload(int.from_bytes(frame[:8], "big"), frame[8:])
                    continue
                envelopes = _decode_frame(frame)
                if envelopes is _NOT_JSON:
                    log.warning("dropping a channel frame that is not JSON")
                    continue
                if not isinstance(envelopes, list):
                    envelopes = [envelopes]
                for envelope in envelopes:
                    if not isinstance(envelope, dict):
                        continue
                    event = envelope.get("event")
                    if event is not None:
                        if pusher is not None and event == "hello":
                            pusher.on_hello(envelope, ws)
                        elif event == "build":
                            if pusher is not None:
                                pusher.on_event(envelope)
                            continue  # the router's answer to a push concerns this channel only
                    await on_envelope(envelope)


def client_ssl_context(url: str, ca_file: Path | None) -> ssl.SSLContext | None:
    """The TLS context for a wss:// channel URL (None for ws://): the system's CAs, or only `ca_file`'s."""
    if not url.startswith("wss://"):
        return None
    try:
        return ssl.create_default_context(cafile=str(ca_file) if ca_file is not None else None)
    except (OSError, ssl.SSLError) as exc:
        raise MephistoError(f"cannot load the CA bundle {ca_file} to check the router's certificate: {exc}") from exc


_NOT_JSON = object()


def _decode_frame(frame: bytes) -> Any:
    """The frame's JSON, every number as the page wrote it; `_NOT_JSON` when it is not JSON.

    orjson reads an integer past 64 bits as the nearest float, which would store a worker's answer altered: a
    frame that may hold one, and what orjson refuses, take the standard decoder.
    """
    try:
        return loads_exactly(frame)
    except (ValueError, RecursionError):
        return _NOT_JSON


def _dumps(envelope: dict[str, Any]) -> bytes:
    """Compact JSON (UTF-8); what orjson cannot encode (integers beyond 64 bits) the standard way."""
    try:
        return orjson.dumps(envelope, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _orjson_batch(batch: list[dict[str, Any]]) -> bytes | None:
    """The batch as one JSON array by orjson; None when something in it needs the standard encoder (`_dumps`
    then encodes envelope by envelope)."""
    try:
        return orjson.dumps(batch, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        return None


def _send_batch(ws: ChannelConnection, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Send `batch` as JSON-array frames of at most about MAX_FRAME_CHARS; return what a closed socket left unsent."""
    if len(batch) == 1:
        pieces = [_dumps(batch[0])]
    else:
        whole = _orjson_batch(batch)  # the whole batch at once, when orjson encodes it and it fits one frame
        if whole is not None and len(whole) <= MAX_FRAME_CHARS:
            return [] if ws.send_text(whole) else batch
        pieces = [_dumps(envelope) for envelope in batch]
    start = 0
    while start < len(pieces):
        # One envelope larger than the cap still goes alone; otherwise a frame stops growing at the cap.
        end, size = start + 1, len(pieces[start])
        while end < len(pieces) and size + 1 + len(pieces[end]) <= MAX_FRAME_CHARS:
            size += 1 + len(pieces[end])
            end += 1
        if not ws.send_text(b"[" + b",".join(pieces[start:end]) + b"]"):
            return batch[start:]
        start = end
    return []
