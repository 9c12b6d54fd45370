"""`RouterServer`: the worker-facing server, one server (`http_server`) for HTTP GETs and both WebSockets."""

from __future__ import annotations

import asyncio
import hmac
import ssl
import uuid
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qs

import orjson

from mephisto_core.errors import ConfigError
from mephisto_core.router.build_archive import DEFAULT_MAX_BUILD_BYTES
from mephisto_core.router.build_store import BuildStore
from mephisto_core.router.channel import OperatorChannel
from mephisto_core.router.http_routes import HttpRoutes, load_client_js, text_response
from mephisto_core.router.http_server import HttpRequest, RouteResult, WsAccept, WsConnection, WsServer
from mephisto_core.router.page_messages import UPLOAD_FRAME_ALLOWANCE
from mephisto_core.router.run_over import RunOver
from mephisto_core.router.shards import Shard
from mephisto_core.router.versions import version_info
from mephisto_core.router.worker_registry import WorkerRegistry
from mephisto_core.router.worker_socket import WorkerSocketHandler

WORKER_SOCKET_PATH = "/ws"
CHANNEL_PATH = "/_channel"

# The keepalive finds dead peers (a closed laptop lid, a lost network) within about 40 s: every open socket is
# pinged after this long, and dropped when it does not answer within the timeout. One timer serves them all.
PING_INTERVAL_SECONDS = 20.0
PING_TIMEOUT_SECONDS = 20.0


def _path_of(target: str) -> str:
    return target.split("?", 1)[0]


def _is_probe(target: str) -> bool:
    """Whether a channel request only checks the secret (`/_channel?probe=1`): it never replaces the operator."""
    query = target.split("?", 1)[1] if "?" in target else ""
    return parse_qs(query).get("probe") == ["1"]


