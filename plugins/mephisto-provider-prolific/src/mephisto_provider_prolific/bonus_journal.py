"""The record of every bonus paid at Prolific, by idempotency key: `bonuses.jsonl`, appended to, never rewritten.

Each step of a bonus (set up, pay asked, paid, reason sent) is saved before the next call to Prolific, so a retry
after a crash knows how far it got. A lab's record grows with every bonus it ever paid, and the whole-file JSON it
replaces (`bonuses.json`, rewritten and fsynced at each step) cost 0.26 s per bonus at 10,000 past bonuses, under
one lock. Here a step is one appended line (`{"key": ..., "record": {...}}`, fsynced), the latest line of a key
wins, and a reader keeps the records in memory and reads only the lines appended since it last looked, by any
process. A `bonuses.json` left by an earlier version is read first, never written again.

A crash while a line is written leaves it torn: the step it saved was not complete, so nothing after it was asked
of Prolific, and the record as it stood before stands. The next append starts on a line of its own, and a reader
skips a torn line with a warning.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from mephisto_core.abstractions import append_line, read_new_lines
from mephisto_core.errors import ProviderError

log = logging.getLogger(__name__)

#: the file an earlier version kept every bonus record in (one JSON object, rewritten at each change)
LEGACY_NAME = "bonuses.json"
JOURNAL_NAME = "bonuses.jsonl"
#: how long after paying was asked a bulk bonus may still show no payment at Prolific (it pays in the background)
PAYMENT_SETTLES_SECONDS = 15 * 60


class BonusRecord(BaseModel):
    """One bonus by idempotency key: the bulk bonus made at Prolific and whether paying it was asked / done."""

    model_config = ConfigDict(extra="ignore")

    def ask_to_pay(self) -> None:
        """Paying is being asked now."""
        self.pay_asked, self.pay_asked_at = True, time.time()

    def pay_refused(self) -> None:
        """Prolific answered the payment with a refusal (HTTP 4xx): nothing was paid."""
        self.pay_asked, self.pay_asked_at = False, None

    def settling(self, now: float) -> bool:
        """Whether a payment asked whose answer was lost may still be on its way: Prolific pays a bulk bonus in the
        background, "in the following minutes", so until PAYMENT_SETTLES_SECONDS have passed a submission showing
        no new bonus does not mean it was not paid."""
        asked_at = self.pay_asked_at
        return self.pay_asked and not self.paid and asked_at is not None and now - asked_at < PAYMENT_SETTLES_SECONDS

    bulk_id: str
    submission_id: str
    study_id: str = ""
    bonuses_before: int = Field(description="bonus payments the submission had before this one was paid")
    pay_asked: bool = False
    #: when paying was last asked (seconds since the epoch; None in records of earlier versions)
    pay_asked_at: float | None = None
    paid: bool = False
    reason_sent: bool = Field(default=False, description="the bonus's reason reached the participant as a message")


class BonusJournal:
    """The bonus records of one provider data folder (see the module docstring). Thread-safe."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / JOURNAL_NAME
        self._legacy = Path(data_dir) / LEGACY_NAME
        self._lock = threading.Lock()
        self._records: dict[str, BonusRecord] | None = None
        self._offset = 0  # bytes of the journal read into _records
        self._line = 0  # lines read, for error messages

    def get(self, key: str) -> BonusRecord | None:
        """The latest record saved under `key` by any process, or None."""
        with self._lock:
            return self._catch_up().get(key)

    def of_bulk(self, bulk_id: str) -> dict[str, BonusRecord]:
        """The latest records of one bulk bonus, by key (copies: saving them is how a change is kept)."""
        with self._lock:
            records = self._catch_up()
            return {key: record.model_copy() for key, record in records.items() if record.bulk_id == bulk_id}

    def save(self, key: str, record: BonusRecord) -> None:
        """Append the record's new state under `key`, on disk (fsynced) before this returns."""
        self.save_all({key: record})

    def save_all(self, records: Mapping[str, BonusRecord]) -> None:
        """`save` for several keys in one append (a line each, one fsync): the steps of a bulk bonus."""
        if not records:
            return
        lines = "\n".join(
            json.dumps({"key": key, "record": record.model_dump(mode="json")}, sort_keys=True)
            for key, record in records.items()
        )
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            append_line(self.path, lines, durable=True)
            self._catch_up()

    def _catch_up(self) -> dict[str, BonusRecord]:
        """The records, with the journal's lines appended since the last look read in (lock held)."""
        if self._records is None:
            self._records = self._read_legacy()
        try:
            lines, self._offset = read_new_lines(self.path, self._offset)
        except OSError as exc:
            raise ProviderError(f"the Prolific provider's bonus record {self.path} cannot be read: {exc}") from None
        for raw in lines:
            self._line += 1
            try:
                entry = json.loads(raw)
                self._records[str(entry["key"])] = BonusRecord.model_validate(entry["record"])
            except (ValueError, KeyError, TypeError) as exc:
                log.warning(
                    "%s line %d is torn (a crash while it was written); skipped: %s", self.path, self._line, exc
                )
        return self._records

    def _read_legacy(self) -> dict[str, BonusRecord]:
        try:
            data = json.loads(self._legacy.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ProviderError(f"the Prolific provider's record {self._legacy} cannot be read: {exc}") from None
        return {str(key): BonusRecord.model_validate(entry) for key, entry in data.items()}
