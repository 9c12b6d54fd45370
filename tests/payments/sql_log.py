"""The SQL statements an action sends, read from peewee's debug log, for tests that bound them."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import pytest


def statements(caplog: pytest.LogCaptureFixture, action: Callable[[], Any]) -> tuple[Any, list[str]]:
    """`action()`'s result and the statements it sent, in order, as SQL text."""
    with caplog.at_level(logging.DEBUG, logger="peewee"):
        caplog.clear()
        result = action()
        # peewee logs (sql, params); once a CLI's log filter is installed, the SQL alone (parameters not logged)
        return result, [r.getMessage().lstrip("('") for r in caplog.records if r.name == "peewee"]


def writes(sent: list[str], table: str) -> list[str]:
    """The statements of `sent` that write to `table`."""
    return [s for s in sent if re.match(rf'(INSERT (OR IGNORE )?INTO|DELETE FROM|UPDATE) "{table}"', s)]
