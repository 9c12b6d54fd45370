"""Parties of the standalone-router flow: a test architect pointing at a router process and a task using it, a TCP
proxy in front of its channel (or its pages) that the test can cut or hold down, an operator on a background
thread, and a page over wss://.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import ssl
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import Field
from tls_client_socket import connect_wss
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from mephisto_core.abstractions import Architect, ArchitectArgs, Deployment
from mephisto_core.data_model import Database
from mephisto_core.hookspecs import hookimpl
from mephisto_core.operations.run.operator import Operator, RunStats
from mephisto_core.settings import Settings
from mephisto_core.task_config import TaskConfig
from mephisto_core.testing.standalone_router import TEST_ROUTER_SECRET, StandaloneRouterProcess
from mephisto_core.testing.task_files import write_static_task

T = TypeVar("T")


# ---- the architect ------------------------------------------------------------------------------------------


def standalone_architect(
    router: StandaloneRouterProcess, ca_file: Path, channel_url: str | None = None
) -> dict[str, Any]:
    """The `[architect]` of a task served by `router` (its channel, or `channel_url`: a proxy in front of it)."""
    return {
        "type": "standalone_test",
        "worker_url": router.url,
        "channel_url": channel_url or router.channel_url,
        "secret": TEST_ROUTER_SECRET,
        "ca_file": str(ca_file),
    }


def write_task(folder: Path, name: str, architect: dict[str, Any], html: str, topics: list[str]) -> Path:
    """A static task with the mock provider: one unit per topic, its page `html`; returns its task.toml."""
    return write_static_task(
        folder, html, topics, architect, name=name, title=name.capitalize(), disconnect_grace_seconds=60
    )


class StandaloneTestArgs(ArchitectArgs):
    """Where the already running standalone router is (a real architect would start or find it)."""

    worker_url: str = Field(description="The router's https:// address for pages.")
    channel_url: str = Field(description="The wss:// channel URL the operator connects to.")
    secret: str = Field(description="The router's deploy secret.")
    ca_file: str = Field(description="PEM bundle that signed the router's certificate.")


class StandaloneTestArchitect(Architect):
    """Returns a Deployment for a standalone router: its own secret, the build pushed, a private CA trusted."""

    type_name: ClassVar[str] = "standalone_test"
    Args: ClassVar[type[ArchitectArgs]] = StandaloneTestArgs

    async def deploy(self, build_dir: Path, channel_secret: str) -> Deployment:
        """Nothing to start: the router runs already."""
        args = self.args
        assert isinstance(args, StandaloneTestArgs)
        return Deployment(
            worker_url=args.worker_url,
            channel_url=args.channel_url,
            channel_secret=args.secret,
            push_build=True,
            ca_file=Path(args.ca_file),
        )


class StandaloneTestPlugin:
    """Registers `standalone_test` through the hook a third-party architect uses."""

    @hookimpl
    def mephisto_register_architects(self, register: Any) -> None:
        """Register the `standalone_test` architect."""
        register(StandaloneTestArchitect)


# ---- a TCP proxy in front of the channel ----------------------------------------------------------------------


class ChannelCutter:
    """Forwards 127.0.0.1:`port` to the router's port on its own thread; `cut()` aborts every forwarded connection
    (both ends see the TCP connection die), `hold()` also refuses new ones until `release()`. While
    `swallow_downstream` is set, what the router sends is thrown away (its answers never arrive)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.accepted = 0
        self.swallow_downstream = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="channel-cutter", daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread.start()
        self._call(self._listen())

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._on_client, "127.0.0.1", self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()  # the router is down: as a refused connection to the operator
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer, downstream=True))

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, downstream: bool = False) -> None:
        try:
            while data := await reader.read(65536):
                if downstream and self.swallow_downstream:
                    continue
                writer.write(data)
                await writer.drain()
        except OSError:
            pass  # cut() or the other direction ended the pair; the abort below finishes it
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    def cut(self) -> None:
        """Abort every forwarded connection now."""

        async def cut() -> None:
            for writer in list(self._writers):
                writer.transport.abort()
            self._writers.clear()

        self._call(cut())

    def hold(self) -> None:
        """Stop listening (the operator's reconnects are refused) and cut what is open."""

        async def hold() -> None:
            server, self._server = self._server, None
            if server is not None:
                server.close()
                await server.wait_closed()

        self._call(hold())
        self.cut()

    def release(self) -> None:
        """Listen again on the same port."""
        self._call(self._listen())

    def close(self) -> None:
        """Stop and end the thread."""
        self.hold()

        async def finish_pumps() -> None:
            # The pumps of the connections just cut end on their next read; ended here, the loop stops with none
            # pending (else Python warns, at exit, of tasks destroyed while pending).
            pumps = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in pumps:
                task.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)

        self._call(finish_pumps())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


# ---- the operator -------------------------------------------------------------------------------------------------


