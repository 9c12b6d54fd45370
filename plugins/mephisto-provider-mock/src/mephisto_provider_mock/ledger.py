"""The mock provider's ledger: one JSON line per review action, so tests can see the provider was asked."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from mephisto_core.abstractions.ledger import ActionLedger

LEDGER_DIR = "mock"
LEDGER_NAME = "ledger.jsonl"


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
    # amount as a string keeps the exact decimal (0.10 must not become 0.1000000000000000055).
    return ActionLedger(ledger_path(data_dir), "mock").append(
        action,
        worker_name=worker_name,
        worker_id=worker_id,
        unit_id=unit_id,
        agent_id=agent_id,
        amount=None if amount is None else str(amount),
        feedback=feedback,
        reason=reason,
        requester_name=requester_name,
    )


def read_ledger(data_dir: Path) -> list[dict[str, Any]]:
    """Every entry of the ledger under `data_dir`, oldest first (an empty list when nothing was recorded)."""
    return ActionLedger(ledger_path(data_dir), "mock").read()
