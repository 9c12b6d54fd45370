"""NoPlatformProvider: the review actions every provider without a platform shares, written to its ledger."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest

from mephisto_core.abstractions import ActionLedger, NoPlatformProvider, WorkerIdentity
from mephisto_core.data_model import Worker
from mephisto_core.errors import ProviderError
from mephisto_core.testing import HeldUnit


class LabProvider(NoPlatformProvider):
    """What a third party writes for its own lab: who the worker is, and nothing about review actions."""

    type_name: ClassVar[str] = "lab"

    def identify_worker(self, params: Mapping[str, str]) -> WorkerIdentity:
        return WorkerIdentity(params.get("who"))


class BadgeLabProvider(LabProvider):
    """Adds what it knows about a worker to every entry, and keeps the ledger in a folder of its own."""

    ledger_file: ClassVar[str] = "actions/ledger.jsonl"
    ledger_owner: ClassVar[str | None] = "badge lab"

    def ledger_worker_fields(self, worker: Worker) -> dict[str, Any]:
        return {"badge": f"B-{worker.name}"}


@pytest.fixture
def held(make_held_unit: Callable[..., HeldUnit]) -> HeldUnit:
    return make_held_unit(provider_type="lab", requester_name="LAB")


def _provider(cls: type[LabProvider], tmp_path: Path) -> LabProvider:
    return cls(cls.Args(), "LAB", {}, tmp_path / "providers" / "lab")


def test_a_subclass_gets_every_review_action_but_money_written_to_its_ledger(tmp_path: Path, held: HeldUnit) -> None:
    worker, unit, agent = held
    provider = _provider(LabProvider, tmp_path)
    provider.approve_work(agent, "good")
    provider.reject_work(agent, "empty")
    provider.soft_reject_work(agent, "off topic")
    provider.bonus_worker(worker, Decimal("0.10"), "extra", unit)
    provider.block_worker(worker, "spam")
    provider.unblock_worker(worker)

    lines = (tmp_path / "providers" / "lab" / "ledger.jsonl").read_text(encoding="utf-8").splitlines()
    entries = [json.loads(line) for line in lines]
    assert entries == provider.ledger().read()
    # Each entry carries only its action's fields, between the worker and the requester.
    assert [list(e)[3:-2] for e in entries] == [
        ["unit_id", "agent_id", "feedback"],
        ["unit_id", "agent_id", "feedback"],
        ["unit_id", "agent_id", "feedback"],
        ["reason"],
        [],
    ]
    assert {tuple(list(e)[:3]) + tuple(list(e)[-2:]) for e in entries} == {
        ("action", "worker_name", "worker_id", "requester_name", "timestamp")
    }
    # The bonus is money: the core's payments ledger (database) records it, not this file.
    assert [e["action"] for e in entries] == ["approve", "reject", "soft_reject", "block", "unblock"]
    assert (entries[0]["unit_id"], entries[0]["agent_id"], entries[0]["worker_id"]) == (unit.id, agent.id, worker.id)
    assert {e["requester_name"] for e in entries} == {"LAB"}


def test_no_platform_means_no_fee_and_nothing_published(tmp_path: Path) -> None:
    provider = _provider(LabProvider, tmp_path)
    assert provider.fee(Decimal("3.00")) == Decimal("0")
    assert LabProvider.publishes_units is False


def test_listing_every_field_writes_nulls_for_the_fields_an_action_lacks(tmp_path: Path, held: HeldUnit) -> None:
    class EveryFieldProvider(LabProvider):
        ledger_lists_every_field: ClassVar[bool] = True

    provider = _provider(EveryFieldProvider, tmp_path)
    provider.unblock_worker(held.worker)
    (entry,) = provider.ledger().read()
    assert list(entry) == [
        "action", "worker_name", "worker_id", "unit_id", "agent_id", "amount", "feedback", "reason",
        "requester_name", "timestamp",
    ]  # fmt: skip
    assert (entry["unit_id"], entry["amount"], entry["reason"]) == (None, None, None)


def test_worker_fields_and_ledger_place_are_the_subclass_choice(tmp_path: Path, held: HeldUnit) -> None:
    provider = _provider(BadgeLabProvider, tmp_path)
    provider.block_worker(held.worker, "spam")
    assert provider.ledger_path() == tmp_path / "providers" / "lab" / "actions" / "ledger.jsonl"
    (entry,) = ActionLedger(provider.ledger_path(), "x").read()
    assert list(entry)[:4] == ["action", "worker_name", "worker_id", "badge"]
    assert entry["badge"] == "B-alice"


@pytest.mark.parametrize("amount", ["0", "-0.01"])
def test_a_bonus_of_nothing_is_refused_and_not_written(tmp_path: Path, held: HeldUnit, amount: str) -> None:
    provider = _provider(LabProvider, tmp_path)
    with pytest.raises(ProviderError, match=f"a bonus must be more than 0, got {amount} for worker 'alice'"):
        provider.bonus_worker(held.worker, Decimal(amount), "none", None)
    assert provider.ledger().read() == []


def test_a_ledger_that_cannot_be_written_names_the_provider_and_the_file(tmp_path: Path, held: HeldUnit) -> None:
    provider = _provider(BadgeLabProvider, tmp_path)
    provider.ledger_path().mkdir(parents=True)  # a folder where the file should be: every append fails
    with pytest.raises(ProviderError, match=r"the badge lab provider could not record 'approve' in .*ledger\.jsonl"):
        provider.approve_work(held.agent, "good")


def test_an_unknown_field_is_a_programming_error_caught_before_writing(tmp_path: Path, held: HeldUnit) -> None:
    provider = _provider(LabProvider, tmp_path)
    with pytest.raises(ValueError, match=r"unknown ledger fields \['colour'\]"):
        provider.record_review_action("note", held.worker, colour="red")
    assert provider.ledger().read() == []


def test_record_review_action_is_the_one_writer_a_subclass_replaces(tmp_path: Path, held: HeldUnit) -> None:
    recorded: list[tuple[str, str, dict[str, Any]]] = []

    class ElsewhereProvider(LabProvider):
        def record_review_action(self, action: str, worker: Worker, **fields: Any) -> dict[str, Any]:
            recorded.append((action, worker.name, fields))
            return {}

    provider = _provider(ElsewhereProvider, tmp_path)
    provider.approve_work(held.agent, "good")
    provider.bonus_worker(held.worker, Decimal("1"), "thanks", None)
    provider.block_worker(held.worker, "spam")
    assert [(a, w) for a, w, _ in recorded] == [("approve", "alice"), ("block", "alice")]  # a bonus is money
    assert not provider.ledger_path().exists()
