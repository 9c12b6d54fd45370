"""`mephisto review --no-browser` started for a benchmark, and a connection to it kept alive as a browser keeps it."""

from __future__ import annotations

import http.client
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from mephisto_core.testing.processes import ReviewProcess

LINK_TIMEOUT_S = 60.0


class ReviewAppFailed(RuntimeError):
    """The review app exited, or printed no link in time; the message holds its output."""


def open_review_app(
    stack: ExitStack, mephisto: Sequence[str], env: dict[str, str], log: Path, call_timeout: float
) -> tuple[http.client.HTTPConnection, str]:
    """Start the review app with `env` (stopped when `stack` closes) and give a connection to it and its token."""
    review = ReviewProcess([], env, log, program=mephisto)
    stack.callback(review.close)
    try:
        link = urlsplit(review.wait_for_link(LINK_TIMEOUT_S))
    except AssertionError as exc:  # it exited, or printed no link in time: the message holds its output
        raise ReviewAppFailed(str(exc)) from None
    token = parse_qs(link.query)["token"][0]
    connection = http.client.HTTPConnection(link.hostname or "127.0.0.1", link.port, timeout=call_timeout)
    stack.callback(connection.close)
    return connection, token
