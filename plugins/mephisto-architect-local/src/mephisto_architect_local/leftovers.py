"""What a local launch can leave behind, for `mephisto cleanup`: router processes and their records.

A router child records itself in its run's folder (`runs/<id>/router.json`: pid, start time, URL; the other routers
of a run with `router_processes` > 1 in `router-1.json`, `router-2.json`, ...) once it is ready, and the record is
deleted when the architect stops it. A record still there after its run's launch is gone
means the launch died without stopping its router (kill -9, power cut): if that process still runs (the router
normally notices its parent's death through its stdin and exits, unless it was stopped or hangs), it holds a port
and is killed; if not, the stale record is deleted. A pid is trusted only while the process's start time matches
the record, so a pid the system reused for another program is never signalled.

A run folder whose run the database no longer has (a failed launch deletes its run, then the folder; a crash in
between leaves the folder) is stale too: it is listed with its size and deleted.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import time
from pathlib import Path
from typing import Any, ClassVar, Literal

from mephisto_core.abstractions import CleanupScope, Leftover, LeftoverCleaner
from mephisto_core.errors import MephistoError

ROUTER_RECORD = "router.json"
KILL_WAIT_S = 5.0


def router_record_name(index: int) -> str:
    """The record's file name of the run's router `index` (0 for a run with one router)."""
    return ROUTER_RECORD if index == 0 else f"router-{index}.json"


def record_router(run_folder: Path, pid: int, url: str, index: int = 0) -> None:
    """Write the run folder's record of its router `index` (private, like the rest of the run folder)."""
    record = {"pid": pid, "started": process_start(pid), "url": url}
    path = run_folder / router_record_name(index)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(record, out)


def forget_router(run_folder: Path, pid: int, index: int = 0) -> None:
    """Delete the record of router `pid` (a record of a newer router of the run is left alone)."""
    path = run_folder / router_record_name(index)
    record = _read(path)
    if record is not None and record.get("pid") == pid:
        path.unlink(missing_ok=True)


def _router_records(folder: Path) -> list[Path]:
    """The router records in a run folder: router.json, router-1.json, ..."""
    return sorted(path for path in folder.glob("router*.json") if re.fullmatch(r"router(-\d+)?\.json", path.name))


def process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux /proc), None when it is gone or unknown.

    Zombies count as gone: they hold no port and only wait for their parent to reap them.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # the name in parentheses may hold spaces
    if fields[0] == "Z":
        return None
    return fields[19]  # field 22 of stat: starttime


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _same_router(record: dict[str, Any]) -> bool:
    pid = record.get("pid")
    return (
        isinstance(pid, int)
        and pid > 0
        and record.get("started") is not None
        and process_start(pid) == record["started"]
    )


class LocalArchitectCleaner(LeftoverCleaner):
    """Router processes (and stale router records) of local runs whose launch is gone."""

    kind: ClassVar[Literal["provider", "architect"]] = "architect"
    type_name: ClassVar[str] = "local"

    def find(self, scope: CleanupScope) -> list[Leftover]:
        """A leftover per run folder holding a router record whose run no process serves."""
        found: list[Leftover] = []
        if not scope.runs_dir.is_dir():
            return found
        for folder in sorted(scope.runs_dir.iterdir(), key=lambda p: p.name):
            if not folder.name.isdigit() or not folder.is_dir():
                continue
            run_id = int(folder.name)
            if not scope.covers(run_id) or scope.is_run_live(run_id):
                continue
            if not _run_exists(run_id):
                what = f"folder of run {run_id}, which the database no longer has ({folder})"
                cost = f"{_size(folder) / 1e6:.1f} MB of disk"
                found.append(Leftover(self.kind, self.type_name, what, cost, run_id, f"folder:{folder}"))
                continue
            for path in _router_records(folder):
                record = _read(path) or {}
                if _same_router(record):
                    url = record.get("url", "?")
                    what = f"router process {record['pid']} serving {url} for run {run_id}, whose launch is gone"
                    cost = f"a running process and its port ({url})"
                else:
                    what = f"record of run {run_id}'s router (pid {record.get('pid', '?')}), which no longer runs"
                    cost = f"nothing (a stale file in the run's folder: {path.name})"
                found.append(Leftover(self.kind, self.type_name, what, cost, run_id, str(path)))
        return found

    def remove(self, scope: CleanupScope, leftover: Leftover) -> str:
        """Kill the router's process group (TERM, then KILL after 5 s) if it still runs, then delete the record."""
        if leftover.run_id is not None and scope.is_run_live(leftover.run_id):
            raise MephistoError(f"run {leftover.run_id} is served by a running launch again; it was left alone")
        if leftover.handle.startswith("folder:"):
            folder = Path(leftover.handle.removeprefix("folder:"))
            if leftover.run_id is not None and _run_exists(leftover.run_id):
                raise MephistoError(f"run {leftover.run_id} is in the database again; its folder was left alone")
            shutil.rmtree(folder)
            return f"deleted {folder}"
        path = Path(leftover.handle)
        record = _read(path) or {}
        if not _same_router(record):
            path.unlink(missing_ok=True)
            return f"deleted the stale router record of run {leftover.run_id}"
        pid = int(record["pid"])
        _stop_group(pid, record["started"])
        path.unlink(missing_ok=True)
        return f"stopped router process {pid} of run {leftover.run_id}"


def _run_exists(run_id: int) -> bool:
    from mephisto_core.data_model import TaskRun

    return bool(TaskRun.select().where(TaskRun.id == run_id).exists())


def _size(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):  # a file removed while we count
                total += (Path(root) / name).lstat().st_size
    return total


def _stop_group(pid: int, started: str) -> None:
    # The router runs in its own session, so its process group id is its pid. SIGCONT lets a stopped one see TERM.
    for sig in (signal.SIGTERM, signal.SIGCONT):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
    deadline = time.monotonic() + KILL_WAIT_S
    while time.monotonic() < deadline:
        if process_start(pid) != started:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + KILL_WAIT_S
    while process_start(pid) == started:
        if time.monotonic() > deadline:
            raise MephistoError(f"router process {pid} is still running after SIGKILL")
        time.sleep(0.05)
