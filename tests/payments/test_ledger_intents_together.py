"""The ledger writes a bulk's intents together: a few statements for all payouts instead of three each (each a
round trip to a database on another machine), with the same rows, checks and budget counting as one by one; and
one by one again when a key comes twice or another process wrote one meanwhile. SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from mephisto_core.data_model import Database
from mephisto_core.data_model.payments import Payment, PaymentKind
from mephisto_core.errors import MephistoError
from mephisto_core.operations import payments
from mephisto_core.operations.payments import PaymentLedger, PaymentRequest, Payout
from mephisto_core.testing.runs import SubmittedRun


@pytest.fixture
def submitted(make_submitted_run: Callable[..., SubmittedRun]) -> SubmittedRun:
    return make_submitted_run(6, provider_type="paytest", pay_amount=Decimal("0.50"))


def _request(run: SubmittedRun, index: int, amount: str = "0.25", key: str | None = None) -> PaymentRequest:
    unit = run.units[index]
    return PaymentRequest(
        kind=PaymentKind.BONUS,
        idempotency_key=key or f"bonus:unit-{unit.id}:k",
        requester_id=run.run.requester_id,
        worker_id=unit.worker_id,
        task_id=run.task.id,
        task_run_id=run.run.id,
        unit_id=unit.id,
        amount=Decimal(amount),
        fee=Decimal("0.05"),
        currency="USD",
        provider_type="paytest",
    )


class _Budget:
    """A `before_intent` that counts its checks and refuses the bonus of unit index `refused`."""

    def __init__(self, refused: int | None = None) -> None:
        self.checked: list[int] = []
        self.refused = refused

    def check(self, index: int) -> Callable[[], None]:
        def before_intent() -> None:
            self.checked.append(index)
            if index == self.refused:
                raise MephistoError(f"over budget: {index}")

        return before_intent


def _payouts(run: SubmittedRun, budget: _Budget, sent: list[str], count: int) -> list[Payout]:
    def call(key: str) -> str:
        sent.append(key)
        return f"ref-{key}"

    return [Payout(_request(run, i), call, before_intent=budget.check(i)) for i in range(count)]


def test_new_intents_are_written_in_a_few_statements_whatever_their_number(
    database: Database, submitted: SubmittedRun, caplog: pytest.LogCaptureFixture
) -> None:
    budget, sent = _Budget(refused=2), []
    ledger = PaymentLedger(database)
    statements_before_calls: list[int] = []
    payouts = _payouts(submitted, budget, sent, 6)
    first_call = payouts[0].call

    def counting_call(key: str) -> str | None:
        if not statements_before_calls:
            statements_before_calls.append(sum(1 for r in caplog.records if r.name == "peewee"))
        return first_call(key)

    payouts = [Payout(p.request, counting_call, p.before_intent) for p in payouts]
    with caplog.at_level(logging.DEBUG, logger="peewee"):
        outcomes = ledger.pay_all(payouts, at_once=1)
    assert isinstance(outcomes[2], MephistoError) and "over budget: 2" in str(outcomes[2])
    assert all(isinstance(o, Payment) and o.status == "paid" for i, o in enumerate(outcomes) if i != 2)
    assert budget.checked == [0, 1, 2, 3, 4, 5]  # each checked once, in order
    assert sorted(sent) == sorted(p.request.idempotency_key for i, p in enumerate(payouts) if i != 2)
    rows = list(Payment.select().order_by(Payment.id))
    assert [(r.unit_id, r.status, r.attempts) for r in rows] == [
        (submitted.units[i].id, "paid", 1) for i in (0, 1, 3, 4, 5)
    ]
    # The read, the INSERT and the read of what it wrote (and SQLite's BEGIN): not three per payout.
    assert statements_before_calls[0] <= 5, statements_before_calls


def test_known_keys_are_checked_retried_or_left_paid(database: Database, submitted: SubmittedRun) -> None:
    ledger = PaymentLedger(database)
    budget, sent = _Budget(), []
    first = ledger.pay_all(_payouts(submitted, budget, sent, 2))
    assert all(isinstance(o, Payment) for o in first)
    Payment.update(status="failed").where(Payment.unit == submitted.units[1].id).execute()
    budget.checked.clear()
    sent.clear()
    again = _payouts(submitted, budget, sent, 3)
    again[0] = Payout(_request(submitted, 0, amount="9.99"), again[0].call)  # the same key, another amount
    outcomes = ledger.pay_all(again)
    assert isinstance(outcomes[0], MephistoError)  # a key names one payment
    assert isinstance(outcomes[1], Payment) and outcomes[1].status == "paid"  # failed before: asked again
    assert isinstance(outcomes[2], Payment) and outcomes[2].status == "paid"  # new
    assert budget.checked == [2]  # only a new key's budget is checked
    assert sorted(sent) == sorted([again[1].request.idempotency_key, again[2].request.idempotency_key])
    attempts = {r.unit_id: r.attempts for r in Payment.select()}
    assert attempts == {submitted.units[0].id: 1, submitted.units[1].id: 2, submitted.units[2].id: 1}


def test_a_key_written_meanwhile_falls_back_to_one_by_one_and_counts_the_budget_once(
    database: Database, submitted: SubmittedRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = PaymentLedger(database)
    budget, sent = _Budget(), []
    ledger.pay_all(_payouts(submitted, budget, sent, 1))  # unit 0's bonus is in the ledger ...
    Payment.update(status="pending").execute()
    real_read = payments.payments_by_key
    reads: list[int] = []

    def read_before_the_other_process_wrote(keys: Any) -> dict[str, Payment]:
        reads.append(len(keys))
        return {} if len(reads) == 1 else real_read(keys)  # ... but the first read did not see it

    monkeypatch.setattr(payments, "payments_by_key", read_before_the_other_process_wrote)
    budget.checked.clear()
    sent.clear()
    outcomes = ledger.pay_all(_payouts(submitted, budget, sent, 3))
    assert all(isinstance(o, Payment) and o.status == "paid" for o in outcomes), outcomes
    assert budget.checked == [0, 1, 2]  # checked in the first pass, not again one by one
    assert Payment.select().count() == 3
    assert {r.unit_id: r.attempts for r in Payment.select()}[submitted.units[0].id] == 2


def test_a_key_twice_in_one_bulk_goes_one_by_one(database: Database, submitted: SubmittedRun) -> None:
    ledger = PaymentLedger(database)
    budget, sent = _Budget(), []
    payouts = _payouts(submitted, budget, sent, 1)
    outcomes = ledger.pay_all([payouts[0], payouts[0]], at_once=1)
    assert [isinstance(o, Payment) for o in outcomes] == [True, True]
    (row,) = Payment.select()
    assert row.status == "paid"
    assert budget.checked == [0]  # the second finds the first's row
