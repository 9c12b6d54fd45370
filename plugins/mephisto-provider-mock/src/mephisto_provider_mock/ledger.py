"""The mock provider's ledger: one JSON line per review action, so tests can see the provider was asked."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

from mephisto_core.errors import ProviderError

LEDGER_DIR = "mock"
LEDGER_NAME = "ledger.jsonl"

# Review actions may run in several worker threads of the operator; one lock keeps lines whole.
_append_lock = threading.Lock()


def ledger_path(data_dir: Path) -> Path:
    """Where the ledger of the mock provider lives under a data dir."""
    return Path(data_dir) / LEDGER_DIR / LEDGER_NAME


def append_entry(
    data_dir: Path,
    action: str,
    *,
    worker_name: str,
    worker_id: int | None = None,
    unit_id: int | None = None,
    agent_id: int | None = None,
    amount: Decimal | None = None,
    feedback: str | None = None,
    reason: str | None = None,
    requester_name: str | None = None,
) -> dict[str, Any]:
    """Append one action to the ledger and fsync it before returning; return the entry written."""
    entry: dict[str, Any] = {
        "action": action,
        "worker_name": worker_name,
        "worker_id": worker_id,
        "unit_id": unit_id,
        "agent_id": agent_id,
        # A string keeps the exact decimal (0.10 must not become 0.1000000000000000055).
        "amount": None if amount is None else str(amount),
        "feedback": feedback,
        "reason": reason,
        "requester_name": requester_name,
        "timestamp": dt.datetime.now(dt.UTC).isoformat(),
    }
    path = ledger_path(data_dir)
    line = json.dumps(entry, ensure_ascii=False) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _append_lock, path.open("a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise ProviderError(f"the mock provider could not record {action!r} in {path}: {exc}") from exc
    return entry


def read_ledger(data_dir: Path) -> list[dict[str, Any]]:
    """Every entry of the ledger under `data_dir`, oldest first (an empty list when nothing was recorded)."""
    path = ledger_path(data_dir)
    if not path.exists():
        return []
    entries: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ProviderError(f"{path}:{number}: not a JSON line ({exc.msg})") from exc
    return entries
