"""`mephisto review` (the web app) as a command: the printed link works, bad options fail cleanly."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from click.testing import CliRunner

from mephisto_core.cli import cli

LINK = re.compile(r"Review app: (http://127\.0\.0\.1:\d+/\?token=[A-Za-z0-9_%-]+)")


def _status(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_printed_link_opens_the_app_and_sigterm_stops_it(review_data: Path, tmp_path: Path) -> None:
    log = tmp_path / "review.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mephisto_core.cli", "review", "--no-browser"],
            env=dict(os.environ),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while not LINK.search(log.read_text()) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        found = LINK.search(log.read_text())
        assert found, log.read_text()
        link = found.group(1)
        base = link.split("/?token=")[0]
        token = link.split("token=")[1]
        assert _status(link) == 200
        assert _status(base + "/") == 403
        assert _status(base + "/api/tasks", {"Authorization": f"Bearer {token}"}) == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        assert "Review app stopped." in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_an_unknown_task_names_the_known_ones(review_data: Path) -> None:
    result = CliRunner().invoke(cli, ["review", "--task", "nope", "--no-browser"])
    assert result.exit_code == 1
    assert "--task 'nope': there is no task with that name (known tasks: 'notes', 'study')" in result.output
    assert "Traceback" not in result.output


def test_a_port_in_use_is_a_clean_error(review_data: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["review", "--port", str(port), "--no-browser"])
    assert result.exit_code == 1
    assert f"cannot serve the review app on 127.0.0.1:{port}" in result.output
    assert "Pick another --port" in result.output


def test_a_port_out_of_range_is_refused(review_data: Path) -> None:
    result = CliRunner().invoke(cli, ["review", "--port", "70000"])
    assert result.exit_code == 2
    assert "70000 is not in the range 0<=x<=65535" in result.output
