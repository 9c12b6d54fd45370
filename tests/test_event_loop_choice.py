"""MEPHISTO_EVENT_LOOP: uvloop when installed (the default), asyncio's own on request, clear errors otherwise."""

from __future__ import annotations

import asyncio
import sys

import pytest

from mephisto_core import event_loop
from mephisto_core.errors import ConfigError
from mephisto_core.settings import Settings

uvloop = pytest.importorskip("uvloop", reason="uvloop is a dependency on Linux and macOS")


async def running_loop_name() -> str:
    return event_loop.loop_name(asyncio.get_running_loop())


def test_auto_and_uvloop_run_on_uvloop_and_asyncio_on_asyncios_own() -> None:
    assert event_loop.run(running_loop_name(), "auto") == "uvloop"
    assert event_loop.run(running_loop_name(), "uvloop") == "uvloop"
    assert event_loop.run(running_loop_name(), "asyncio") == "asyncio"


def test_without_uvloop_auto_falls_back_and_uvloop_refuses_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # `import uvloop` raises ImportError
    assert event_loop.run(running_loop_name(), "auto") == "asyncio"
    with pytest.raises(ConfigError, match=r"MEPHISTO_EVENT_LOOP=uvloop but uvloop is not installed: `pip install"):
        event_loop.run(running_loop_name(), "uvloop")


def test_an_unknown_choice_names_the_variable_and_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"MEPHISTO_EVENT_LOOP='trio' is not an event loop: choose one of auto, "):
        event_loop.run(running_loop_name(), "trio")


def test_the_setting_reads_the_environment_and_refuses_other_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEPHISTO_EVENT_LOOP", "asyncio")
    assert Settings().event_loop == "asyncio"
    monkeypatch.setenv("MEPHISTO_EVENT_LOOP", "gevent")
    with pytest.raises(ValueError, match="event_loop"):
        Settings()
