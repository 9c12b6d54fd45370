"""The react template: `mephisto init` makes it without a build, `check` says to build it, and its mephisto-task
package is the one the blueprint serves."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path


def _client_files() -> dict[str, str]:
    folder = resources.files("mephisto_blueprint_bundle").joinpath("client", "mephisto-task")
    return {entry.name: entry.read_text(encoding="utf-8") for entry in folder.iterdir() if entry.is_file()}


def test_init_react_copies_the_client_package_and_no_build(
    mephisto_init: Callable[..., Path], mephisto_cli_env: dict[str, str]
) -> None:
    task_file = mephisto_init("react", folder="react-task")
    task_dir = task_file.parent
    assert not (task_dir / "dist").exists()
    assert not (task_dir / "node_modules").exists()
    copied = {path.name: path.read_text(encoding="utf-8") for path in (task_dir / "mephisto-task").iterdir()}
    client = _client_files()
    assert set(client) >= {"package.json", "index.mjs", "index.d.ts", "react.mjs", "react.d.ts"}
    assert copied == client  # the template's copy is the plugin's, byte for byte

    checked = subprocess.run(
        [sys.executable, "-m", "mephisto_core.cli", "check", str(task_file)],
        env=mephisto_cli_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = checked.stdout + checked.stderr
    assert checked.returncode != 0
    assert "bundle_dir" in output and "npm install && npm run build" in output


def _exported(text: str) -> set[str]:
    return set(re.findall(r"^export (?:async )?function (\w+)", text, re.MULTILINE))


def test_the_type_declarations_match_the_modules() -> None:
    client = _client_files()
    assert _exported(client["index.mjs"]) == _exported(client["index.d.ts"])
    assert _exported(client["react.mjs"]) == _exported(client["react.d.ts"]) == {"useMephistoTask"}
    # Every key the hook returns is declared on MephistoTask, and nothing else is.
    returned = re.search(r"return \{\n    \.\.\.info,\n(.*?)\n  \};", client["react.mjs"], re.DOTALL)
    assert returned is not None
    keys = set(re.findall(r"^    (\w+)", returned.group(1), re.MULTILINE))
    loading = re.search(r"const LOADING = \{\n(.*?)\n\};", client["react.mjs"], re.DOTALL)
    assert loading is not None
    keys |= set(re.findall(r"^  (\w+):", loading.group(1), re.MULTILINE))
    interface = re.search(r"interface MephistoTask<.*?> \{\n(.*?)\n\}", client["react.d.ts"], re.DOTALL)
    assert interface is not None
    declared = set(re.findall(r"^  (\w+)[(:<]", interface.group(1), re.MULTILINE))
    assert keys == declared
