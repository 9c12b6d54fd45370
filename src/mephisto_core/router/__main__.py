"""Run a router as its own process.

``python -m mephisto_core.router serve [options]`` is `mephisto router serve`: the standalone router that takes
pushed builds (see `mephisto_core.router.standalone`; its deploy secret comes from MEPHISTO_ROUTER_SECRET or
``--secret-file``).

``python -m mephisto_core.router --build-dir DIR`` serves one build dir for the local architect's subprocess mode;
its channel secret comes from the environment variable MEPHISTO_CHANNEL_SECRET (never from the command line, where
other users of the machine could read it). Prints ``READY <url>`` once listening and exits cleanly on SIGTERM or
SIGINT. With ``--shard K/N`` it is router K of N sharing the port (see `mephisto_core.router.shards`) and prints
``READY <url> <channel url>``. With ``--exit-on-stdin-eof`` it also exits when its stdin reaches end of file: a
parent that starts it with a pipe on stdin and never writes to it is then watched without any polling, since the
kernel closes the pipe's write end however the parent ends (kill -9 included).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from mephisto_core.router.build_archive import DEFAULT_MAX_BUILD_BYTES
from mephisto_core.router.shards import Shard, parse_shard
from mephisto_core.router.standalone import (
    DEFAULT_PORT,
    ROUTER_SECRET_ENV,
    ServeOptions,
    run_process,
    run_until_stopped,
    serve,
)

SECRET_ENV = "MEPHISTO_CHANNEL_SECRET"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mephisto_core.router",
        description=f"Serve a task's build dir to workers and relay them to an operator ({SECRET_ENV} "
        "holds the operator channel secret). `python -m mephisto_core.router serve --help` for the standalone "
        "router.",
    )
    parser.add_argument("--build-dir", type=Path, required=True, help="directory with the task's index.html")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default 0: any free port)")
    parser.add_argument(
        "--shard",
        type=_shard_arg,
        default=None,
        metavar="K/N",
        help="router K (from 0) of N sharing the port: bind it with SO_REUSEPORT, number sockets K+1, K+1+N, ..., "
        "and serve the operator channel on its own port of 127.0.0.1 (printed after the URL in the READY line)",
    )
    _add_limits(parser)
    return parser


def _shard_arg(text: str) -> Shard:
    try:
        return parse_shard(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_limits(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-upload-bytes", type=int, default=50 * 2**20, help="largest file a worker may upload")
    parser.add_argument("--max-message-bytes", type=int, default=2**20, help="largest JSON message a worker may send")
    parser.add_argument(
        "--exit-on-stdin-eof",
        action="store_true",
        help="stop when stdin reaches end of file (the parent holding the other end of the pipe is gone)",
    )


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mephisto_core.router serve",
        description=f"The standalone router (`mephisto router serve`); {ROUTER_SECRET_ENV} or --secret-file holds "
        "the deploy secret.",
    )
    parser.add_argument("--host", default="0.0.0.0", help="interface to listen on (default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})")
    parser.add_argument("--certfile", type=Path, help="TLS certificate chain (PEM); without it, plain HTTP")
    parser.add_argument("--keyfile", type=Path, help="TLS private key (PEM), unless it is in --certfile")
    parser.add_argument("--data-dir", type=Path, help="where pushed builds are kept (default: data dir/router)")
    parser.add_argument("--public-url", help="the https:// address workers use, when a proxy is in front")
    parser.add_argument("--secret-file", type=Path, help=f"file holding the deploy secret (else {ROUTER_SECRET_ENV})")
    parser.add_argument(
        "--max-build-mb", type=float, default=DEFAULT_MAX_BUILD_BYTES / 2**20, help="largest build operators push"
    )
    _add_limits(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["serve"]:
        args = _serve_parser().parse_args(arguments[1:])
        return serve(
            ServeOptions(
                host=args.host,
                port=args.port,
                certfile=args.certfile,
                keyfile=args.keyfile,
                data_dir=args.data_dir,
                public_url=args.public_url,
                secret_file=args.secret_file,
                max_upload_bytes=args.max_upload_bytes,
                max_message_bytes=args.max_message_bytes,
                max_build_bytes=int(args.max_build_mb * 2**20),
                exit_on_stdin_eof=args.exit_on_stdin_eof,
            )
        )
    args = _parser().parse_args(arguments)
    secret = os.environ.get(SECRET_ENV, "")
    if not secret:
        print(f"error: set {SECRET_ENV} to the operator channel secret", file=sys.stderr)
        return 2
    from mephisto_core.errors import MephistoError
    from mephisto_core.router.server import RouterServer

    try:
        server = RouterServer(
            args.build_dir,
            secret,
            host=args.host,
            port=args.port,
            max_upload_bytes=args.max_upload_bytes,
            max_message_bytes=args.max_message_bytes,
            shard=args.shard,
            reuse_port=args.shard is not None,
            channel_port=0 if args.shard is not None else None,
        )
    except MephistoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return run_process(
        lambda: run_until_stopped(server, exit_on_stdin_eof=args.exit_on_stdin_eof), args.host, args.port
    )


if __name__ == "__main__":
    sys.exit(main())
