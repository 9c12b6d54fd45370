"""Shared set-up for the core's tests; the fixtures come from `mephisto_core.testing.pytest_plugin`."""

from __future__ import annotations

import pytest
from hypothesis import settings

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