class OperatorThread:
    """`Operator.run(config)` on its own event loop and thread; `start()` returns once the worker link works."""

    def __init__(self, settings: Settings, database: Database, config: TaskConfig) -> None:
        self.operator = Operator(settings, database)
        self.config = config
        self.stats: RunStats | None = None
        self.error: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="standalone-operator", daemon=True)

    def start(self, timeout: float = 60) -> OperatorThread:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise AssertionError(f"the operator was not ready within {timeout} s")
        if self.error is not None:
            raise AssertionError(f"the operator failed to start: {self.error!r}") from self.error
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def wait(self, timeout: float = 60) -> RunStats:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError(f"the operator still runs after {timeout} s")
        if self.error is not None:
            raise AssertionError(f"the operator failed: {self.error!r}") from self.error
        assert self.stats is not None
        return self.stats

    def stop_now(self, timeout: float = 60) -> None:
        if self._thread.is_alive() and self.loop is not None:
            self.loop.call_soon_threadsafe(self.operator.request_stop)
            self.loop.call_soon_threadsafe(self.operator.request_stop)
        self.wait(timeout)

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # handed to the test thread, which reports it
            self.error = exc
        finally:
            self._ready.set()

    async def _run(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.stats = await self.operator.run(self.config, lambda _stats: self._ready.set())


# ---- a page over wss:// -------------------------------------------------------------------------------------------


class WssPage:
    """A worker page keeping the protocol's promises (as mephisto-task.js does) over a TLS socket.

    A request is resent with the same id and `submit_key` after `unavailable`, after `not_assigned` (once it said
    hello again with its token), after its socket dropped (reconnecting, hello with its token) and when no answer
    came within `resend_after` seconds; it fails the test after `deadline` seconds.
    """

    def __init__(self, base_url: str, worker: str, ca_file: Path, *, resend_after: float = 2.0, deadline: float = 60):
        self.ws_url = "wss://" + base_url.split("://", 1)[1].rstrip("/") + "/ws"
        self.worker = worker
        self.tls = ssl.create_default_context(cafile=str(ca_file))
        self.resend_after = resend_after
        self.deadline = deadline
        self.token: str | None = None
        self.assigned: dict[str, Any] | None = None
        self.acknowledged: list[str] = []
        self.reconnects = 0
        self._ws: ClientConnection | None = None
        self._sockets = contextlib.ExitStack()
        self._next_id = 0

    def close(self) -> None:
        """Close the socket (the page goes away, or it dropped)."""
        self._ws = None
        self._sockets.close()

    def hello(self) -> dict[str, Any]:
        """Say hello (with the token once there is one) until answered."""
        reply = self._until_answered(
            lambda rid: json.dumps(
                {"type": "hello", "id": rid, "params": {"worker_id": self.worker}, "token": self.token}
            ),
            needs_unit=False,
        )
        self.assigned = reply if reply["type"] == "assigned" else None
        if self.assigned is not None:
            self.token = self.assigned["token"]
        return reply

    def upload(self, field: str, name: str, data: bytes) -> str:
        """Upload a file (one upload_id, resent until `upload_ack`); return the upload_id."""
        upload_id = secrets.token_urlsafe(12)

        def frame(request_id: int) -> bytes:
            header = {"type": "upload", "id": request_id, "upload_id": upload_id, "field": field, "name": name}
            raw = json.dumps({**header, "content_type": "application/octet-stream"}).encode()
            return len(raw).to_bytes(4, "big") + raw + data

        reply = self._until_answered(frame, needs_unit=True)
        assert reply["type"] == "upload_ack", reply
        return upload_id

    def submit(self, outputs: dict[str, Any], uploads: list[str] | None = None) -> dict[str, Any]:
        """Submit once (one submit_key), resent until answered for good."""
        key = secrets.token_urlsafe(12)
        message = {"type": "submit", "submit_key": key, "outputs": outputs, "uploads": uploads or []}
        reply = self._until_answered(lambda rid: json.dumps({**message, "id": rid}), needs_unit=True)
        if reply["type"] == "submitted":
            assert reply["submit_key"] == key, reply
            self.acknowledged.append(key)
            self.token = self.assigned = None
        return reply

    def _until_answered(self, make: Any, *, needs_unit: bool) -> dict[str, Any]:
        self._next_id += 1
        request_id = self._next_id
        frame = make(request_id)
        give_up = time.monotonic() + self.deadline
        while time.monotonic() < give_up:
            try:
                if needs_unit and self.assigned is None:
                    self.hello()
                ws = self._socket()
                ws.send(frame)
                reply = self._answer(ws, request_id)
            except (ConnectionClosed, OSError, TimeoutError):
                self.close()
                self.assigned = None
                time.sleep(0.2)
                continue
            if reply is None:
                continue
            if reply["type"] == "error" and reply["code"] == "unavailable":
                time.sleep(0.2)
                continue
            if reply["type"] == "error" and reply["code"] == "not_assigned":
                self.assigned = None
                continue
            return reply
        raise AssertionError(f"{self.worker}: request {request_id} unanswered for {self.deadline} s")

    def _socket(self) -> ClientConnection:
        if self._ws is None:
            self._sockets.close()  # release a dropped socket before opening the next
            self._ws = self._sockets.enter_context(connect_wss(self.ws_url, self.tls, open_timeout=30, max_size=None))
            self.reconnects += 1
        return self._ws

    def _answer(self, ws: ClientConnection, request_id: int) -> dict[str, Any] | None:
        until = time.monotonic() + self.resend_after
        while (left := until - time.monotonic()) > 0:
            try:
                frame = ws.recv(timeout=left)
            except TimeoutError:
                return None
            reply = json.loads(frame)
            if reply.get("id") == request_id:
                return dict(reply)
        return None


def valid_answer(assigned: dict[str, Any]) -> dict[str, Any]:
    """A valid answer to the flow's static task."""
    topic = assigned["init_data"]["inputs"]["topic"]
    return {"topic": topic, "answer": f"an answer about {topic}"}
