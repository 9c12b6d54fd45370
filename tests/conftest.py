"""Shared set-up for the core's tests; the fixtures come from `mephisto_core.testing.pytest_plugin`."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import settings

from mephisto_core.operations import recorded_calls

# Property tests check behaviour, never speed: a slow CI machine must not fail them with DeadlineExceeded.
settings.register_profile("mephisto", deadline=None, print_blob=True)
settings.load_profile("mephisto")


def pytest_configure(config: pytest.Config) -> None:
    # The fixtures arrive through mephisto-core's pytest11 entry point; an install made before that entry
    # point existed lacks it, and every test would then fail with "fixture not found".
    if not config.pluginmanager.has_plugin("mephisto"):
        raise pytest.UsageError(
            "the mephisto pytest plugin is not loaded: reinstall mephisto-core (pip install -e '.[test]') "
            "so that its pytest11 entry point is registered"
        )


@pytest.fixture
def calls_answered_together(monkeypatch: pytest.MonkeyPatch) -> None:
    """`recorded_calls.call_all` looks for finished calls only once the quick calls of a test are all done, so they
    are recorded together: as when a bulk's earlier answers were being recorded while these came in."""
    wait = recorded_calls.wait

    def late_wait(futures: Any, return_when: str) -> Any:
        time.sleep(0.3)
        return wait(futures, return_when=return_when)

    monkeypatch.setattr(recorded_calls, "wait", late_wait)
