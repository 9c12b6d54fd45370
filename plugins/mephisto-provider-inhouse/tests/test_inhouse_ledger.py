"""Review actions: with no platform, every approve, reject, bonus and block is one line of the provider's ledger."""

from __future__ import annotations

from decimal import Decimal

import pytest
from mephisto_provider_inhouse import ledger_path, read_ledger
from mephisto_provider_inhouse.provider import InhouseProvider
from mephisto_provider_inhouse.roster import edit_roster, new_worker, roster_path

from mephisto_core.data_model import Agent, Unit, Worker
from mephisto_core.errors import ProviderError
from mephisto_core.settings import Settings

WorkedUnit = tuple[Worker, Unit, Agent]


def test_every_review_action_but_money_writes_one_ledger_line(
    provider: InhouseProvider, worked_unit: WorkedUnit
) -> None:
    worker, unit, agent = worked_unit
    provider.approve_work(agent, "great")
    provider.reject_work(agent, "empty answer")
    provider.soft_reject_work(agent, "off topic")
    provider.bonus_worker(worker, Decimal("0.10"), "extra effort", unit)
    provider.block_worker(worker, "spam")
    provider.unblock_worker(worker)
    provider.expire_units([unit])  # nothing was published, so nothing is recorded

    entries = read_ledger(provider.data_dir)
    # The bonus is money: the core's payments ledger (database) records it, not this file.
    assert [e["action"] for e in entries] == ["approve", "reject", "soft_reject", "block", "unblock"]
    approve, reject, soft, block, unblock = entries
    assert (approve["unit_id"], approve["agent_id"], approve["feedback"]) == (unit.id, agent.id, "great")
    assert (reject["feedback"], soft["feedback"]) == ("empty answer", "off topic")
    assert block["reason"] == "spam"
    assert "unit_id" not in unblock
    for entry in entries:
        assert (entry["worker_name"], entry["worker_id"]) == ("alice", worker.id)
        assert entry["requester_name"] == "INHOUSE"
        assert entry["timestamp"].endswith("+00:00")


def test_ledger_is_in_the_providers_data_dir(provider: InhouseProvider, mephisto_settings: Settings) -> None:
    assert ledger_path(provider.data_dir) == mephisto_settings.data_dir / "providers" / "inhouse" / "ledger.jsonl"
    assert read_ledger(provider.data_dir) == []


def test_ledger_carries_the_email_the_researcher_gave(provider: InhouseProvider, worked_unit: WorkedUnit) -> None:
    with edit_roster(roster_path(provider.data_dir)) as workers:
        workers["alice"] = new_worker("alice", "alice@lab.example.org")
    provider.block_worker(worked_unit[0], "thanks")
    (entry,) = read_ledger(provider.data_dir)
    assert entry["email"] == "alice@lab.example.org"


@pytest.mark.parametrize("amount", ["0", "-1", "-0.01"])
def test_bonus_must_be_positive(provider: InhouseProvider, worked_unit: WorkedUnit, amount: str) -> None:
    with pytest.raises(ProviderError, match=f"a bonus must be more than 0, got {amount} for worker 'alice'"):
        provider.bonus_worker(worked_unit[0], Decimal(amount), "nothing", None)
    assert read_ledger(provider.data_dir) == []


def test_fee_is_zero(provider: InhouseProvider) -> None:
    assert provider.fee(Decimal("12.50")) == Decimal("0")


def test_corrupt_ledger_line_is_reported_with_its_line(provider: InhouseProvider, worked_unit: WorkedUnit) -> None:
    provider.block_worker(worked_unit[0], "x")
    with ledger_path(provider.data_dir).open("a") as fh:
        fh.write("{not json\n")
    with pytest.raises(ProviderError, match=r"ledger.jsonl:2: not a JSON line"):
        read_ledger(provider.data_dir)


def test_ledger_entries_carry_only_the_fields_of_their_action(
    provider: InhouseProvider, worked_unit: WorkedUnit
) -> None:
    worker, _unit, agent = worked_unit
    provider.approve_work(agent, "great")
    provider.block_worker(worker, "thanks")
    provider.unblock_worker(worker)
    approve, block, unblock = read_ledger(provider.data_dir)
    person = {"action", "worker_name", "worker_id", "email", "requester_name", "timestamp"}
    assert set(approve) == person | {"unit_id", "agent_id", "feedback"}
    assert set(block) == person | {"reason"}
    assert set(unblock) == person
    assert unblock["email"] is None  # alice is not on the roster: the key is there, empty
