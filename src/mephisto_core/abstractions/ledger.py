"""A provider's local record of actions: one fsynced JSON line per action (approve, reject, block, ...).

For providers with no platform to tell (mock, in-house), the ledger is the record that the action happened; tests
and researchers read it back. Money (rewards, bonuses) is not written here but in the core's payments ledger in
the database (data_model/payments.py).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from pathlib import Path
from typing import Any

from mephisto_core.errors import ProviderError
from mephisto_core.file_modes import PRIVATE_FILE_MODE, make_private_dir

# Review actions may run on several threads; one lock keeps every line whole.
_append_lock = threading.Lock()


class ActionLedger:
    """The JSON-lines file at `path`, written by the provider called `owner` (named in errors)."""

    def __init__(self, path: Path, owner: str) -> None:
        self.path = Path(path)
        self.owner = owner

    def append(self, action: str, **fields: Any) -> dict[str, Any]:
        """Append `{"action": action, **fields, "timestamp": now}`, fsynced before returning; return the entry."""
        entry = {"action": action, **fields, "timestamp": dt.datetime.now(dt.UTC).isoformat()}
        line = json.dumps(entry, ensure_ascii=False, default=str) + "\n"  # str(): Decimal amounts stay exact
        try:
            make_private_dir(self.path.parent)
            # 0600, as the rest of the data dir: it names workers, their pay and the feedback they were given.
            append = os.O_WRONLY | os.O_APPEND | os.O_CREAT
            with _append_lock, os.fdopen(os.open(self.path, append, PRIVATE_FILE_MODE), "a", encoding="utf-8") as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise ProviderError(f"the {self.owner} provider could not record {action!r} in {self.path}: {exc}") from exc
        return json.loads(line)  # type: ignore[no-any-return]  # what was written, amounts as text

    def read(self) -> list[dict[str, Any]]:
        """Every entry, oldest first (empty when nothing was recorded)."""
        if not self.path.exists():
            return []
        entries: list[dict[str, Any]] = []
        with self.path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if line.strip():
                    try:
                        entries.append(json.loads(line))
                    except json.JSONDecodeError as exc:
                        raise ProviderError(f"{self.path}:{number}: not a JSON line ({exc.msg})") from exc
        return entries
