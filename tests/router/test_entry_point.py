"""`python -m mephisto_core.router`: a router as its own process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from router_build_files import INDEX_HTML
from router_helpers import SECRET

TIMEOUT = 20


def _start(
    build_dir: Path, secret: str | None = SECRET, *extra: str, event_loop: str | None = None
) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MEPHISTO_CHANNEL_SECRET", "MEPHISTO_EVENT_LOOP")}
    if event_loop is not None:
        env["MEPHISTO_EVENT_LOOP"] = event_loop
    if secret is not None:
        env["MEPHISTO_CHANNEL_SECRET"] = secret
    return subprocess.Popen(
        [sys.executable, "-m", "mephisto_core.router", "--build-dir", str(build_dir), "--port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.parametrize("event_loop", [None, "asyncio"], ids=["default-loop", "asyncio-loop"])
def test_router_process_says_ready_serves_and_stops_on_sigterm(build_dir: Path, event_loop: str | None) -> None:
    process = _start(build_dir, event_loop=event_loop)
    try:
        assert process.stdout is not None
        ready = process.stdout.readline()
        assert ready.startswith("READY http://127.0.0.1:"), ready
        url = ready.split(" ", 1)[1].strip()
        assert url.endswith("/")
        with urllib.request.urlopen(url + "?worker_id=alice", timeout=TIMEOUT) as response:
            assert response.read() == INDEX_HTML
        process.send_signal(signal.SIGTERM)
        assert process.wait(TIMEOUT) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(TIMEOUT)
    assert process.stderr is not None
    assert process.stderr.read() == ""


def test_router_process_stops_on_sigint(build_dir: Path) -> None:
    process = _start(build_dir)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("READY ")
        process.send_signal(signal.SIGINT)
        assert process.wait(TIMEOUT) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(TIMEOUT)


def test_router_process_without_a_secret_explains_and_exits(build_dir: Path) -> None:
    process = _start(build_dir, secret=None)
    _out, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 2
    assert "MEPHISTO_CHANNEL_SECRET" in err


def test_router_process_with_a_missing_build_dir_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-build"
    process = _start(missing)
    out, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 2
    assert out == ""
    assert str(missing) in err and "Traceback" not in err


def test_router_process_with_an_unknown_event_loop_names_the_variable(build_dir: Path) -> None:
    process = _start(build_dir, event_loop="tornado")
    out, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 2
    assert out == ""
    assert "MEPHISTO_EVENT_LOOP='tornado' is not an event loop" in err and "Traceback" not in err
