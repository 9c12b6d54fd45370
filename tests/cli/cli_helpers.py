"""Helpers the CLI tests share: a valid task file for the test plugin's types, and failure checks."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from click.testing import Result

TASK_TOML = """\
[task]
name = "cli-demo"
title = "Label some sentences"
reward = 0.5
units_per_assignment = 2

[blueprint]
type = "clitest_csv"
data_csv = "data.csv"

[architect]
type = "clitest_arch"
port = 0

[provider]
type = "clitest_pay"
requester_name = "lab-account"
"""

DATA_CSV = "text\nfirst\nsecond\nthird\n"


def assert_clean_failure(result: Result, exit_code: int = 1) -> str:
    """The command failed with `exit_code` and a message, not a traceback; returns everything it printed."""
    assert result.exit_code == exit_code, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result.output


def mephisto_script() -> str:
    """The console script installed beside this interpreter (the one pip made for mephisto-core)."""
    beside = Path(sys.executable).parent / "mephisto"
    found = str(beside) if beside.is_file() else shutil.which("mephisto")
    assert found, "the `mephisto` console script is not installed: pip install -e ."
    return found


def run_mephisto(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [mephisto_script(), *map(str, args)], capture_output=True, text=True, timeout=60, cwd=cwd, check=False
    )
