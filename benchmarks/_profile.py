"""Optional sampling profile of the launch process with py-spy (`pip install py-spy`), and its top entries.

py-spy attaches to the running process by id (no change to how it is started, so the measured numbers stay
comparable) and writes collapsed stacks ("frame;frame;frame count" per line) when the process exits.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

_FRAME_NOISE = re.compile(r" \(([^)]*/)?(site-packages|lib/python3\.\d+)/")


class ProfilerMissing(RuntimeError):
    """py-spy is not installed."""


def start_pyspy(pid: int, output: Path, *, rate: int = 200, gil_only: bool = False) -> subprocess.Popen[bytes]:
    """Start `py-spy record` on `pid`, writing collapsed stacks to `output` when `pid` exits."""
    pyspy = shutil.which("py-spy")
    if pyspy is None:
        raise ProfilerMissing("--profile needs py-spy: pip install py-spy")
    command = [
        pyspy,
        "record",
        "--pid",
        str(pid),
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--output",
        str(output),
        "--threads",
        "--nonblocking",
    ]  # nonblocking: never pause the operator, so its numbers hold
    if gil_only:
        command.append("--gil")  # only samples where the thread holds the GIL: where CPU time goes
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def top_entries(collapsed: Path, limit: int = 25) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]]:
    """Total samples, the top frames by self samples and the top frames by inclusive samples."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_short(frame) for frame in stack.split(";")]
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    return total, own.most_common(limit), inclusive.most_common(limit)


def _short(frame: str) -> str:
    # "func (/usr/lib/python3.11/site-packages/pkg/mod.py:12)" -> "func (pkg/mod.py:12)"
    return _FRAME_NOISE.sub(" (", frame)


def format_top(collapsed: Path, limit: int = 25) -> str:
    """A plain-text table of `top_entries`, percentages of all samples."""
    total, own, inclusive = top_entries(collapsed, limit)
    if total == 0:
        return f"{collapsed}: no samples"
    lines = [f"{collapsed}: {total} samples", "", "self %   frame"]
    lines += [f"{100 * n / total:6.1f}  {frame}" for frame, n in own]
    lines += ["", "total %  frame"]
    lines += [f"{100 * n / total:6.1f}  {frame}" for frame, n in inclusive]
    return "\n".join(lines)
