"""Running a router as its own process: the standalone public router (`mephisto router serve`) and the local
architect's child (`python -m mephisto_core.router --build-dir DIR`).

Both print ``READY <url>`` once listening and exit cleanly on SIGTERM or SIGINT; with `exit_on_stdin_eof` also
when stdin reaches end of file (a parent holding the pipe's other end is gone, however it ended).

The standalone router's deploy secret comes from the environment (`MEPHISTO_ROUTER_SECRET`) or a file, never from
the command line, where other users of the machine could read it in `ps`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import ssl
import stat
import sys
import threading
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mephisto_core import collector, event_loop
from mephisto_core.errors import ConfigError, MephistoError
from mephisto_core.router.build_archive import DEFAULT_MAX_BUILD_BYTES
from mephisto_core.router.open_files import raise_open_file_limit

if TYPE_CHECKING:
    from mephisto_core.router.server import RouterServer

ROUTER_SECRET_ENV = "MEPHISTO_ROUTER_SECRET"
#: A deploy secret guards a public server: shorter ones are refused.
MIN_SECRET_CHARS = 16
_MAKE_SECRET = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
DEFAULT_PORT = 8443


@dataclass
class ServeOptions:
    """What `mephisto router serve` was asked for (see its `--help`)."""

    host: str = "0.0.0.0"
    port: int = DEFAULT_PORT
    certfile: Path | None = None
    keyfile: Path | None = None
    data_dir: Path | None = None
    public_url: str | None = None
    secret_file: Path | None = None
    max_upload_bytes: int = 50 * 2**20
    max_message_bytes: int = 2**20
    max_build_bytes: int = DEFAULT_MAX_BUILD_BYTES
    exit_on_stdin_eof: bool = False


def read_secret(secret_file: Path | None, environ: dict[str, str] | None = None) -> str:
    """The deploy secret from `secret_file` or else `MEPHISTO_ROUTER_SECRET`; ConfigError when missing or weak."""
    env = os.environ if environ is None else environ
    if secret_file is not None:
        try:
            mode = secret_file.stat().st_mode
            secret = secret_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the secret file {secret_file}: {exc}", key="--secret-file") from exc
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            logging.getLogger(__name__).warning(
                "the secret file %s may be read by other users; `chmod 600 %s`", secret_file, secret_file
            )
        source = f"the secret file {secret_file}"
    else:
        secret = env.get(ROUTER_SECRET_ENV, "").strip()
        source = ROUTER_SECRET_ENV
        if not secret:
            raise ConfigError(
                f"no deploy secret: set {ROUTER_SECRET_ENV} or pass --secret-file FILE (make one with {_MAKE_SECRET})"
            )
    if len(secret) < MIN_SECRET_CHARS:
        raise ConfigError(
            f"the deploy secret in {source} has {len(secret)} characters; use at least {MIN_SECRET_CHARS} "
            f"(make one with {_MAKE_SECRET})"
        )
    return secret


def tls_context(certfile: Path | None, keyfile: Path | None) -> ssl.SSLContext | None:
    """A server TLS context from a PEM certificate chain and key (the key may be in the certificate file)."""
    if certfile is None:
        if keyfile is not None:
            raise ConfigError("needs --certfile too (the certificate chain in PEM)", key="--keyfile")
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certfile, keyfile)
    except FileNotFoundError as exc:
        raise ConfigError(f"no such file: {exc.filename}", key="--certfile" if keyfile is None else None) from exc
    except (ssl.SSLError, OSError) as exc:
        what = f"{certfile}" + (f" and key {keyfile}" if keyfile is not None else "")
        raise ConfigError(f"cannot load the TLS certificate {what}: {exc}") from exc
    return context


def certificate_reloader(context: ssl.SSLContext, certfile: Path, keyfile: Path | None) -> Callable[[], None]:
    """What SIGHUP does: load the certificate files again into the live TLS context (a renewed certificate is
    served to new connections without a restart). Files that do not load leave the previous certificate served."""

    def reload() -> None:
        try:
            tls_context(certfile, keyfile)  # a fresh context first: a bad file must not touch the live one
            context.load_cert_chain(certfile, keyfile)
        except MephistoError as exc:
            print(f"router: SIGHUP: {exc}; still serving the previous certificate", file=sys.stderr, flush=True)
            return
        print(f"router: SIGHUP: reloaded the TLS certificate {certfile}", flush=True)

    return reload


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


async def run_until_stopped(
    server: RouterServer,
    *,
    exit_on_stdin_eof: bool,
    notes: Sequence[str] = (),
    on_hangup: Callable[[], None] | None = None,
) -> None:
    """Start `server`, print `notes` and ``READY <url>``, and serve until SIGTERM, SIGINT or (optionally) stdin EOF.

    `on_hangup` runs on SIGHUP (the standalone router reloads its certificate).
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if on_hangup is not None:
        loop.add_signal_handler(signal.SIGHUP, on_hangup)
    if exit_on_stdin_eof:
        threading.Thread(target=_watch_stdin, args=(loop, stop), name="router-stdin-watch", daemon=True).start()
    await server.start()
    collector.settle_after_start()
    try:
        for note in notes:
            print(note, flush=True)
        # A router with a channel port of its own names it too: the operator cannot derive it from the URL.
        ready = f"READY {server.url} {server.channel_url}" if server.has_own_channel_port else f"READY {server.url}"
        print(ready, flush=True)
        await stop.wait()
    finally:
        await server.stop()


