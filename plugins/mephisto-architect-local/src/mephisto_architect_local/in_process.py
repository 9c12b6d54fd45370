"""Run the router on the operator's own event loop."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mephisto_architect_local.ports import bind_error

if TYPE_CHECKING:
    from mephisto_core.abstractions import LocalChannelLink
    from mephisto_core.router import RouterServer


class InProcessRouter:
    """A `RouterServer` started and stopped on the caller's event loop."""

    def __init__(self, build_dir: Path, channel_secret: str, host: str, port: int, max_upload_bytes: int) -> None:
        self.build_dir = build_dir
        self.channel_secret = channel_secret
        self.host = host
        self.port = port
        self.max_upload_bytes = max_upload_bytes
        self._server: RouterServer | None = None

    async def start(self) -> tuple[str, str]:
        """Start listening; return (worker URL, channel URL). A taken port raises ConfigError."""
        # Imported here: websockets is heavy and only needed once a task runs.
        from mephisto_core.router import RouterServer

        server = RouterServer(
            self.build_dir,
            self.channel_secret,
            host=self.host,
            port=self.port,
            max_upload_bytes=self.max_upload_bytes,
        )
        try:
            await server.start()
        except OSError as exc:
            raise bind_error(self.host, self.port, exc) from exc
        self._server = server
        return server.url, server.channel_url

    @property
    def local_link(self) -> LocalChannelLink | None:
        """The running router's in-process channel end, which the operator uses instead of the channel URL."""
        return None if self._server is None else self._server.local_link

    async def watch(self) -> str | None:
        """Nothing to watch: the server lives and dies with this process."""
        return None

    async def stop(self) -> None:
        """Close the server and every socket; a second call does nothing."""
        server, self._server = self._server, None
        if server is not None:
            await server.stop()
