"""A test architect whose operator channel runs through a TCP proxy the test can cut, stall or hold down.

`reliability_local` starts a real `RouterServer` on the operator's event loop, like the local architect in
`in_process` mode, with two differences a reliability test needs: its limits are arguments (small limits keep
hostile-input tests fast), and the operator reaches the router's channel through `ChannelProxy`, a plain TCP
forwarder on 127.0.0.1. Cutting the proxy's connections is a real network failure for both ends, the same as
a router on a cloud host losing its operator.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from mephisto_core.abstractions import Architect, ArchitectArgs, Deployment
from mephisto_core.hookspecs import hookimpl

_CHUNK = 65536


class ReliabilityArchitectArgs(ArchitectArgs):
    """The `[architect]` section of a task that uses `type = "reliability_local"`."""

    max_upload_bytes: int = Field(default=2**20, gt=0, description="Largest file a page may upload.")
    max_message_bytes: int = Field(default=2**20, gt=0, description="Largest JSON message a page may send.")
    max_worker_buffer_bytes: int | None = Field(
        default=None, gt=0, description="Unread bytes after which the router drops a page's socket."
    )


class ChannelProxy:
    """A TCP forwarder from 127.0.0.1:`port` to the router, for the operator channel only.

    `cut()` aborts every forwarded connection (both peers see a reset). `pause()` stops listening, so the
    operator's reconnects are refused, until `resume()`. While `reset_handshakes` is set, new connections are
    accepted and reset at once, before any handshake. While `swallow_upstream` is set, bytes from the router
    to the operator are read and thrown away: requests relayed then never reach the operator. While
    `swallow_downstream` is set, the operator's bytes to the router are: its answers never reach the pages. All
    methods run on the event loop that started the proxy.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.reset_handshakes = False
        self.swallow_upstream = False
        self.swallow_downstream = False
        self.swallowed_bytes = 0
        self.connections_accepted = 0
        self._server: asyncio.Server | None = None
        self._port = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The port the operator connects to."""
        assert self._port, "the proxy is not started"
        return self._port

    @property
    def open_connections(self) -> int:
        """How many forwarded connections are open now (each counted once)."""
        return len(self._writers) // 2

    async def start(self) -> None:
        """Start listening on a free port."""
        self._server = await asyncio.start_server(self._on_client, "127.0.0.1", 0)
        self._port = int(self._server.sockets[0].getsockname()[1])

    async def pause(self) -> None:
        """Stop listening (connections are refused) and abort every forwarded connection."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()
        self.cut()

    async def resume(self) -> None:
        """Listen again on the same port."""
        if self._server is None:
            self._server = await asyncio.start_server(self._on_client, "127.0.0.1", self._port)

    async def stop(self) -> None:
        """Stop listening and abort every connection."""
        await self.pause()
        for task in list(self._tasks):
            task.cancel()

    def cut(self) -> None:
        """Abort every forwarded connection now, as a network failure would."""
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _on_client(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections_accepted += 1
        if self.reset_handshakes:
            client_writer.transport.abort()
            return
        try:
            router_reader, router_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers.update((client_writer, router_writer))
        for task in (
            asyncio.create_task(self._pump(client_reader, router_writer, upstream=False)),
            asyncio.create_task(self._pump(router_reader, client_writer, upstream=True)),
        ):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, upstream: bool) -> None:
        # `upstream` is router -> operator: the direction that carries the pages' requests.
        try:
            while data := await reader.read(_CHUNK):
                if self.swallow_upstream if upstream else self.swallow_downstream:
                    self.swallowed_bytes += len(data)
                    continue
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass  # the other direction or cut() already tore the pair down; the abort below is all that is left
        finally:
            self._writers.discard(writer)
            writer.transport.abort()


class ReliabilityArchitect(Architect):
    """Serves the task from an in-process router whose operator channel goes through a `ChannelProxy`."""

    type_name: ClassVar[str] = "reliability_local"
    Args: ClassVar[type[ArchitectArgs]] = ReliabilityArchitectArgs
    #: Every architect of this type that deployed, newest last (tests reach the proxy through it).
    deployed: ClassVar[list[ReliabilityArchitect]] = []
    _deployed_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, args: ArchitectArgs, run_dir: Path) -> None:
        super().__init__(args, run_dir)
        self.router: Any = None
        self.proxy: ChannelProxy | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    async def deploy(self, build_dir: Path, channel_secret: str) -> Deployment:
        """Start the router and the proxy in front of its channel."""
        from mephisto_core.router import RouterServer

        assert isinstance(self.args, ReliabilityArchitectArgs)
        self.router = RouterServer(
            build_dir,
            channel_secret,
            max_upload_bytes=self.args.max_upload_bytes,
            max_message_bytes=self.args.max_message_bytes,
            max_worker_buffer_bytes=self.args.max_worker_buffer_bytes,
        )
        await self.router.start()
        self.proxy = ChannelProxy(self.router.port)
        await self.proxy.start()
        self.loop = asyncio.get_running_loop()
        with self._deployed_lock:
            self.deployed.append(self)
        return Deployment(worker_url=self.router.url, channel_url=f"ws://127.0.0.1:{self.proxy.port}/_channel")

    async def shutdown(self) -> None:
        """Stop the proxy and the router."""
        proxy, self.proxy = self.proxy, None
        if proxy is not None:
            await proxy.stop()
        router, self.router = self.router, None
        if router is not None:
            await router.stop()

    @classmethod
    def latest(cls) -> ReliabilityArchitect:
        """The architect that deployed last."""
        with cls._deployed_lock:
            assert cls.deployed, "no reliability_local architect has deployed yet"
            return cls.deployed[-1]


class ReliabilityArchitectPlugin:
    """Registers `reliability_local` through the same hook a third-party architect uses."""

    @hookimpl
    def mephisto_register_architects(self, register: Any) -> None:
        """Register the `reliability_local` architect."""
        register(ReliabilityArchitect)
