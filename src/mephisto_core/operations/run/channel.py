"""The operator's end of the router channel: one authenticated WebSocket, batched both ways, reconnecting.

Incoming text frames are JSON arrays of envelopes and binary frames are uploads (see docs/protocol.md); both are
handed to the `on_envelope` / `on_upload` callbacks. Outgoing envelopes are queued and flushed as one frame per
loop turn, so a burst of answers costs one send.

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
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from mephisto_core.abstractions.architect import EnvelopeHandler, UploadHandler
from mephisto_core.errors import MephistoError
from mephisto_core.operations.run.build_push import BuildPusher

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
        self._wake = asyncio.Event()
        self._ws: ClientConnection | None = None
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
        self._wake.set()

    async def stop(self) -> None:
        self._closing = True
        if self.pusher is not None:
            self.pusher.stop()
        await self._flush_now()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._ws is not None:
            await self._ws.close()

    async def _flush_now(self) -> None:
        if self._ws is not None and self._outbox:
            batch, self._outbox = self._outbox, []
            unsent = await _send_batch(self._ws, batch)
            if unsent:
                log.warning("router channel closed while flushing %d envelopes", len(unsent))

    async def _run(self) -> None:
        delay = 0.2
        # Only for wss://: websockets refuses an ssl argument for a ws:// URL.
        tls: dict[str, Any] = {"ssl": self._ssl} if self._ssl is not None else {}
        while not self._closing:
            try:
                async with connect(
                    self.url,
                    additional_headers={"Authorization": f"Bearer {self.secret}"},
                    max_size=None,  # uploads arrive as large binary frames; the router enforced the limit
                    ping_interval=10,
                    ping_timeout=20,
                    **tls,
                ) as ws:
                    self._ws = ws
                    self.last_error = None
                    delay = 0.2
                    self._connected.set()
                    sender: asyncio.Task[None] | None = None
                    try:
                        if self.on_connected is not None:
                            await self.on_connected()
                        sender = asyncio.create_task(self._send_loop(ws))
                        await self._receive_loop(ws)
                    finally:
                        if sender is not None:
                            sender.cancel()
                        self._ws = None
            except ConnectionClosed as exc:
                if exc.rcvd is not None and exc.rcvd.code == REPLACED_CLOSE_CODE and not self._closing:
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
                log.warning("router channel lost: %s; reconnecting", exc)
            except InvalidStatus as exc:
                if exc.response.status_code == 401:
                    self.last_error = "the router refused the channel secret (HTTP 401)"
                    log.error("the router refused the channel secret")
                else:
                    self.last_error = f"the router answered HTTP {exc.response.status_code}"
                log.warning("router channel refused: %s", exc)
            except ssl.SSLCertVerificationError as exc:
                self.last_error = f"its TLS certificate is not trusted ({exc.verify_message}); see ca_file"
                log.error("router channel: %s", self.last_error)
            except (OSError, WebSocketException, TimeoutError) as exc:
                # WebSocketException covers ConnectionClosed and every failed handshake (InvalidMessage when the
                # connection is reset mid-handshake, a router restarting behind a proxy): all worth retrying.
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

    async def _send_loop(self, ws: ClientConnection) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._outbox:
                continue
            batch, self._outbox = self._outbox, []
            unsent = await _send_batch(ws, batch)
            if unsent:
                self._outbox[:0] = unsent  # resend on the next connection
                return

    async def _receive_loop(self, ws: ClientConnection) -> None:
        async for frame in ws:
            if isinstance(frame, bytes):
                if len(frame) < 8:
                    log.warning("dropping a binary channel frame of %d bytes", len(frame))
                    continue
                await self.on_upload(int.from_bytes(frame[:8], "big"), frame[8:])
                continue
            try:
                envelopes = orjson.loads(frame)
            except orjson.JSONDecodeError:
                try:  # what orjson refuses (numbers beyond its range, NaN) as the standard decoder reads it
                    envelopes = json.loads(frame)
                except (ValueError, RecursionError):
                    log.warning("dropping a channel frame that is not JSON")
                    continue
            if not isinstance(envelopes, list):
                envelopes = [envelopes]
            for envelope in envelopes:
                if not isinstance(envelope, dict):
                    continue
                event = envelope.get("event")
                if self.pusher is not None and event == "hello":
                    self.pusher.on_hello(envelope, ws)
                elif event == "build":
                    if self.pusher is not None:
                        self.pusher.on_event(envelope)
                    continue  # the router's answer to a push concerns this channel only
                await self.on_envelope(envelope)


def client_ssl_context(url: str, ca_file: Path | None) -> ssl.SSLContext | None:
    """The TLS context for a wss:// channel URL (None for ws://): the system's CAs, or only `ca_file`'s."""
    if not url.startswith("wss://"):
        return None
    try:
        return ssl.create_default_context(cafile=str(ca_file) if ca_file is not None else None)
    except (OSError, ssl.SSLError) as exc:
        raise MephistoError(f"cannot load the CA bundle {ca_file} to check the router's certificate: {exc}") from exc


def _dumps(envelope: dict[str, Any]) -> bytes:
    """Compact JSON (UTF-8); what orjson cannot encode (integers beyond 64 bits) the standard way."""
    try:
        return orjson.dumps(envelope, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


async def _send_batch(ws: ClientConnection, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Send `batch` as JSON-array frames of at most about MAX_FRAME_CHARS; return what a closed socket left unsent."""
    pieces = [_dumps(envelope) for envelope in batch]
    start = 0
    while start < len(pieces):
        # One envelope larger than the cap still goes alone; otherwise a frame stops growing at the cap.
        end, size = start + 1, len(pieces[start])
        while end < len(pieces) and size + 1 + len(pieces[end]) <= MAX_FRAME_CHARS:
            size += 1 + len(pieces[end])
            end += 1
        try:
            await ws.send(b"[" + b",".join(pieces[start:end]) + b"]", text=True)
        except ConnectionClosed:
            return batch[start:]
        start = end
    return []
