"""Helpers for the plugin tests: `mephisto` as a real process, and building and installing real wheels."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mephisto_core.testing.processes import run_mephisto

#: Run the `mephisto` CLI in a fresh interpreter (which reads entry points anew): the core's shared helper.
mephisto = run_mephisto


def pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", *args, "--disable-pip-version-check", "--no-input", "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def build_wheel(source: Path, out_dir: Path) -> Path:
    """Build `source` (a folder with a pyproject.toml) into a wheel in `out_dir` with this environment's
    setuptools (no download), and return the wheel's path."""
    built = pip("wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(out_dir), str(source))
    assert built.returncode == 0, f"building {source} failed:\n{built.stdout}\n{built.stderr}"
    (wheel,) = out_dir.glob("*.whl")
    return wheel


def install_into(wheel: Path, target: Path) -> Path:
    """Install `wheel` into the folder `target` (not the environment): put it on PYTHONPATH to use it, so
    tests running at once never see each other's plugins."""
    installed = pip("install", "--no-deps", "--target", str(target), str(wheel))
    assert installed.returncode == 0, f"installing {wheel} failed:\n{installed.stdout}\n{installed.stderr}"
    return target


def env_with_path(target: Path, **extra: str) -> dict[str, str]:
    """This process's environment with `target` first on PYTHONPATH (and `extra` variables)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(target), env.get("PYTHONPATH", "")] if p)
    env["COLUMNS"] = "250"
    env.update(extra)
    return env
