"""Parties of the reliability tests: an operator on a background thread, a protocol-following page, processes.

Everything talks to 127.0.0.1. The operator thread runs the real `Operator` (and, through its architect, the
real router) on its own event loop, so a test can drive pages synchronously and measure this process's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from mephisto_core.data_model import Agent, AgentFile, AgentStatus, Database
from mephisto_core.operations.run.operator import Operator, RunStats
from mephisto_core.settings import Settings
from mephisto_core.task_config import TaskConfig
from mephisto_core.testing import task_files
from mephisto_core.testing.processes import LaunchProcess as SharedLaunchProcess

T = TypeVar("T")

TASK_HTML = """<p>Say something about ${topic}.</p>
<input type="hidden" name="topic" value="${topic}">
<textarea name="answer" required></textarea>
<input type="file" name="photo">
"""


def write_static_task(
    folder: Path, rows: int, architect: dict[str, Any], *, page_padding: int = 0, **task: Any
) -> Path:
    """A static-blueprint task with the mock provider: `rows` units, each answer a text and an optional file.

    `page_padding` adds that many characters of instructions to the page (and so to every `assigned` answer).
    """
    html = TASK_HTML + "<p>" + "Read carefully. " * (page_padding // 16) + "</p>\n"
    topics = [f"topic-{i}" for i in range(rows)]
    defaults = {"name": "reliability", "title": "Reliability", "disconnect_grace_seconds": 1}
    return task_files.write_static_task(folder, html, topics, architect, **{**defaults, **task})


# ---- the operator in this process -------------------------------------------------------------------------


class OperatorThread:
    """`Operator.run(config)` on an event loop in a background thread; `start()` returns once workers may come."""

    def __init__(self, settings: Settings, database: Database, config: TaskConfig) -> None:
        self.settings = settings
        self.database = database
        self.config = config
        self.operator: Operator | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stats: RunStats | None = None
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="reliability-operator", daemon=True)

    def start(self, timeout: float = 30) -> OperatorThread:
        """Start the run and wait until its worker link works."""
        self._thread.start()
        if not self._ready.wait(timeout):
            raise AssertionError(f"the operator was not ready within {timeout} s")
        if self.error is not None:
            raise AssertionError(f"the operator failed to start: {self.error!r}") from self.error
        return self

    @property
    def worker_url(self) -> str:
        """The router's base URL for pages."""
        assert self.operator is not None
        return self.operator.stats.worker_url

    @property
    def running(self) -> bool:
        """Whether `Operator.run` has not returned (or raised) yet."""
        return self._thread.is_alive()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run a coroutine on the operator's loop and return its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call_soon(self, fn: Callable[[], object]) -> None:
        """Run a plain function on the operator's loop (thread-safe), waiting until it ran."""
        done = threading.Event()

        def run() -> None:
            try:
                fn()
            finally:
                done.set()

        assert self.loop is not None
        self.loop.call_soon_threadsafe(run)
        if not done.wait(10):
            raise AssertionError("the operator's event loop did not run a callback within 10 s")

    def stop_now(self, timeout: float = 30) -> None:
        """Stop the run at once (Ctrl-C twice) and wait for it to end; re-raise what made it fail."""
        if self._thread.is_alive() and self.operator is not None and self.loop is not None:
            operator = self.operator
            self.loop.call_soon_threadsafe(operator.request_stop)
            self.loop.call_soon_threadsafe(operator.request_stop)
        self.wait(timeout)

    def wait(self, timeout: float = 30) -> RunStats:
        """Wait for the run to end by itself; re-raise what made it fail."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError(f"the operator still runs after {timeout} s")
        if self.error is not None:
            raise AssertionError(f"the operator failed: {self.error!r}") from self.error
        assert self.stats is not None
        return self.stats

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # handed to the test thread, which reports it
            self.error = exc
        finally:
            self._ready.set()

    async def _run(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.operator = Operator(self.settings, self.database)
        self.stats = await self.operator.run(self.config, lambda _stats: self._ready.set())


# ---- a page that follows the protocol ---------------------------------------------------------------------


class PageGaveUp(AssertionError):
    """A `ProtocolPage` request got no final answer before its deadline."""


class ProtocolPage:
    """A worker page that keeps the promises docs/protocol.md asks of pages, as mephisto-task.js does.

    It resends a request with the same id and the same `submit_key` / `upload_id` after `unavailable`,
    after `not_assigned` (once it said hello again with its token), after its socket dropped (once it
    reconnected and said hello again), and when no answer came within `resend_after` seconds. It gives up
    (`PageGaveUp`) after `deadline` seconds, or at once when `server_alive()` turns false.
    """

    def __init__(
        self,
        base_url: str,
        worker_name: str,
        *,
        resend_after: float = 1.0,
        deadline: float = 30,
        server_alive: Callable[[], bool] = lambda: True,
    ) -> None:
        self.ws_url = "ws" + base_url.rstrip("/")[4:] + "/ws"
        self.worker_name = worker_name
        self.resend_after = resend_after
        self.deadline = deadline
        self.server_alive = server_alive
        self.token: str | None = None
        self.assigned: dict[str, Any] | None = None
        self.acknowledged: list[str] = []
        self.resends = 0
        self._ws: ClientConnection | None = None
        self._sockets = contextlib.ExitStack()
        self._next_id = 0

    def close(self) -> None:
        """Close the socket (the page goes away)."""
        self._ws = None
        self._sockets.close()

    def hello(self) -> dict[str, Any]:
        """Say hello (with the token once there is one) until the operator answers; return the answer."""
        self.assigned = None
        reply = self._until_answered(self._hello_frame, needs_unit=False)
        if reply["type"] == "assigned":
            self.assigned, self.token = reply, reply["token"]
        elif reply["type"] == "refused":
            self.close()  # a refusal is final for a page: mephisto-task.js closes its socket (a new hello reopens)
        return reply

    def upload(self, field: str, name: str, content_type: str, data: bytes) -> str:
        """Upload a file until `upload_ack`; return its upload_id."""
        upload_id = secrets.token_urlsafe(12)

        def frame(request_id: int) -> bytes:
            header = {
                "type": "upload",
                "id": request_id,
                "upload_id": upload_id,
                "field": field,
                "name": name,
                "content_type": content_type,
            }
            raw = json.dumps(header).encode()
            return len(raw).to_bytes(4, "big") + raw + data

        reply = self._until_answered(frame, needs_unit=True)
        assert reply["type"] == "upload_ack", reply
        return upload_id

    def submit(
        self, outputs: dict[str, Any], uploads: list[str] | None = None, *, key: str | None = None
    ) -> dict[str, Any]:
        """Submit with one `submit_key` (fresh unless given), resent until `submitted` or a final error."""
        key = key or secrets.token_urlsafe(12)

        def frame(request_id: int) -> str:
            message = {"type": "submit", "id": request_id, "submit_key": key, "outputs": outputs}
            return json.dumps({**message, "uploads": uploads or []})

        reply = self._until_answered(frame, needs_unit=True)
        if reply["type"] == "submitted":
            assert reply["submit_key"] == key, reply
            self.acknowledged.append(key)
            # The unit is done: the next hello asks for a new one, as a freshly opened page would.
            self.token = self.assigned = None
        return reply

    def _hello_frame(self, request_id: int) -> str:
        params = {"worker_id": self.worker_name}
        return json.dumps({"type": "hello", "id": request_id, "params": params, "token": self.token})

    def _until_answered(self, make_frame: Callable[[int], str | bytes], *, needs_unit: bool) -> dict[str, Any]:
        self._next_id += 1
        request_id = self._next_id
        frame = make_frame(request_id)
        give_up = time.monotonic() + self.deadline
        sent_before = False
        while time.monotonic() < give_up:
            if not self.server_alive():
                raise PageGaveUp(f"{self.worker_name}: the server went away with request {request_id} unanswered")
            try:
                if needs_unit and self.assigned is None:
                    self.hello()
                ws = self._socket()
                if sent_before:
                    self.resends += 1
                ws.send(frame)
                sent_before = True
                reply = self._answer(ws, request_id)
            except (ConnectionClosed, InvalidHandshake, OSError):
                # InvalidHandshake: the server closed the connection before answering the upgrade (shutting down).
                self._ws, self.assigned = None, None
                time.sleep(0.1)
                continue
            if reply is None:
                continue  # nothing within resend_after: the request or its answer was lost; send it again
            if reply["type"] == "error" and reply["code"] == "unavailable":
                time.sleep(0.1)
                continue
            if reply["type"] == "error" and reply["code"] == "not_assigned":
                self.assigned = None  # this socket outlived an operator restart: hello again, then resend
                continue
            return reply
        raise PageGaveUp(f"{self.worker_name}: request {request_id} unanswered for {self.deadline} s")

    def _socket(self) -> ClientConnection:
        if self._ws is None:
            self._sockets.close()  # a dropped socket: release it before opening the next
            self._ws = self._sockets.enter_context(ws_connect(self.ws_url, max_size=None, open_timeout=5))
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


def valid_answer(init_data: dict[str, Any]) -> dict[str, Any]:
    """A valid answer to the task `write_static_task` makes."""
    topic = init_data["inputs"]["topic"]
    return {"topic": topic, "answer": f"an answer about {topic}"}


# ---- what the database holds ------------------------------------------------------------------------------


def stored_submit_keys() -> list[str]:
    """The submit_key of every stored (completed) submission, duplicates kept."""
    query = Agent.select(Agent.submit_key).where(Agent.submit_key.is_null(False))
    return [key for (key,) in query.tuples()]


def assert_acknowledged_stored_once(acknowledged: list[str] | set[str]) -> list[str]:
    """Every acknowledged key is stored, no key twice, and every stored submission is complete."""
    stored = stored_submit_keys()
    assert len(stored) == len(set(stored)), "a submission was stored twice"
    missing = set(acknowledged) - set(stored)
    assert not missing, f"{len(missing)} acknowledged submissions are not stored: {sorted(missing)[:5]}"
    half_done = Agent.select().where(Agent.submit_key.is_null(False) & (Agent.status != AgentStatus.COMPLETED.value))
    assert not half_done.exists(), "an agent has a submit_key but is not completed"
    return stored


def assert_files_inside(data_dir: Path) -> None:
    """Every stored file record points at a complete file inside the data dir."""
    root = data_dir.resolve()
    for record in AgentFile.select():
        path = (data_dir / record.path).resolve()
        assert path.is_relative_to(root), f"AgentFile {record.id} points outside the data dir: {record.path}"
        assert path.is_file() and path.stat().st_size == record.size, f"AgentFile {record.id} is not complete"


def read_ack_log(path: Path) -> set[str]:
    """The submit_keys in a `--simulate-log` file (a kill may cut its last line short)."""
    if not path.exists():
        return set()
    keys = set()
    for line in path.read_text().splitlines():
        try:
            keys.add(json.loads(line)["submit_key"])
        except ValueError:
            continue
    return keys


# ---- raw HTTP ---------------------------------------------------------------------------------------------


def raw_http(port: int, request: bytes, timeout: float = 10) -> tuple[int | None, bytes]:
    """Send `request` as is to 127.0.0.1:`port`; return (status, whole answer), status None for no HTTP answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        # The server may answer and close before reading everything; its answer still counts.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        chunks = []
        # A reset after (or instead of) the answer: what was read is what the server said.
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    answer = b"".join(chunks)
    head = answer.split(b"\r\n", 1)[0].split()
    status = int(head[1]) if len(head) >= 2 and head[0].startswith(b"HTTP/") and head[1].isdigit() else None
    return status, answer


