"""Fixtures of the live blueprint's tests: a chat task folder from the `chat` template, written worlds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def chat_task(mephisto_init: Callable[..., Path]) -> Path:
    """A task folder made by `mephisto init --template chat`; returns its task.toml."""
    return mephisto_init("chat", folder="chat")
