"""A hand-edited roster nested thousands deep, or with a 5000-digit number, is a clear error from the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mephisto_core.operations.providers import provider_data_dir
from mephisto_core.settings import Settings


@pytest.mark.parametrize(
    ("content", "words"),
    [("version = " + "[" * 5000 + "]" * 5000, "nested too deeply"), ("version = " + "9" * 5000, "not valid TOML")],
    ids=["deep", "huge-integer"],
)
def test_mephisto_inhouse_list_names_an_unreadable_roster(
    mephisto_settings: Settings, content: str, words: str
) -> None:
    roster = provider_data_dir(mephisto_settings, "inhouse") / "roster.toml"
    roster.parent.mkdir(parents=True, exist_ok=True)
    roster.write_text(content, encoding="utf-8")
    script = Path(sys.executable).parent / "mephisto"
    result = subprocess.run(
        [str(script), "inhouse", "list"], capture_output=True, text=True, timeout=60, env=dict(os.environ), check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output, output
    assert str(roster) in output and words in output, output
