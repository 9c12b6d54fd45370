"""Run a router as its own process: ``python -m mephisto_core.router --build-dir DIR``.

The operator channel secret comes from the environment variable MEPHISTO_CHANNEL_SECRET (never from the
command line, where other users of the machine could read it). Prints ``READY <url>`` once listening and
exits cleanly on SIGTERM or SIGINT. With ``--exit-on-stdin-eof`` it also exits when its stdin reaches end of file:
a parent that starts it with a pipe on stdin and never writes to it is then watched without any polling, since the
kernel closes the pipe's write end however the parent ends (kill -9 included).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from mephisto_core.errors import MephistoError
from mephisto_core.router.open_files import raise_open_file_limit

SECRET_ENV = "MEPHISTO_CHANNEL_SECRET"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mephisto_core.router",
        description=f"Serve a task's build dir to workers and relay them to an operator ({SECRET_ENV} "
        "holds the operator channel secret).",
    )
    parser.add_argument("--build-dir", type=Path, required=True, help="directory with the task's index.html")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default 0: any free port)")
    parser.add_argument("--max-upload-bytes", type=int, default=50 * 2**20, help="largest file a worker may upload")
    parser.add_argument("--max-message-bytes", type=int, default=2**20, help="largest JSON message a worker may send")
    parser.add_argument(
        "--exit-on-stdin-eof",
        action="store_true",
        help="stop when stdin reaches end of file (the parent holding the other end of the pipe is gone)",
    )
    return parser


def _watch_stdin(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Read stdin until end of file, then set `stop` on `loop` (runs on a daemon thread)."""
    # A blocking read on a thread works for pipes on every platform, where the event loop's pipe support varies.
    # Whatever arrives is thrown away: the parent never writes, the pipe only tells us that it is alive.
    fd = sys.stdin.fileno()
    try:
        while os.read(fd, 4096):
            continue
    except OSError as exc:  # a closed or broken stdin means the same as end of file here
        print(f"router: reading stdin failed ({exc}); stopping", file=sys.stderr, flush=True)
    else:
        print("router: stdin closed (its parent is gone); stopping", file=sys.stderr, flush=True)
    # The loop may have closed meanwhile (a SIGTERM came first): the router is stopping anyway.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(stop.set)


async def _run(args: argparse.Namespace, secret: str) -> None:
    from mephisto_core.router.server import RouterServer

    server = RouterServer(
        args.build_dir,
        secret,
        host=args.host,
        port=args.port,
        max_upload_bytes=args.max_upload_bytes,
        max_message_bytes=args.max_message_bytes,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if args.exit_on_stdin_eof:
        threading.Thread(target=_watch_stdin, args=(loop, stop), name="router-stdin-watch", daemon=True).start()
    await server.start()
    try:
        print(f"READY {server.url}", flush=True)
        await stop.wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    args = _parser().parse_args(argv)
    secret = os.environ.get(SECRET_ENV, "")
    if not secret:
        print(f"error: set {SECRET_ENV} to the operator channel secret", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    raise_open_file_limit()  # one socket per worker page
    try:
        asyncio.run(_run(args, secret))
    except MephistoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the port is taken, the host is not ours
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
