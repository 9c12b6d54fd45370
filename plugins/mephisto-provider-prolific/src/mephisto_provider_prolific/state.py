"""What the provider remembers of each run at Prolific, in its data folder: one JSON file per run.

`<data dir>/providers/prolific/runs/<run id>.json` holds the run's studies (the current one last), its completion
code, the participant groups it made, and the publish keys: each unit published is one key, and the study's
number of places is derived from the keys (published and not withdrawn), so publishing the same key twice
changes nothing. Run files are replaced atomically (write, fsync, rename) and written 0600 (they name
participants). `bonuses.jsonl` beside them holds the bonus payments by idempotency key (bonus_journal.py).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mephisto_core.errors import ProviderError
from mephisto_provider_prolific.bonus_journal import BonusJournal, BonusRecord
from mephisto_provider_prolific.bonus_lock import bonus_folder_lock

_LOCKS: dict[Path, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


class RunState(BaseModel):
    """One run's record (see the module docstring)."""

    model_config = ConfigDict(extra="ignore")

    run_id: int
    workspace_id: str | None = None
    project_id: str | None = None
    studies: list[str] = Field(default_factory=list, description="the run's studies, the current one last")
    codes: dict[str, str] = Field(default_factory=dict, description="study id -> its completion code")
    stopped: list[str] = Field(default_factory=list, description="studies this provider stopped (or deleted)")
    allow_group_id: str | None = None
    requirements: list[dict[str, Any]] = Field(default_factory=list)
    block_group_id: str | None = None
    task_block_group_id: str | None = None
    #: publish key -> unit id: every unit published (places = len(keys) - len(withdrawn))
    keys: dict[str, int] = Field(default_factory=dict)
    withdrawn: list[str] = Field(default_factory=list)
    #: keys of earlier (stopped) studies of the run, kept so find_published still knows them
    retired: dict[str, int] = Field(default_factory=dict)
    finished: bool = False

    @property
    def study_id(self) -> str | None:
        """The study taking participants now (None before the first is made)."""
        return self.studies[-1] if self.studies else None

    def live_keys(self) -> list[str]:
        """Keys published and not withdrawn: one place each."""
        gone = set(self.withdrawn)
        return [key for key in self.keys if key not in gone]


def _lock_for(path: Path) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(path.resolve(), threading.Lock())


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ProviderError(f"the Prolific provider's record {path} cannot be read: {exc}") from None


def _write(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        # One line, through json's C encoder: `json.dump` and `indent` take the pure-Python one, 8.9 against 4.0 ms
        # on a run record of 10,000 publish keys, which is written at every publish and withdrawal.
        fh.write(json.dumps(data, sort_keys=True))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class StateStore:
    """The provider's files under its data folder; every change is read-modify-write under one lock per file."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.bonuses = BonusJournal(self.data_dir)
        #: held while bonuses are paid: by one process at a time (bonus_lock.py)
        self.bonus_lock = bonus_folder_lock(self.data_dir)

    def run_path(self, run_id: int) -> Path:
        return self.data_dir / "runs" / f"{run_id}.json"

    def load_run(self, run_id: int) -> RunState | None:
        """The run's record, or None when this data folder has none."""
        data = _read(self.run_path(run_id))
        return None if data is None else RunState.model_validate(data)

    @contextmanager
    def edit_run(self, run_id: int) -> Iterator[RunState]:
        """Change the run's record (created when missing); written when the block ends without an error."""
        path = self.run_path(run_id)
        with _lock_for(path):
            data = _read(path)
            state = RunState(run_id=run_id) if data is None else RunState.model_validate(data)
            yield state
            _write(path, state.model_dump(mode="json"))

    def all_runs(self) -> list[RunState]:
        """Every run this data folder has a record of, by run id."""
        folder = self.data_dir / "runs"
        if not folder.is_dir():
            return []
        found = []
        for path in sorted(folder.glob("*.json")):
            if path.stem.isdigit():
                data = _read(path)
                if data is not None:
                    found.append(RunState.model_validate(data))
        return sorted(found, key=lambda state: state.run_id)

    def bonus(self, key: str) -> BonusRecord | None:
        """The bonus record saved under `key` (bonus_journal.py), or None."""
        return self.bonuses.get(key)

    def save_bonus(self, key: str, record: BonusRecord) -> None:
        """Save the bonus record's new state under `key`, on disk before this returns."""
        self.bonuses.save(key, record)

    def bonuses_of_bulk(self, bulk_id: str) -> dict[str, BonusRecord]:
        """The bonus records of one bulk bonus, by key (bonus_journal.py)."""
        return self.bonuses.of_bulk(bulk_id)

    def save_bonuses(self, records: Mapping[str, BonusRecord]) -> None:
        """`save_bonus` for several keys, in one write to disk."""
        self.bonuses.save_all(records)
