"""A provider's append-only record file: one JSON line per change, read by every process from where it left off.

Appending never rewrites what is there, so the cost of a change does not grow with the record, and several
processes (a run, the review app, a CLI command) can append to one file: each write is one `write` on an
O_APPEND descriptor. A crash while a line is written leaves it torn; the next append starts a line of its own, and
readers take only complete lines, so a line still being written is read on the next look.
"""

from __future__ import annotations

import os
from pathlib import Path


def append_line(path: Path, line: str, *, durable: bool) -> None:
    """Append `line` (or several lines joined by newlines, none at the end) to `path`, made 0600 when new.
    `durable`: fsynced before this returns."""
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        size = os.fstat(fd).st_size
        text = line + "\n"
        if size and os.pread(fd, 1, size - 1) != b"\n":
            text = "\n" + text  # after a line a crash cut short: start a line of our own
        os.write(fd, text.encode())
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)


def read_new_lines(path: Path, offset: int) -> tuple[list[bytes], int]:
    """The complete lines of `path` after byte `offset`, and the offset after them (a missing file has none).

    Raises OSError when the file exists but cannot be read."""
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            appended = fh.read()
    except FileNotFoundError:
        return [], offset
    complete = appended[: appended.rfind(b"\n") + 1]
    return [line for line in complete.splitlines() if line.strip()], offset + len(complete)
