"""What every benchmark's JSON line records besides its numbers: the code under test and the machine's state."""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class MephistoMissing(RuntimeError):
    """The `mephisto` console script is not installed."""


def mephisto_command() -> list[str]:
    """The installed console script next to this interpreter, else the one on PATH."""
    beside = Path(sys.executable).parent / "mephisto"
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("mephisto")
    if found is None:
        raise MephistoMissing("the `mephisto` console script is not installed: pip install -e .")
    return [found]


def loadavg_1m() -> float:
    """The 1-minute load average now (other work on the machine competes for the same cores)."""
    return round(os.getloadavg()[0], 2)


def code_version() -> dict[str, Any]:
    """The commit of the tree under test, and whether src/ or plugins/ had changes not in it."""

    def git(*command: str) -> str | None:
        try:
            done = subprocess.run(["git", *command], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    dirty = git("status", "--porcelain", "--", "src", "plugins")
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted_changes": None if dirty is None else bool(dirty),
    }


def server_info(mephisto: str) -> dict[str, Any]:
    """Which server a run measures: the `mephisto` script, its version, and the commit of its source tree.

    The source is found through the script's own interpreter (its `#!` line), so another virtualenv's install
    (`load_e2e.py --mephisto PATH`) is named by its own commit, not this tree's.
    """
    path = Path(mephisto).resolve() if Path(mephisto).exists() else Path(mephisto)
    info: dict[str, Any] = {"mephisto": str(path), "version": None, "source": None, "commit": None}
    info["uncommitted_changes"] = None
    try:
        first = path.read_bytes().split(b"\n", 1)[0]
        python = first[2:].decode().strip() if first.startswith(b"#!") else sys.executable
        found = subprocess.run(
            [
                python,
                "-c",
                "import mephisto_core, importlib.metadata as m; print(mephisto_core.__file__); "
                "print(m.version('mephisto-core'))",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, UnicodeDecodeError, subprocess.TimeoutExpired):
        return info
    lines = found.stdout.split()
    if found.returncode != 0 or len(lines) < 2:
        return info
    source = Path(lines[0]).parent
    info["source"], info["version"] = str(source), lines[1]

    def git(*command: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *command], cwd=source, capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    info["commit"] = git("rev-parse", "--short", "HEAD")
    top = git("rev-parse", "--show-toplevel")
    if info["commit"] is not None and top is not None:
        dirty = git("status", "--porcelain", "--", str(Path(top) / "src"), str(Path(top) / "plugins"))
        info["uncommitted_changes"] = None if dirty is None else bool(dirty)
    return info


def machine_info(loadavg_before: float) -> dict[str, Any]:
    """nproc, Python, platform, CPU model and the load average taken before the run."""
    return {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "loadavg_1m_before": loadavg_before,
        # Without its bytecode cache every Python start-up compiles the sources again (nox -s bench keeps it).
        "bytecode_cache": not os.environ.get("PYTHONDONTWRITEBYTECODE"),
    }


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """`--rounds` and `--server NAME=PATH` (repeatable): other installs timed beside this checkout's, alternated."""
    parser.add_argument("--rounds", type=int, default=1, help="rounds, each server once per round (default 1)")
    parser.add_argument(
        "--server",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="also time the `mephisto` at PATH under NAME (repeatable); this checkout's is named 'this'",
    )


def servers_to_time(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, list[str]]:
    """The `mephisto` command of each server named by `add_server_options`, this checkout's first as 'this'."""
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    servers: dict[str, list[str]] = {}
    for item in args.server:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            parser.error(f"--server {item!r}: give NAME=PATH")
        if not Path(path).is_file():
            parser.error(f"--server {item!r}: {path} is not a file")
        if name in servers or name == "this":
            parser.error(f"--server {item!r}: the name {name!r} is taken")
        servers[name] = [path]
    return {"this": mephisto_command(), **servers}


def alternated(servers: dict[str, list[str]], round_number: int) -> list[str]:
    """The servers' names in this round's order: as given in even rounds, reversed in odd ones."""
    return list(servers) if round_number % 2 == 0 else list(reversed(servers))
