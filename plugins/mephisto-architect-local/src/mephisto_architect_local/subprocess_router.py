"""Run the router as a child process (`python -m mephisto_core.router`) in its own process group."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path
from typing import IO

from mephisto_architect_local.leftovers import forget_router, record_router
from mephisto_architect_local.ports import port_busy_error
from mephisto_core.errors import MephistoError
from mephisto_core.router import Shard

logger = logging.getLogger(__name__)

READY_PREFIX = "READY "
READY_TIMEOUT_S = 10.0
STOP_GRACE_S = 5.0
STDERR_TAIL_CHARS = 2000
SECRET_ENV = "MEPHISTO_CHANNEL_SECRET"


class RouterStartError(MephistoError):
    """The router process exited or stayed silent instead of reporting that it listens."""


class SubprocessRouter:
    """The router as a child process.

    The channel secret goes through the environment (never the command line, which other users can read in
    `ps`). The child's stderr goes to `log_path`, so a failed start can show its tail and a crash later leaves
    a record. The child gets its own process group so a Ctrl-C in the terminal reaches the operator only,
    which then stops the router in order.

    Each side watches the other. The child's stdin is a pipe this process never writes to and the child runs
    with `--exit-on-stdin-eof`: when this process ends in any way, kill -9 included, the kernel closes the
    pipe and the child stops instead of holding its port for ever. In the other direction `watch()` returns
    once the child died by itself, saying how.
    """

    def __init__(
        self,
        build_dir: Path,
        channel_secret: str,
        host: str,
        port: int,
        max_upload_bytes: int,
        log_path: Path,
        ready_timeout_s: float = READY_TIMEOUT_S,
        stop_grace_s: float = STOP_GRACE_S,
        shard: Shard | None = None,
    ) -> None:
        self.build_dir = build_dir
        self.channel_secret = channel_secret
        self.host = host
        self.port = port
        self.max_upload_bytes = max_upload_bytes
        #: router K > 0 of a group logs beside router 0: router-K.stderr.log next to router.stderr.log
        self.log_path = log_path if shard is None or shard.index == 0 else _numbered(log_path, shard.index)
        self.ready_timeout_s = ready_timeout_s
        self.stop_grace_s = stop_grace_s
        #: router K of N sharing the port (`RouterGroup`); None for a router alone
        self.shard = shard
        self._proc: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None
        self._drain: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs (None before start and after stop)."""
        return None if self._proc is None else self._proc.pid

    def command(self) -> list[str]:
        """The command line of the child."""
        return [
            sys.executable,
            "-m",
            "mephisto_core.router",
            "--build-dir",
            str(self.build_dir),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--max-upload-bytes",
            str(self.max_upload_bytes),
            "--exit-on-stdin-eof",
            *(["--shard", f"{self.shard.index}/{self.shard.count}"] if self.shard is not None else []),
        ]

    @property
    def _index(self) -> int:
        return 0 if self.shard is None else self.shard.index

    async def start(self) -> tuple[str, str]:
        """Start the child and wait for its READY line; return (worker URL, channel URL)."""
        # The run's folder and log are private, as the rest of the data dir: the log may quote workers' messages.
        self.log_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._log = os.fdopen(os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")
        env = {**os.environ, SECRET_ENV: self.channel_secret}
        self._proc = await asyncio.create_subprocess_exec(
            *self.command(),
            # Never written to: only its closing (when this process ends) matters to the child.
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self._log,
            env=env,
            start_new_session=True,
        )
        try:
            ready = await asyncio.wait_for(self._read_ready_line(), self.ready_timeout_s)
        except TimeoutError:
            await self.stop()
            raise RouterStartError(
                f"the router process did not report READY within {self.ready_timeout_s:g} s"
                + self._stderr_tail_for_message()
            ) from None
        except BaseException:
            await self.stop()
            raise
        assert self._proc.stdout is not None
        self._drain = asyncio.create_task(_drain(self._proc.stdout), name="router-stdout")
        # A router sharing its port names its own channel port after its URL.
        url, _, channel_url = ready.partition(" ")
        # Beside the log, in the run's folder: what `mephisto cleanup` finds if this process dies without stop().
        record_router(self.log_path.parent, self._proc.pid, url, self._index)
        return url, channel_url.strip() or _channel_url(url)

    async def _read_ready_line(self) -> str:
        assert self._proc is not None and self._proc.stdout is not None
        while True:
            raw = await self._proc.stdout.readline()
            if not raw:
                await self._proc.wait()
                raise self._exit_error(self._proc.returncode)
            line = raw.decode("utf-8", "replace").strip()
            if line.startswith(READY_PREFIX):
                return line[len(READY_PREFIX) :].strip()
            logger.info("router: %s", line)

    def _exit_error(self, returncode: int | None) -> MephistoError:
        tail = self._stderr_tail()
        if "address already in use" in tail.lower():
            return port_busy_error(self.host, self.port)
        return RouterStartError(
            f"the router process exited with code {returncode} before it was ready" + self._stderr_tail_for_message()
        )

    def _stderr_tail(self) -> str:
        if self._log is not None:
            self._log.flush()
        try:
            data = self.log_path.read_bytes()
        except FileNotFoundError:
            return ""
        return data[-STDERR_TAIL_CHARS:].decode("utf-8", "replace").strip()

    def _stderr_tail_for_message(self) -> str:
        tail = self._stderr_tail()
        if not tail:
            return f"; it wrote nothing to stderr ({self.log_path})"
        return f"; the end of its stderr ({self.log_path}):\n{tail}"

    async def watch(self) -> str | None:
        """Wait until the child exits; say how if it died by itself, None if `stop()` ended it (or none runs)."""
        proc = self._proc
        if proc is None:
            return None
        returncode = await proc.wait()
        if self._proc is not proc:  # stop() took it away first: an exit we asked for
            return None
        return f"the router process (pid {proc.pid}) {_describe_exit(returncode)}" + self._stderr_tail_for_message()

    async def stop(self) -> None:
        """SIGTERM the child's process group, SIGKILL it after 5 s; a second call does nothing."""
        proc, self._proc = self._proc, None
        if proc is not None:
            await _terminate_group(proc, self.stop_grace_s)
            if proc.stdin is not None:
                proc.stdin.close()
        drain, self._drain = self._drain, None
        if drain is not None:
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain
        log, self._log = self._log, None
        if log is not None:
            log.close()
        if proc is not None:
            forget_router(self.log_path.parent, proc.pid, self._index)


async def _drain(stdout: asyncio.StreamReader) -> None:
    # Anything the router prints after READY is logged, and reading keeps the pipe from filling up.
    while raw := await stdout.readline():
        logger.info("router: %s", raw.decode("utf-8", "replace").rstrip())


async def _terminate_group(proc: asyncio.subprocess.Process, grace_s: float) -> None:
    if proc.returncode is not None:
        return
    # The group may be gone between the check and the signal; proc.wait() below reaps it either way.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), grace_s)
        return
    except TimeoutError:
        logger.warning("router process %s ignored SIGTERM for %g s; killing it", proc.pid, grace_s)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    await proc.wait()


def _describe_exit(returncode: int) -> str:
    """'exited with code 3' or 'was killed by signal 9 (SIGKILL)' for an asyncio return code."""
    if returncode >= 0:
        return f"exited with code {returncode}"
    try:
        name = f" ({signal.Signals(-returncode).name})"
    except ValueError:
        name = ""
    return f"was killed by signal {-returncode}{name}"


def _numbered(log_path: Path, index: int) -> Path:
    """`router.stderr.log` -> `router-1.stderr.log` for router 1 of a group."""
    stem, dot, rest = log_path.name.partition(".")
    return log_path.with_name(f"{stem}-{index}{dot}{rest}")


def _channel_url(worker_url: str) -> str:
    """ws://HOST:PORT/_channel for the router at http://HOST:PORT/."""
    base = worker_url.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base[len("https://") :] + "/_channel"
    if base.startswith("http://"):
        return "ws://" + base[len("http://") :] + "/_channel"
    raise RouterStartError(f"the router reported {worker_url!r}, which is not an http:// URL")
