"""The in-house provider's ledger: with no platform to tell, each review action is one fsynced JSON line.

The provider writes it through the core's NoPlatformProvider; this module says where it is and reads it back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mephisto_core.abstractions import ActionLedger

LEDGER_NAME = "ledger.jsonl"


def ledger_path(data_dir: Path) -> Path:
    """Where the ledger of the in-house provider whose data dir is `data_dir` lives."""
    return Path(data_dir) / LEDGER_NAME


def read_ledger(data_dir: Path) -> list[dict[str, Any]]:
    """Every entry of the ledger under `data_dir`, oldest first."""
    return ActionLedger(ledger_path(data_dir), "in-house").read()
