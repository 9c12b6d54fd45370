"""A real `mephisto router serve` on 127.0.0.1, standing in for the router the instance would run (moto runs no
instance): the ec2 architect's test hook `test_router_url` points at it."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass
class RouterProcess:
    """The router's base URL and deploy secret."""

    url: str
    secret: str
    process: subprocess.Popen[str]


@contextmanager
def router_serving(data_dir: Path, env: dict[str, str] | None = None) -> Iterator[RouterProcess]:
    """Start `mephisto router serve` on a free port; stop it at the end."""
    secret = secrets.token_urlsafe(24)
    environ = dict(env if env is not None else os.environ)
    environ["MEPHISTO_ROUTER_SECRET"] = secret
    command = [sys.executable, "-m", "mephisto_core.cli", "router", "serve", "--host", "127.0.0.1", "--port", "0"]
    command += ["--data-dir", str(data_dir), "--exit-on-stdin-eof"]
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environ
    )
    try:
        deadline = time.monotonic() + 60
        assert process.stdout is not None
        url = None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            if line.startswith("READY "):
                url = line.split()[1]
                break
        if url is None:
            raise RuntimeError(f"the router did not start (exit {process.poll()})")
        yield RouterProcess(url if url.endswith("/") else url + "/", secret, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
