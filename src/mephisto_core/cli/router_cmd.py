"""`mephisto router`: run the worker-facing router on its own, e.g. on a public host behind TLS."""

from __future__ import annotations

import sys
from pathlib import Path

import click

# Kept in step with mephisto_core.router.standalone (not imported here: `mephisto --help` must not load websockets).
_DEFAULT_PORT = 8443
_DEFAULT_MAX_BUILD_MB = 256


@click.group()
def router() -> None:
    """Run a standalone router that operators connect out to (the `remote` and `ec2` architects use one)."""


@router.command()
@click.option("--host", default="0.0.0.0", show_default=True, help="Interface to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=_DEFAULT_PORT, show_default=True, help="TCP port.")
@click.option(
    "--certfile",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TLS certificate chain (PEM). Without it the router speaks plain HTTP, for use behind a TLS proxy.",
)
@click.option(
    "--keyfile",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TLS private key (PEM), unless the certificate file holds it.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where pushed builds are kept, so a restarted router serves them again [default: MEPHISTO_DATA_DIR/router].",
)
@click.option("--public-url", help="The https:// address workers open, when a proxy or load balancer is in front.")
@click.option(
    "--secret-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding the deploy secret [default: the MEPHISTO_ROUTER_SECRET environment variable].",
)
@click.option(
    "--max-build-mb",
    type=click.FloatRange(min=0, min_open=True, max=4096),
    default=_DEFAULT_MAX_BUILD_MB,
    show_default=True,
    help="Largest task build an operator may push.",
)
@click.option(
    "--max-upload-mb",
    type=click.FloatRange(min=0, min_open=True, max=2048),
    default=50,
    show_default=True,
    help="Largest file a worker may upload.",
)
@click.option(
    "--exit-on-stdin-eof", is_flag=True, help="Stop when stdin reaches end of file (for a supervising parent)."
)
def serve(
    host: str,
    port: int,
    certfile: Path | None,
    keyfile: Path | None,
    data_dir: Path | None,
    public_url: str | None,
    secret_file: Path | None,
    max_build_mb: float,
    max_upload_mb: float,
    exit_on_stdin_eof: bool,
) -> None:
    """Serve tasks to workers from this host; operators connect out to it over wss:// and push their task.

    The deploy secret, which operators must present, comes from MEPHISTO_ROUTER_SECRET or --secret-file (never
    the command line). Until an operator pushes a task, every page says that no task is running here. Prints
    `READY <url>` once listening; stops cleanly on SIGTERM or Ctrl-C; SIGHUP reloads a renewed certificate.
    """
    from mephisto_core.router.standalone import ServeOptions
    from mephisto_core.router.standalone import serve as serve_router

    status = serve_router(
        ServeOptions(
            host=host,
            port=port,
            certfile=certfile,
            keyfile=keyfile,
            data_dir=data_dir,
            public_url=public_url,
            secret_file=secret_file,
            max_upload_bytes=int(max_upload_mb * 2**20),
            max_build_bytes=int(max_build_mb * 2**20),
            exit_on_stdin_eof=exit_on_stdin_eof,
        )
    )
    if status:
        sys.exit(status)