def run_process(make: Callable[[], Coroutine[Any, Any, None]], host: str, port: int) -> int:
    """Run `make()` (a coroutine factory) as the process's main loop; the exit status, errors printed."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    raise_open_file_limit()  # one socket per worker page
    try:
        event_loop.run(make(), os.environ.get(event_loop.EVENT_LOOP_ENV, "auto"))
    except MephistoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the port is taken, the host is not ours
        print(f"error: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    return 0


def default_data_dir() -> Path:
    """`<MEPHISTO_DATA_DIR>/router`: where a standalone router keeps pushed builds unless told otherwise."""
    from mephisto_core.settings import Settings

    return Settings().data_dir / "router"


def serve(options: ServeOptions) -> int:
    """Run the standalone router until stopped; the process's exit status. Checks everything before binding."""
    try:
        secret = read_secret(options.secret_file)
        context = tls_context(options.certfile, options.keyfile)
        if options.public_url is not None and not options.public_url.startswith(("http://", "https://")):
            raise ConfigError("must start with https:// (or http://)", key="--public-url")
        data_dir = options.data_dir if options.data_dir is not None else default_data_dir()
    except MephistoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from mephisto_core.router.server import RouterServer

    try:
        server = RouterServer(
            None,
            secret,
            host=options.host,
            port=options.port,
            max_upload_bytes=options.max_upload_bytes,
            max_message_bytes=options.max_message_bytes,
            data_dir=data_dir,
            ssl_context=context,
            max_build_bytes=options.max_build_bytes,
        )
    except MephistoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    on_hangup = None
    if context is not None:
        assert options.certfile is not None
        notes = [f"router: serving HTTPS and WSS with the certificate {options.certfile} (SIGHUP reloads it)"]
        on_hangup = certificate_reloader(context, options.certfile, options.keyfile)
    else:
        notes = [
            "router: serving plain HTTP and WS (no --certfile): only behind a reverse proxy that adds TLS, "
            "since the deploy secret and workers' answers would cross the network readable"
        ]
    notes.append(f"router: keeping pushed builds in {data_dir}")
    if options.public_url is not None:
        notes.append(f"router: workers open {options.public_url}")
    return run_process(
        lambda: run_until_stopped(
            server, exit_on_stdin_eof=options.exit_on_stdin_eof, notes=notes, on_hangup=on_hangup
        ),
        options.host,
        options.port,
    )