def get(port: int, target: bytes | str, headers: bytes = b"") -> tuple[int | None, bytes]:
    """A GET of `target` (sent byte for byte, never normalised) with optional extra header lines."""
    raw_target = target.encode() if isinstance(target, str) else target
    return raw_http(port, b"GET " + raw_target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + b"\r\n")


# ---- processes --------------------------------------------------------------------------------------------


def child_pids(pid: int) -> list[int]:
    """The ids of the direct children of process `pid` (read from /proc)."""
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # it exited while we looked
        # The command name may hold spaces and parentheses; the fields after the last ')' are plain.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            children.append(int(entry))
    return children


def command_line(pid: int) -> str:
    """The command line of a process ('' if it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def is_running(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def vm_rss_kib(pid: int | str = "self") -> int:
    """The resident memory of a process in KiB (VmRSS in /proc/PID/status).

    For this process, freed heap memory is first handed back to the system (glibc's malloc_trim), so the number
    follows what is still in use rather than the high-water mark the allocator keeps after a burst.
    """
    if pid == "self":
        _malloc_trim()
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"/proc/{pid}/status has no VmRSS line")


def _malloc_trim() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return  # not glibc: the RSS is then only less precise
    libc.malloc_trim(0)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` every 50 ms; fail the test saying `what` did not happen within `timeout` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.05)


class LaunchProcess(SharedLaunchProcess):
    """`mephisto launch` as a real background process (the core's test helper), plus its router child's pid."""

    def router_pid(self, timeout: float = 10) -> int:
        """The pid of its router child (`architect.mode=subprocess`)."""
        return self.router_pids(1, timeout)[0]

    def router_pids(self, count: int, timeout: float = 10) -> list[int]:
        """The pids of its `count` router children (`architect.router_processes`), router 0 first."""
        found: list[int] = []

        def routers_started() -> bool:
            found[:] = [p for p in child_pids(self.proc.pid) if "mephisto_core.router" in command_line(p)]
            return len(found) >= count

        wait_until(routers_started, timeout, f"{count} router child process(es)")
        # router K of N names itself `--shard K/N`; a lone router names no shard
        return sorted(found, key=lambda pid: command_line(pid).partition("--shard")[2])
