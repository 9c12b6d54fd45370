"""The mephisto-core wheel the instance installs: the one the task names, or one built from this installation."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from mephisto_core.errors import ConfigError, MephistoError

#: `pip wheel` of the core builds in a few seconds; far longer means pip is stuck (an index it cannot reach).
BUILD_TIMEOUT_S = 300


def core_source_dir() -> Path:
    """The folder of the installed mephisto-core's source (an editable or local-folder install), or MephistoError."""
    dist = metadata.distribution("mephisto-core")
    direct_url = dist.read_text("direct_url.json")
    url = json.loads(direct_url).get("url", "") if direct_url else ""
    if url.startswith("file://"):
        folder = Path(url[len("file://") :])
        if (folder / "pyproject.toml").is_file():
            return folder
    raise MephistoError(
        "mephisto-core was installed from an index, not from a source folder, so no wheel can be built from it; "
        "download one (pip download --no-deps mephisto-core) and name it in architect.wheel_path"
    )


def given_wheel(path: Path) -> Path:
    """Check that `path` is a mephisto-core wheel file; ConfigError otherwise."""
    if not path.is_file():
        raise ConfigError(f"the wheel {path} does not exist", key="architect.wheel_path")
    if not (path.name.startswith("mephisto_core-") and path.name.endswith(".whl")):
        raise ConfigError(f"{path.name} is not a mephisto-core wheel (mephisto_core-*.whl)", key="architect.wheel_path")
    return path


def build_core_wheel(out_dir: Path) -> Path:
    """Build mephisto-core from its installed source into `out_dir` (pip wheel --no-deps); return the wheel."""
    source = core_source_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out_dir), str(source)]
    if importlib.util.find_spec("setuptools") is not None:
        # The core's build backend is here already: build offline, without fetching setuptools again.
        command.insert(5, "--no-build-isolation")
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise MephistoError(f"building the mephisto-core wheel from {source} took over {BUILD_TIMEOUT_S} s") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise MephistoError(f"building the mephisto-core wheel from {source} failed: " + " / ".join(tail))
    wheels = sorted(out_dir.glob("mephisto_core-*.whl"), key=lambda p: p.stat().st_mtime)
    if not wheels:
        raise MephistoError(f"pip wheel of {source} made no mephisto_core-*.whl in {out_dir}")
    return wheels[-1]
