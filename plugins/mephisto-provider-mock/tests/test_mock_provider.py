"""The mock provider: who a link names, the links it prints, and the ledger of review actions."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from mephisto_provider_mock import ledger_path, read_ledger
from mephisto_provider_mock.provider import MockProvider

from mephisto_core import plugins
from mephisto_core.abstractions import WorkerIdentity
from mephisto_core.data_model import Agent, Unit, Worker
from mephisto_core.errors import ProviderError


def test_worker_id_param_names_the_worker(provider: MockProvider) -> None:
    assert provider.identify_worker({"worker_id": "alice"}) == WorkerIdentity(worker_name="alice")


def test_link_without_worker_id_is_a_preview(provider: MockProvider) -> None:
    identity = provider.identify_worker({"other": "x"})
    assert identity.worker_name is None
    assert identity.refusal is None


@pytest.mark.parametrize(
    ("worker_id", "words"),
    [
        ("", "empty worker_id"),
        ("   ", "empty worker_id"),
        ("a" * 129, "129 characters"),
        ("bob\nsmith", "control characters"),
        ("tab\there", "control characters"),
        ("nul\x00", "control characters"),
    ],
)
def test_invalid_worker_id_is_refused_with_a_reason(provider: MockProvider, worker_id: str, words: str) -> None:
    identity = provider.identify_worker({"worker_id": worker_id})
    assert identity.worker_name is None
    assert identity.refusal is not None
    assert words in identity.refusal


def test_longest_allowed_and_unicode_worker_ids_are_accepted(provider: MockProvider) -> None:
    assert provider.identify_worker({"worker_id": "a" * 128}).worker_name == "a" * 128
    assert provider.identify_worker({"worker_id": "Zoë 王"}).worker_name == "Zoë 王"
    # Not printable, yet no control character: a no-break space, a zero-width joiner.
    for name in ("ana\u00a0maria", "emoji\u200djoined"):
        assert provider.identify_worker({"worker_id": name}).worker_name == name


def test_worker_link_quotes_the_name(provider: MockProvider) -> None:
    base = "http://127.0.0.1:3000/"
    assert provider.worker_link(base, "alice") == "http://127.0.0.1:3000/?worker_id=alice"
    assert provider.worker_link(base, "a b&c=d/é") == "http://127.0.0.1:3000/?worker_id=a%20b%26c%3Dd%2F%C3%A9"
    assert provider.worker_link(base) == "http://127.0.0.1:3000/?worker_id=YOUR_NAME"


def test_worker_link_round_trips_through_identify_worker(provider: MockProvider) -> None:
    from urllib.parse import parse_qs, urlsplit

    link = provider.worker_link("http://h:1/", "weird &name=+%")
    params = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
    assert provider.identify_worker(params).worker_name == "weird &name=+%"


def test_credentials_must_be_empty() -> None:
    assert MockProvider.validate_credentials({}) == {}
    with pytest.raises(ProviderError, match="takes no credentials, but got: api_key"):
        MockProvider.validate_credentials({"api_key": "x"})


def test_defaults_describe_a_sandbox_with_the_mock_requester() -> None:
    assert MockProvider.is_sandbox is True
    assert MockProvider.default_requester_name == "MOCK_REQUESTER"
    assert MockProvider.Args().requester_name == "MOCK_REQUESTER"
    assert MockProvider.RequesterArgs.model_fields == {}


def test_nothing_is_published_per_unit_and_fee_is_zero(provider: MockProvider) -> None:
    assert MockProvider.publishes_units is False
    assert provider.fee(Decimal("12.50")) == Decimal("0")


def test_every_review_action_but_money_writes_one_ledger_line(
    provider: MockProvider, worked_unit: tuple[Worker, Unit, Agent]
) -> None:
    worker, unit, agent = worked_unit
    provider.approve_work(agent, "great")
    provider.reject_work(agent, "empty answer")
    provider.soft_reject_work(agent, "meh")
    provider.bonus_worker(worker, Decimal("0.10"), "extra effort", unit)
    provider.block_worker(worker, "spam")
    provider.unblock_worker(worker)
    provider.expire_units([unit])

    entries = read_ledger(provider.data_dir)
    # The bonus is money: the core's payments ledger (database) records it, not this file.
    assert [e["action"] for e in entries] == ["approve", "reject", "soft_reject", "block", "unblock"]
    assert {e["worker_name"] for e in entries} == {"alice"}
    approve, reject, _, block, unblock = entries
    assert (approve["unit_id"], approve["agent_id"], approve["feedback"]) == (unit.id, agent.id, "great")
    assert reject["feedback"] == "empty answer"
    assert block["reason"] == "spam"
    assert unblock["unit_id"] is None
    assert all(e["timestamp"] and e["requester_name"] == "MOCK_REQUESTER" for e in entries)
    assert ledger_path(provider.data_dir) == Path(provider.data_dir) / "mock" / "ledger.jsonl"


def test_bonus_without_unit_and_non_positive_bonus(
    provider: MockProvider, worked_unit: tuple[Worker, Unit, Agent]
) -> None:
    provider.bonus_worker(worked_unit[0], Decimal("1"), "thanks", None)
    assert provider.pay_bonus(worked_unit[0], Decimal("1"), "thanks", None, "bonus:k") == "mock:bonus:k"
    with pytest.raises(ProviderError, match="more than 0"):
        provider.bonus_worker(worked_unit[0], Decimal("0"), "nothing", None)
    assert read_ledger(provider.data_dir) == []  # money lives in the payments ledger (database)


def test_ledger_is_empty_before_any_action(tmp_path: Path) -> None:
    assert read_ledger(tmp_path) == []


def test_corrupt_ledger_line_is_reported_with_its_line(
    provider: MockProvider, worked_unit: tuple[Worker, Unit, Agent]
) -> None:
    provider.block_worker(worked_unit[0], "x")
    with ledger_path(provider.data_dir).open("a") as fh:
        fh.write("{not json\n")
    with pytest.raises(ProviderError, match=r"ledger.jsonl:2: not a JSON line"):
        read_ledger(provider.data_dir)


def test_installed_plugin_registers_the_mock_type() -> None:
    plugins.reset()
    try:
        assert plugins.get_registry().get("provider", "mock") is MockProvider
    finally:
        plugins.reset()


def test_ledger_entries_keep_the_mock_format_every_field_listed_in_order(
    provider: MockProvider, worked_unit: tuple[Worker, Unit, Agent]
) -> None:
    worker, _, agent = worked_unit
    provider.approve_work(agent, "great")
    provider.unblock_worker(worker)
    every_field = [
        "action", "worker_name", "worker_id", "unit_id", "agent_id", "amount", "feedback", "reason",
        "requester_name", "timestamp",
    ]  # fmt: skip
    approve, unblock = read_ledger(provider.data_dir)
    assert list(approve) == list(unblock) == every_field
    assert (unblock["agent_id"], unblock["amount"], unblock["feedback"], unblock["reason"]) == (None,) * 4
