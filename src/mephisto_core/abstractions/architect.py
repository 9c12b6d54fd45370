"""Architect: where the worker-facing router runs, and how the operator reaches it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

#: Receives one envelope from the router (an event or a page's message), as docs/protocol.md describes them.
EnvelopeHandler = Callable[[dict[str, Any]], Awaitable[None]]
#: Receives one upload frame (the page's binary frame) and the id of the connection it came from.
UploadHandler = Callable[[int, bytes], Awaitable[None]]


class ArchitectArgs(BaseModel):
    """Base of an architect's `[architect]` section schema; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class LocalChannelSession(Protocol):
    """The operator's handle on an in-process channel session (see `LocalChannelLink`)."""

    @property
    def is_open(self) -> bool:
        """False once the session was closed (by either end) or replaced by a newer one."""
        ...

    def send(self, envelope: dict[str, Any]) -> None:
        """Deliver one operator envelope (`{"conn", "msg"}` or `{"conn", "close", "reason"}`) now."""
        ...

    def close(self) -> None:
        """End the session; envelopes still queued for the operator are dropped, as a lost channel drops them."""
        ...


class LocalChannelLink(Protocol):
    """The router's channel end when the router runs on the operator's own event loop.

    Envelopes cross as Python objects instead of JSON over a loopback WebSocket. Opening a session is the
    local form of connecting the channel: the router's `hello` is the first envelope handed to `on_envelope`,
    and a newer session replaces an older one.
    """

    def open_local(self, on_envelope: EnvelopeHandler, on_upload: UploadHandler) -> LocalChannelSession:
        """Open a session whose page traffic goes to the two handlers, in order, one at a time."""
        ...


@dataclass(frozen=True)
class Deployment:
    """A running router: the base URL workers open and the channel URL the operator connects to.

    `local_link` is set only when the router runs in the operator's process and event loop; the operator then
    uses it instead of the channel URL. Routers in another process or on another host leave it None.

    A standalone router (`mephisto router serve`, on another host) has its own deploy secret and takes the task's
    files over the channel: its architect sets `channel_secret` (None: the operator's per-run secret passed to
    `deploy`), `push_build=True` (the operator pushes its build dir whenever the router serves another build, also
    after a router restart) and, for a router whose certificate no system CA signed, `ca_file` (a PEM bundle the
    operator trusts for a wss:// channel URL; None: the system's CAs).

    Several routers sharing the worker port (`mephisto_core.router.shards`) give one channel URL each, router 0
    first, in `channel_urls` (`channel_url` is router 0's); the operator opens them all. Empty for one router.
    """

    worker_url: str
    channel_url: str
    local_link: LocalChannelLink | None = None
    channel_secret: str | None = None
    push_build: bool = False
    ca_file: Path | None = None
    channel_urls: tuple[str, ...] = ()


class Architect:
    """Base class of architects.

    A subclass sets `type_name` and `Args`. `deploy` starts a router (see `mephisto_core.router`) that serves
    `build_dir` and accepts the operator's channel authenticated with `channel_secret`; `shutdown` stops it.
    Both are coroutines run on the operator's event loop.
    """

    type_name: ClassVar[str]
    Args: ClassVar[type[ArchitectArgs]] = ArchitectArgs

    def __init__(self, args: ArchitectArgs, run_dir: Path) -> None:
        self.args = args
        self.run_dir = run_dir

    def check(self) -> None:
        """Validate the arguments beyond their types (ports free, credentials present); raise ConfigError."""

    async def deploy(self, build_dir: Path, channel_secret: str) -> Deployment:
        """Start the router for this run and return where it is."""
        raise NotImplementedError(f"{type(self).__name__} must implement deploy()")

    async def shutdown(self) -> None:
        """Stop the router and release what `deploy` created. Safe to call twice."""

    def serves_public_https(self) -> bool:
        """True when workers reach the router over a public https:// URL (what paid platforms require).

        Checked before anything is deployed (`mephisto check`, launch) against providers whose
        `requires_public_https` is True; answer from the arguments alone. The default is False.
        """
        return False

    async def watch_router(self) -> str | None:
        """Wait while the deployed router runs; return why, if it stopped by itself.

        The operator runs this as a task between `deploy` and `shutdown`. A router that can die on its own (a
        child process, a cloud host) is watched here: return one sentence for the researcher saying what
        happened (which process, its exit code or signal), and the operator stops the run. Return None when
        there is nothing to watch (this default: a router in the operator's own process dies with it) or when
        `shutdown` stopped the router.
        """
        return None
