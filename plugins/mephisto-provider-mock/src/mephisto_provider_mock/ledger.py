"""The mock provider's ledger: one JSON line per review action, so tests can see the provider was asked.

The provider writes it through the core's NoPlatformProvider; this module says where it is and reads it back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mephisto_core.abstractions import ActionLedger

LEDGER_DIR = "mock"
LEDGER_NAME = "ledger.jsonl"


def ledger_path(data_dir: Path) -> Path:
    """Where the ledger of the mock provider lives under a data dir."""
    return Path(data_dir) / LEDGER_DIR / LEDGER_NAME


def read_ledger(data_dir: Path) -> list[dict[str, Any]]:
    """Every entry of the ledger under `data_dir`, oldest first (an empty list when nothing was recorded)."""
    return ActionLedger(ledger_path(data_dir), "mock").read()