class RouterServer:
    """The router: serves a task's build dir and relays worker sockets to the operator channel.

    It holds no durable state about workers; every decision is the operator's (docs/protocol.md). Use::

        server = RouterServer(build_dir, channel_secret)
        await server.start()  # binds; port 0 picks a free port
        ...                   # server.url for workers, server.channel_url for the operator
        await server.stop()

    A standalone router (`mephisto router serve`) has no build dir: it serves the build an operator pushes over
    the channel, kept under `data_dir` so it is served again after a restart (see `build_store`), and answers
    503 with a neutral page while it has none. With `ssl_context` it speaks HTTPS and WSS.
    """

    def __init__(
        self,
        build_dir: Path | None,
        channel_secret: str,
        host: str = "127.0.0.1",
        port: int = 0,
        max_upload_bytes: int = 50 * 2**20,
        max_message_bytes: int = 2**20,
        *,
        max_worker_buffer_bytes: int | None = None,
        data_dir: Path | None = None,
        ssl_context: ssl.SSLContext | None = None,
        max_build_bytes: int = DEFAULT_MAX_BUILD_BYTES,
        shard: Shard | None = None,
        reuse_port: bool = False,
        channel_port: int | None = None,
    ) -> None:
        """Check the arguments; nothing is bound until `start()`.

        `max_worker_buffer_bytes` is how much may wait unread for one worker page before the router
        drops that socket (default: four maximal messages). `build_dir` None makes a router that takes pushed
        builds into `data_dir` (without a data dir it takes none: a test's empty router).

        Several routers sharing one worker port (router.shards) each get their `shard`, `reuse_port` (the port is
        bound with SO_REUSEPORT) and a `channel_port` of their own on 127.0.0.1 (0: any free port): on the shared
        port the operator could not choose which router its channel reaches, so there the channel is refused.
        """
        if not isinstance(channel_secret, str) or not channel_secret:
            raise ConfigError("the operator channel secret must be a non-empty string", key="channel_secret")
        for name, value in (
            ("max_upload_bytes", max_upload_bytes),
            ("max_message_bytes", max_message_bytes),
            ("max_build_bytes", max_build_bytes),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"must be a positive number of bytes, not {value!r}", key=name)
        build_path = None if build_dir is None else Path(build_dir)
        if build_path is not None and not build_path.is_dir():
            raise ConfigError(f"the build dir {build_path} is not an existing directory", key="build_dir")
        self._builds = BuildStore(fixed_dir=build_path, data_dir=data_dir, max_build_bytes=max_build_bytes)
        self._ssl = ssl_context
        self._secret = channel_secret.encode("utf-8")
        self._host = host
        self._port = port
        self._max_upload_bytes = max_upload_bytes
        self._max_message_bytes = max_message_bytes
        self._max_worker_buffer_bytes = (
            max_worker_buffer_bytes if max_worker_buffer_bytes is not None else 4 * max_message_bytes
        )
        self.router_id = uuid.uuid4().hex
        self._server: WsServer | None = None
        self._channel: OperatorChannel | None = None
        self._workers: WorkerSocketHandler | None = None
        self._routes: HttpRoutes | None = None
        self._bound_port: int | None = None
        self._shard = shard or Shard()
        self._reuse_port = reuse_port
        self._channel_port = channel_port
        self._channel_server: WsServer | None = None
        self._bound_channel_port: int | None = None
        self._stopped = False

    @property
    def port(self) -> int:
        """The bound TCP port (known after `start()`)."""
        if self._bound_port is None:
            raise RuntimeError("the router is not started; call `await server.start()` first")
        return self._bound_port

    @property
    def _url_host(self) -> str:
        return f"[{self._host}]" if ":" in self._host else self._host

    @property
    def url(self) -> str:
        """The base URL workers open, e.g. ``http://127.0.0.1:8000/`` (``https://`` with TLS)."""
        scheme = "https" if self._ssl is not None else "http"
        return f"{scheme}://{self._url_host}:{self.port}/"

    @property
    def channel_url(self) -> str:
        """The URL the operator connects its channel to (``ws://`` or, with TLS, ``wss://``); on its own port of
        127.0.0.1 when the router has a `channel_port`."""
        if self._channel_port is not None:
            if self._bound_channel_port is None:
                raise RuntimeError("the router is not started; call `await server.start()` first")
            return f"ws://127.0.0.1:{self._bound_channel_port}{CHANNEL_PATH}"
        scheme = "wss" if self._ssl is not None else "ws"
        return f"{scheme}://{self._url_host}:{self.port}{CHANNEL_PATH}"

    @property
    def has_own_channel_port(self) -> bool:
        """Whether the operator's channel has a listener of its own (see `channel_port`)."""
        return self._channel_port is not None

    @property
    def build_digest(self) -> str | None:
        """The digest of the build served now (None while a standalone router has none)."""
        return self._builds.digest

    @property
    def local_link(self) -> OperatorChannel:
        """The channel end an operator on this event loop opens a session on (`open_local`) instead of the URL."""
        if self._channel is None:
            raise RuntimeError("the router is not started; call `await server.start()` first")
        return self._channel

    @property
    def operator_connected(self) -> bool:
        """Whether an operator channel is connected now."""
        return self._channel is not None and self._channel.connected

    async def start(self) -> None:
        """Bind and start serving."""
        if self._server is not None or self._stopped:
            raise RuntimeError("a RouterServer can be started once")
        client_js = await asyncio.to_thread(load_client_js, self._max_upload_bytes, self._max_message_bytes)
        await asyncio.to_thread(self._builds.load)
        registry = WorkerRegistry(self._max_worker_buffer_bytes, self._shard)
        run_over = RunOver(self._builds.data_dir if self._builds.accepts_pushes else None)
        await asyncio.to_thread(run_over.load)
        self._routes = routes = HttpRoutes(
            self._builds, client_js, lambda: self.operator_connected, lambda: run_over.is_set
        )
        self._channel = OperatorChannel(
            self.router_id, registry, self._builds, on_build_served=routes.warm, run_over=run_over, shard=self._shard
        )
        self._workers = WorkerSocketHandler(
            registry,
            self._channel,
            max_message_bytes=self._max_message_bytes,
            max_upload_bytes=self._max_upload_bytes,
        )
        await routes.warm()  # before the first worker can connect
        # No compression is ever negotiated: it would cost a zlib context per socket and CPU per frame.
        self._server = WsServer(self, ping_interval=PING_INTERVAL_SECONDS, ping_timeout=PING_TIMEOUT_SECONDS)
        if self._channel_port is not None:
            # Bound first: a router that cannot open its channel port has not taken a share of the worker port.
            self._channel_server = WsServer(
                _ChannelOnly(self), ping_interval=PING_INTERVAL_SECONDS, ping_timeout=PING_TIMEOUT_SECONDS
            )
            self._bound_channel_port = await self._channel_server.start("127.0.0.1", self._channel_port)
        try:
            self._bound_port = await self._server.start(self._host, self._port, self._ssl, reuse_port=self._reuse_port)
        except BaseException:
            if self._channel_server is not None:  # not left listening for a router that never served
                await self._channel_server.close()
            raise

    async def stop(self) -> None:
        """Close every socket and stop listening. Safe to call more than once."""
        self._stopped = True
        if self._server is None:
            return
        if self._channel is not None:
            self._channel.close_local()
        await self._server.close()
        if self._channel_server is not None:
            await self._channel_server.close()

    def _channel_authorised(self, request: HttpRequest) -> bool:
        values = request.get_all("Authorization")
        if len(values) != 1:
            return False
        # Header values are decoded as Latin-1, which gives back the bytes sent; compare bytes so any input is safe.
        offered = values[0].encode("latin-1")
        return hmac.compare_digest(offered, b"Bearer " + self._secret)

    def route(self, conn: WsConnection, request: HttpRequest, has_body: bool) -> RouteResult:
        """What the server does with one request (see `http_server.App`)."""
        assert self._routes is not None and self._workers is not None and self._channel is not None
        if has_body:
            return self._routes.respond(request, has_body=True)
        if request.method == "GET":
            path = _path_of(request.path)
            if path == WORKER_SOCKET_PATH:
                # The largest message a worker socket may send: an upload frame.
                return WsAccept(self._workers, self._max_upload_bytes + UPLOAD_FRAME_ALLOWANCE)
            if path == CHANNEL_PATH:
                if self._channel_port is not None:
                    return text_response(HTTPStatus.NOT_FOUND, "The operator channel is on its own port.\n")
                return self.route_channel(request)
        answer = self._routes.respond_now(request)  # a cached file: no task
        return answer if answer is not None else self._routes.respond(request)

    def route_channel(self, request: HttpRequest) -> RouteResult:
        """The operator channel (`/_channel`), for the one secret; a probe (`?probe=1`) answers and closes."""
        assert self._channel is not None
        if not self._channel_authorised(request):
            return text_response(
                HTTPStatus.UNAUTHORIZED,
                "The operator channel needs 'Authorization: Bearer <channel secret>'.\n",
                extra_headers=(("WWW-Authenticate", "Bearer"),),
            )
        if _is_probe(request.path):
            return WsAccept(_Probe(self), None)
        # The operator is trusted and its batches may hold many maximal messages.
        return WsAccept(self._channel.socket_handler(), None)


class _ChannelOnly:
    """The listener of a router's own channel port: the operator channel, and nothing else."""

    def __init__(self, server: RouterServer) -> None:
        self._server = server

    def route(self, conn: WsConnection, request: HttpRequest, has_body: bool) -> RouteResult:
        if not has_body and request.method == "GET" and _path_of(request.path) == CHANNEL_PATH:
            return self._server.route_channel(request)
        return text_response(HTTPStatus.NOT_FOUND, "Only the operator channel is served on this port.\n")


class _Probe:
    """`/_channel?probe=1` (authenticated): answer who we are and close, leaving the operator's channel be."""

    def __init__(self, server: RouterServer) -> None:
        self._server = server

    def on_open(self, conn: WsConnection) -> None:
        server = self._server
        probe = {"event": "probe", "router_id": server.router_id, **version_info(server.build_digest)}
        conn.send_text(orjson.dumps([probe]))
        conn.close(1000, "")

    def on_text(self, conn: WsConnection, data: bytes) -> None:
        pass

    def on_binary(self, conn: WsConnection, data: bytes) -> None:
        pass

    def on_close(self, conn: WsConnection) -> None:
        pass
