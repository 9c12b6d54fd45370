"""Logging set up by the CLI: per-connection websockets lines stay out of a normal launch's output.

SQL logging and secrets at DEBUG: tests/cli/test_cli_sql_logging.py.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from mephisto_core.cli.context import load_settings


@pytest.fixture(autouse=True)
def restore_websockets_level() -> Iterator[None]:
    logger = logging.getLogger("websockets")
    before = logger.level
    yield
    logger.setLevel(before)


def test_websockets_connection_lines_are_hidden_at_info(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEPHISTO_LOG_LEVEL", "INFO")
    load_settings()
    # The websockets logger's own level, not the root's: basicConfig leaves an already configured root alone.
    assert logging.getLogger("websockets").level == logging.WARNING


def test_debug_level_shows_websockets_connection_lines_but_not_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    logging.getLogger("websockets").setLevel(logging.NOTSET)
    monkeypatch.setenv("MEPHISTO_LOG_LEVEL", "DEBUG")
    load_settings()
    # websockets' DEBUG lines quote every frame, and frames carry agent tokens and answers.
    assert logging.getLogger("websockets").level == logging.INFO


def test_error_level_is_not_lowered_for_websockets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEPHISTO_LOG_LEVEL", "ERROR")
    load_settings()
    assert logging.getLogger("websockets").level == logging.ERROR
