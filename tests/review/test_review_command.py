"""`mephisto review` (the web app) as a command: the printed link works, bad options fail cleanly."""

from __future__ import annotations

import re
import signal
import socket
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

from mephisto_core.cli import cli
from mephisto_core.testing.processes import ReviewProcess

TOKEN_LINK = re.compile(r"http://127\.0\.0\.1:\d+/\?token=[A-Za-z0-9_%-]+")


def _status(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_printed_link_opens_the_app_and_sigterm_stops_it(
    review_data: Path, mephisto_review: Callable[..., ReviewProcess]
) -> None:
    review = mephisto_review()
    link = review.wait_for_link()
    assert TOKEN_LINK.fullmatch(link), link  # the token needs no quoting in a URL
    base = link.split("/?token=")[0]
    token = link.split("token=")[1]
    assert _status(link) == 200
    assert _status(base + "/") == 403
    assert _status(base + "/api/tasks", {"Authorization": f"Bearer {token}"}) == 200
    review.proc.send_signal(signal.SIGTERM)
    assert review.wait(15) == 0
    assert "Review app stopped." in review.output()


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
