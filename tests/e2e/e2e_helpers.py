"""Running `mephisto` as a real process in whole-flow tests: the core's shared helpers (mephisto_core.testing)."""

from __future__ import annotations

from mephisto_core.testing.processes import WORKER_LINK as LINK
from mephisto_core.testing.processes import LaunchProcess
from mephisto_core.testing.processes import run_mephisto as mephisto

__all__ = ["LINK", "LaunchProcess", "mephisto"]
