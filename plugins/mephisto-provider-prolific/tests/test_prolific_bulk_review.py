"""Bulk approvals and bonuses at Prolific (`approve_work_many`, `pay_bonus_many`) against the fake: a few calls
for many submissions, the one-by-one way for what the bulk cannot do, approvals Prolific shows only a moment later,
and nothing paid twice when asked again. The real httpx client, real SQLite rows, the provider's own files."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from mephisto_provider_prolific import bonus_journal, bulk_review, review
from mephisto_provider_prolific.provider import ProlificProvider
from mephisto_provider_prolific.testing import FakeProlific
from prolific_provider_helpers import fake, submitted_agents

from mephisto_core.abstractions import BonusOrder
from mephisto_core.data_model import Agent, Database
from mephisto_core.errors import ProviderError

__all__ = ["fake"]  # the fixture, imported for pytest


@pytest.fixture
def data_dir(mephisto_settings: object) -> Path:
    return Path(mephisto_settings.data_dir)  # type: ignore[attr-defined]


def _status(fake: FakeProlific, agent: Agent) -> str:
    return str(fake.submission(str(agent.provider_agent_id))["status"])


def _calls(fake: FakeProlific, method: str, pattern: str) -> int:
    return len(fake.requests_to(method, pattern))


def _orders(agents: list[Agent], amount: str = "0.75", reason: str = "great work", key: str = "k") -> list[BonusOrder]:
    return [
        BonusOrder(agent.worker, Decimal(amount), reason, agent.unit, f"{key}-{index}")
        for index, agent in enumerate(agents)
    ]


def test_a_bulk_approval_is_one_call_confirmed_by_one_listing(
    fake: FakeProlific, mephisto_rows_database: Database, data_dir: Path
) -> None:
    provider, agents = submitted_agents(fake, mephisto_rows_database, data_dir, 12)

    assert provider.approve_work_many(agents, "thanks") == [None] * 12

    assert {_status(fake, agent) for agent in agents} == {"APPROVED"}
    assert _calls(fake, "POST", "submissions/bulk-approve/") == 1
    assert _calls(fake, "POST", "submissions/*/transition/") == 0
    assert _calls(fake, "GET", "studies/*/submissions/") == 1
    # Asked again after a crash: approved already counts as done.
    assert provider.approve_work_many(agents, "thanks") == [None] * 12


def test_submissions_the_bulk_cannot_approve_go_one_by_one(
    fake: FakeProlific, mephisto_rows_database: Database, data_dir: Path
) -> None:
    provider, asked = submitted_agents(fake, mephisto_rows_database, data_dir, 7, never_back=1)
    agents = asked[:6]
    provider.reject_work(agents[5], "The answers were copied from another submission word for word. " * 2)
    provider.approve_work(agents[0], "thanks")  # approved before: a retry after a crash asks again
    assert _status(fake, asked[6]) == "ACTIVE"  # the page closed before the participant went back

    answers = provider.approve_work_many(asked, "thanks")

    assert answers[:5] == [None] * 5 and answers[6] is None
    assert isinstance(answers[5], ProviderError) and "it is REJECTED, not AWAITING REVIEW" in str(answers[5])
    assert [_status(fake, agent) for agent in asked] == ["APPROVED"] * 5 + ["REJECTED", "APPROVED"]
    # Refused as a whole (two not awaiting review), then once more with the 4 that were (the approved one is
    # done); one by one, the ACTIVE one is tried, completed, then approved, and the rejected one tried, which
    # says why.
    assert _calls(fake, "POST", "submissions/bulk-approve/") == 2
    assert fake.requests_to("POST", "submissions/bulk-approve/")[-1].body == {
        "submission_ids": sorted(str(agent.provider_agent_id) for agent in agents[1:5])
    }
    assert _calls(fake, "POST", "submissions/*/transition/") == 2 + 3 + 1  # the two above, then the two


def test_a_submission_prolific_does_not_know_is_refused_alone_and_the_others_approved_in_bulk(
    fake: FakeProlific, mephisto_rows_database: Database, data_dir: Path
) -> None:
    provider, agents = submitted_agents(fake, mephisto_rows_database, data_dir, 4)
    agents[2].provider_agent_id = "sim0123456789abcdef"  # a simulated worker's session, typed into a link

    answers = provider.approve_work_many(agents, "thanks")

    assert answers[:2] == [None, None] and answers[3] is None
    assert isinstance(answers[2], ProviderError) and "HTTP 404" in str(answers[2])
    assert {_status(fake, agents[index]) for index in (0, 1, 3)} == {"APPROVED"}
    assert _calls(fake, "POST", "submissions/bulk-approve/") == 2


def test_an_agent_with_no_submission_is_refused_alone(
    fake: FakeProlific, mephisto_rows_database: Database, data_dir: Path
) -> None:
    provider, agents = submitted_agents(fake, mephisto_rows_database, data_dir, 3)
    agents[1].provider_agent_id = None
    answers = provider.approve_work_many(agents, "thanks")
    assert answers[0] is None and answers[2] is None
    assert isinstance(answers[1], ProviderError) and "has no Prolific submission id" in str(answers[1])


def test_approvals_prolific_shows_a_moment_later_are_waited_for(
    fake: FakeProlific, mephisto_rows_database: Database, data_dir: Path
) -> None:
    provider, agents = submitted_agents(fake, mephisto_rows_database, data_dir, 8)
    fake.approve_in_background(reads=3)  # "bulk approve in progress": the listing shows them at the third read

    assert provider.approve_work_many(agents, "thanks") == [None] * 8

    assert {_status(fake, agent) for agent in agents} == {"APPROVED"}
    assert _calls(fake, "GET", "studies/*/submissions/") == 3
    assert _calls(fake, "POST", "submissions/*/transition/") == 0


def test_approvals_not_shown_in_time_are_approved_one_by_one(
    fake: FakeProlific, mephisto_rows_database: Database, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider, agents = submitted_agents(fake, mephisto_rows_database, data_dir, 4)
    monkeypatch.setattr(bulk_review, "APPROVAL_WAIT_SECONDS", 0.3)
    fake.approve_in_background(reads=1000)

    assert provider.approve_work_many(agents, "thanks") == [None] * 4

    assert {_status(fake, agent) for agent in agents} == {"APPROVED"}
    assert _calls(fake, "POST", "submissions/*/transition/") == 4


def test_a_bulk_approval_prolific_cannot_take_refuses_them_all(
    fake: FakeProlific, mephisto_rows_database: Database, data_dir: Path
) -> None:
    provider, agents = submitted_agents(fake, mephisto_rows_database, data_dir, 3)
    fake.fail_next("POST", "submissions/bulk-approve/", status=403, retry_after=None)
    with pytest.raises(ProviderError):
        provider.approve_work_many(agents, "thanks")
    assert {_status(fake, agent) for agent in agents} == {"AWAITING REVIEW"}


def test_a_bulk_bonus_is_one_bulk_bonus_one_payment_and_one_message_per_study(
    fake: FakeProlific, mephisto_rows_database: Database, data_dir: Path
) -> None:
    provider, agents = submitted_agents(fake, mephisto_rows_database, data_dir, 10)

    references = provider.pay_bonus_many(_orders(agents))

    bulk_ids = {bonus["id"] for bonus in _bulk_bonuses(fake)}
    assert len(bulk_ids) == 1 and references == [bulk_ids.pop()] * 10
    assert [fake.submission(str(a.provider_agent_id))["bonus_payments"] for a in agents] == [[75]] * 10
    assert _calls(fake, "POST", "submissions/bonus-payments/") == 1
    assert _calls(fake, "POST", "bulk-bonus-payments/*/pay/") == 1
    assert _calls(fake, "POST", "messages/bulk/") == 1 and _calls(fake, "POST", "messages/") == 0
    assert sorted(m["recipient_id"] for m in fake.messages()) == sorted(str(a.worker.name) for a in agents)
    assert {m["body"] for m in fake.messages()} == {"Bonus of 0.75: great work"}
    assert all(_record(provider, f"k-{i}").reason_sent for i in range(10))

    # Asked again (a second press, a retry after a crash): each key's record says it is done.
    assert provider.pay_bonus_many(_orders(agents)) == references
    assert len(fake.bonuses_paid()) == 10 and len(fake.messages()) == 10


def test_a_bulk_bonus_whose_payment_answer_was_lost_is_not_paid_again(
    monkeypatch: pytest.MonkeyPatch, mephisto_rows_database: Database, data_dir: Path
) -> None:
    with FakeProlific(pay_twice=True) as fake:  # as Prolific documents: paying a bulk bonus twice pays twice
        monkeypatch.setenv("MEPHISTO_PROLIFIC_API_URL", fake.base_url)
        provider, agents = submitted_agents(fake, mephisto_rows_database, data_dir, 4)
        first = provider.pay_bonus_many(_orders(agents))
        # The pay call went through but its answer was lost: each record says "asked", not "paid".
        for index in range(4):
            record = _record(provider, f"k-{index}")
            record.paid = False
            provider.store.save_bonus(f"k-{index}", record)

        assert provider.pay_bonus_many(_orders(agents)) == first
        assert len(fake.bonuses_paid()) == 4


def test_a_bulk_bonus_whose_reasons_could_not_be_sent_sends_them_only_when_asked_again(
    fake: FakeProlific, mephisto_rows_database: Database, data_dir: Path
) -> None:
    provider, agents = submitted_agents(fake, mephisto_rows_database, data_dir, 3)
    fake.fail_next("POST", "messages/bulk/", status=400)

    answers = provider.pay_bonus_many(_orders(agents))

    assert all(isinstance(a, ProviderError) and "Asking again sends the message only" in str(a) for a in answers)
    assert len(fake.bonuses_paid()) == 3 and fake.messages() == []
    provider.pay_bonus_many(_orders(agents))
    assert len(fake.bonuses_paid()) == 3
    assert [m["body"] for m in fake.messages()] == ["Bonus of 0.75: great work"] * 3


def test_a_second_bonus_on_one_submission_and_a_worker_without_one_in_the_same_bulk(
    fake: FakeProlific, mephisto_rows_database: Database, data_dir: Path
) -> None:
    provider, agents = submitted_agents(fake, mephisto_rows_database, data_dir, 3)
    orders = _orders(agents)
    twice = BonusOrder(agents[0].worker, Decimal("0.10"), "", agents[0].unit, "again-0")
    stranger = BonusOrder(agents[1].worker, Decimal("0.10"), "", agents[2].unit, "stranger")

    answers = provider.pay_bonus_many([*orders, twice, stranger])

    assert all(isinstance(a, str) for a in answers[:4])
    assert isinstance(answers[4], ProviderError) and "has no Prolific submission on this unit" in str(answers[4])
    assert fake.submission(str(agents[0].provider_agent_id))["bonus_payments"] == [75, 10]
    assert _calls(fake, "POST", "submissions/bonus-payments/") == 2  # the bulk, then the second one alone


def _record(provider: ProlificProvider, key: str):  # type: ignore[no-untyped-def]
    record = provider.store.bonus(key)
    assert record is not None
    return record


def _bulk_bonuses(fake: FakeProlific) -> list[dict[str, object]]:
    with fake.store.lock:
        return [bonus.to_json() for bonus in fake.store.bonuses.values()]


def test_a_payment_whose_answer_was_lost_is_not_asked_again_while_prolific_may_still_pay_it(
    mephisto_rows_database: Database, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeProlific(pay_twice=True) as fake:  # as Prolific documents: paying a bulk bonus twice pays twice
        monkeypatch.setenv("MEPHISTO_PROLIFIC_API_URL", fake.base_url)
        provider, agents = submitted_agents(fake, mephisto_rows_database, data_dir, 3)
        orders = _orders(agents)
        fake.fail_next("POST", "bulk-bonus-payments/*/pay/", drop=True)  # no answer: paid or not, nobody knows
        assert all(isinstance(a, ProviderError) for a in provider.pay_bonus_many(orders))

        # Prolific pays in the background: a submission showing no bonus yet proves nothing for a while.
        again = provider.pay_bonus_many(orders)
        assert all(isinstance(a, ProviderError) and "Ask again after" in str(a) for a in again)
        with pytest.raises(ProviderError, match="pays in the background"):
            provider.pay_bonus(agents[0].worker, Decimal("0.75"), "great work", agents[0].unit, "k-0")
        assert fake.bonuses_paid() == []

        # The minutes have passed, still no bonus: the three keys of the one bulk bonus, retried at once, pay it
        # once (each key paying it would pay all three participants three times).
        monkeypatch.setattr(bonus_journal, "PAYMENT_SETTLES_SECONDS", 0)
        assert all(isinstance(a, str) for a in provider.pay_bonus_many(orders))
        assert sorted(p["participant_id"] for p in fake.bonuses_paid()) == sorted(str(a.worker.name) for a in agents)
        assert provider.pay_bonus_many(orders) == provider.pay_bonus_many(orders)
        assert len(fake.bonuses_paid()) == 3


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk", "one"])
def test_a_payment_prolific_refused_may_be_asked_again_at_once(
    fake: FakeProlific, mephisto_rows_database: Database, data_dir: Path, bulk: bool
) -> None:
    provider, agents = submitted_agents(fake, mephisto_rows_database, data_dir, 2)
    orders = _orders(agents if bulk else agents[:1])

    def pay() -> list[str | Exception | None]:
        if bulk:
            return provider.pay_bonus_many(orders)
        try:
            order = orders[0]
            return [provider.pay_bonus(order.worker, order.amount, order.reason, order.unit, order.idempotency_key)]
        except ProviderError as exc:
            return [exc]

    fake.fail_next("POST", "bulk-bonus-payments/*/pay/", status=400)  # a refusal: nothing paid
    assert all(isinstance(a, ProviderError) and "HTTP 400" in str(a) for a in pay())
    assert all(isinstance(a, str) for a in pay())
    assert len(fake.bonuses_paid()) == len(orders)


def test_blocks_find_the_block_list_once_and_many_go_in_one_call(
    fake: FakeProlific, mephisto_rows_database: Database, data_dir: Path
) -> None:
    provider, agents = submitted_agents(fake, mephisto_rows_database, data_dir, 6)
    workers = [agent.worker for agent in agents]
    listings_before = _calls(fake, "GET", "participant-groups/")

    for worker in workers[:3]:
        provider.block_worker(worker, "spam")
    assert provider.block_worker_many(workers[3:], "spam") == [None] * 3

    [group] = [g for g in fake.participant_groups() if g["name"] == "Mephisto block list"]
    assert sorted(fake.group_members(group["id"])) == sorted(str(w.name) for w in workers)
    assert _calls(fake, "GET", "participant-groups/") - listings_before <= 1  # found once, kept
    assert _calls(fake, "POST", "participant-groups/*/participants/") == 3 + 1
    assert provider.unblock_worker_many(workers[:4]) == [None] * 4
    assert sorted(fake.group_members(group["id"])) == sorted(str(w.name) for w in workers[4:])


def test_a_block_list_deleted_at_prolific_meanwhile_is_made_again(
    fake: FakeProlific, mephisto_rows_database: Database, data_dir: Path
) -> None:
    provider, agents = submitted_agents(fake, mephisto_rows_database, data_dir, 2)
    provider.block_worker(agents[0].worker, "spam")
    [old] = [g for g in fake.participant_groups() if g["name"] == "Mephisto block list"]
    provider.api.delete_group(old["id"])  # a researcher tidied up in Prolific's web app

    provider.block_worker(agents[1].worker, "spam")

    [new] = [g for g in fake.participant_groups() if g["name"] == "Mephisto block list"]
    assert new["id"] != old["id"] and fake.group_members(new["id"]) == [str(agents[1].worker.name)]


def test_a_bonus_a_call_still_under_way_is_paying_is_refused_until_it_ends(
    fake: FakeProlific, mephisto_rows_database: Database, data_dir: Path
) -> None:
    provider, agents = submitted_agents(fake, mephisto_rows_database, data_dir, 3)
    orders = _orders(agents)
    # An earlier call for k-1, given up on by the core's timeout, still runs in the background.
    assert review.UNDER_WAY.claim(["k-1"]) == {"k-1"}
    try:
        answers = provider.pay_bonus_many(orders)
        assert isinstance(answers[1], ProviderError) and "still under way" in str(answers[1])
        assert isinstance(answers[0], str) and isinstance(answers[2], str)
        with pytest.raises(ProviderError, match="ask again once it has ended"):
            provider.pay_bonus(agents[1].worker, Decimal("0.75"), "great work", agents[1].unit, "k-1")
    finally:
        review.UNDER_WAY.release(["k-1"])
    assert all(isinstance(a, str) for a in provider.pay_bonus_many(orders))
    assert len(fake.bonuses_paid()) == 3


def test_a_task_block_of_many_is_one_call_to_the_tasks_own_block_list(
    fake: FakeProlific, mephisto_rows_database: Database, data_dir: Path
) -> None:
    provider, agents = submitted_agents(fake, mephisto_rows_database, data_dir, 4)
    workers = [agent.worker for agent in agents]
    before = _calls(fake, "POST", "participant-groups/*/participants/")

    assert provider.block_worker_for_task_many(workers, "survey", "saw the pilot") == [None] * 4

    [group] = [g for g in fake.participant_groups() if g["name"] == "Mephisto block list: survey"]
    assert sorted(fake.group_members(group["id"])) == sorted(str(w.name) for w in workers)
    assert _calls(fake, "POST", "participant-groups/*/participants/") - before == 1
    assert provider.unblock_worker_for_task_many(workers[:3], "survey") == [None] * 3
    assert fake.group_members(group["id"]) == [str(workers[3].name)]
