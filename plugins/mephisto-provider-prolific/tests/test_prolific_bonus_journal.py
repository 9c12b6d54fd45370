"""The bonus record on disk (`bonuses.jsonl`): appended to, read by every process, a torn line survived."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import pytest
from mephisto_provider_prolific.bonus_journal import BonusJournal, BonusRecord
from mephisto_provider_prolific.state import StateStore


def _record(bulk: str, **flags: bool) -> BonusRecord:
    return BonusRecord(bulk_id=bulk, submission_id="s" * 24, study_id="a" * 24, bonuses_before=0, **flags)


def test_each_step_is_one_line_appended_and_the_latest_line_of_a_key_wins(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.save_bonus("k1", _record("b1"))
    store.save_bonus("k1", _record("b1", pay_asked=True))
    store.save_bonus("k2", _record("b2"))
    store.save_bonus("k1", _record("b1", pay_asked=True, paid=True))
    lines = (tmp_path / "bonuses.jsonl").read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["k1", "k1", "k2", "k1"]
    assert stat.S_IMODE((tmp_path / "bonuses.jsonl").stat().st_mode) == 0o600  # it names participants
    again = StateStore(tmp_path)  # another process, reading the file afresh
    first = again.bonus("k1")
    assert first is not None and first.paid and first.pay_asked
    assert again.bonus("k2") == _record("b2") and again.bonus("k3") is None


def test_a_reader_sees_what_another_process_appended_since_it_last_looked(tmp_path: Path) -> None:
    review_app, terminal = StateStore(tmp_path), StateStore(tmp_path)
    assert review_app.bonus("k") is None
    terminal.save_bonus("k", _record("b", pay_asked=True))
    seen = review_app.bonus("k")
    assert seen is not None and seen.pay_asked and not seen.paid
    terminal.save_bonus("k", _record("b", pay_asked=True, paid=True))
    seen = review_app.bonus("k")
    assert seen is not None and seen.paid


def test_the_records_of_an_earlier_version_are_read_and_never_written_again(tmp_path: Path) -> None:
    legacy = {
        "old": _record("b0", pay_asked=True, paid=True).model_dump(mode="json"),
        "half": _record("b1").model_dump(),
    }
    (tmp_path / "bonuses.json").write_text(json.dumps(legacy))
    store = StateStore(tmp_path)
    old = store.bonus("old")
    assert old is not None and old.paid
    store.save_bonus("half", _record("b1", pay_asked=True))
    assert json.loads((tmp_path / "bonuses.json").read_text()) == legacy
    half = StateStore(tmp_path).bonus("half")
    assert half is not None and half.pay_asked  # the journal's line wins over the old file


def test_a_line_torn_by_a_crash_is_skipped_and_the_next_save_starts_a_line_of_its_own(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = StateStore(tmp_path)
    store.save_bonus("k1", _record("b1"))
    with (tmp_path / "bonuses.jsonl").open("a") as journal:
        journal.write('{"key": "k1", "record": {"bulk_id": "b1", "pay_ask')  # the crash
    reader = BonusJournal(tmp_path)
    assert reader.get("k1") == _record("b1")  # the torn step did not happen
    store.save_bonus("k2", _record("b2"))
    with caplog.at_level(logging.WARNING):
        fresh = StateStore(tmp_path)
        assert fresh.bonus("k1") == _record("b1") and fresh.bonus("k2") == _record("b2")
    assert "line 2 is torn" in caplog.text
    assert reader.get("k2") == _record("b2")  # the reader that saw the torn tail reads on past it


def test_an_unreadable_old_record_is_a_clear_error(tmp_path: Path) -> None:
    from mephisto_core.errors import ProviderError

    (tmp_path / "bonuses.json").write_text("{not json")
    with pytest.raises(ProviderError, match=r"bonuses\.json cannot be read"):
        StateStore(tmp_path).bonus("k")
