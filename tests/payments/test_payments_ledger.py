"""The payments ledger through the review operations, on SQLite and PostgreSQL: one payment per key, exact
amounts with their fee and currency, failures recorded and retried with the same key, the budget cap on bonuses."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from paytest_plugin import platform_calls

from mephisto_core.data_model import Database, Review, TaskRun, Unit
from mephisto_core.data_model.payments import Payment
from mephisto_core.data_model.publishing import PublishIntent
from mephisto_core.errors import MephistoError, ProviderError
from mephisto_core.operations.budget import BudgetExceeded, committed_cost
from mephisto_core.operations.payments import list_payments
from mephisto_core.operations.providers import provider_for_run
from mephisto_core.operations.review.actions import ReviewActions
from mephisto_core.settings import Settings
from mephisto_core.testing.runs import SubmittedRun


def _paytest_dir(settings: Settings) -> Path:
    return settings.data_dir / "providers" / "paytest"


def _with_task_section(run: TaskRun, **task: object) -> None:
    config = dict(run.config)
    config["task"] = {**config["task"], **{k: str(v) for k, v in task.items()}}
    TaskRun.update(config=config).where(TaskRun.id == run.id).execute()


@pytest.fixture
def submitted(make_submitted_run: Callable[..., SubmittedRun]) -> SubmittedRun:
    return make_submitted_run(3, provider_type="paytest", pay_amount=Decimal("0.50"))


def test_a_bonus_pressed_twice_pays_once(
    database: Database, mephisto_settings: Settings, submitted: SubmittedRun
) -> None:
    actions = ReviewActions(database, mephisto_settings, reviewer="ana")
    unit = submitted.units[0]
    assert actions.bonus(unit.id, "1.25", "great detail", client_key="press-1") is True
    assert actions.bonus(unit.id, "1.25", "great detail", client_key="press-1") is False
    (payment,) = Payment.select()
    assert (payment.kind, payment.status, payment.amount, payment.fee, payment.currency) == (
        "bonus",
        "paid",
        Decimal("1.25"),
        Decimal("0.25"),
        "USD",
    )
    assert (payment.worker_id, payment.unit_id, payment.reviewer, payment.attempts) == (
        unit.worker_id,
        unit.id,
        "ana",
        1,
    )
    assert payment.provider_reference == "pay-1"
    assert platform_calls(_paytest_dir(mephisto_settings)) == [payment.idempotency_key]  # asked once only
    assert [(r.kind, r.amount) for r in Review.select()] == [("bonus", Decimal("1.25"))]


def test_a_bonus_without_client_key_is_the_same_bonus_for_the_same_amount_and_reason(
    database: Database, mephisto_settings: Settings, submitted: SubmittedRun
) -> None:
    actions = ReviewActions(database, mephisto_settings)
    unit = submitted.units[0]
    assert actions.bonus(unit.id, "0.50", "thanks") is True
    assert actions.bonus(unit.id, "0.50", "thanks") is False  # a script re-run after a crash
    assert actions.bonus(unit.id, "0.50", "thanks again") is True
    assert [p.reason for p in Payment.select().order_by(Payment.id)] == ["thanks", "thanks again"]


def test_a_key_reused_for_another_amount_is_refused(
    database: Database, mephisto_settings: Settings, submitted: SubmittedRun
) -> None:
    actions = ReviewActions(database, mephisto_settings)
    unit = submitted.units[0]
    actions.bonus(unit.id, "1.00", "a", client_key="k")
    with pytest.raises(MephistoError, match=r"payment key 'bonus:unit-\d+:k' was already used for a bonus of 1.00"):
        actions.bonus(unit.id, "2.00", "a", client_key="k")
    assert Payment.select().count() == 1


def test_approval_pays_the_reward_once_with_its_fee(
    database: Database, mephisto_settings: Settings, submitted: SubmittedRun
) -> None:
    actions = ReviewActions(database, mephisto_settings)
    first, second, third = submitted.units
    actions.approve(first.id, "good")
    actions.soft_reject(second.id, "off topic")
    actions.reject(third.id, "empty")
    rows = [(p.kind, p.unit_id, p.status, p.amount, p.fee) for p in Payment.select().order_by(Payment.id)]
    assert rows == [
        ("reward", first.id, "paid", Decimal("0.50"), Decimal("0.10")),
        ("reward", second.id, "paid", Decimal("0.50"), Decimal("0.10")),
    ]  # a rejection pays nothing
    with pytest.raises(MephistoError):
        actions.approve(first.id)  # already approved: refused before any payment
    assert Payment.select().count() == 2


def test_a_refused_bonus_is_recorded_failed_and_paid_on_retry_with_the_same_key(
    database: Database, mephisto_settings: Settings, submitted: SubmittedRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    actions = ReviewActions(database, mephisto_settings)
    unit = submitted.units[1]
    monkeypatch.setenv("PAYTEST_REFUSE", "1")
    with pytest.raises(ProviderError, match="insufficient funds at the platform"):
        actions.bonus(unit.id, "3", "extra", client_key="press")
    (payment,) = Payment.select()
    assert payment.status == "failed" and "insufficient funds" in payment.error
    assert Review.select().count() == 0
    monkeypatch.delenv("PAYTEST_REFUSE")
    assert actions.bonus(unit.id, "3", "extra", client_key="press") is True
    (payment,) = Payment.select()
    assert (payment.status, payment.error, payment.attempts) == ("paid", "", 2)
    assert platform_calls(_paytest_dir(mephisto_settings)) == [payment.idempotency_key] * 2
    assert Review.select().count() == 1


def test_amounts_keep_every_digit(database: Database, mephisto_settings: Settings, submitted: SubmittedRun) -> None:
    actions = ReviewActions(database, mephisto_settings)
    actions.bonus(submitted.units[0].id, "0.10", "ten cents", client_key="a")
    actions.bonus(submitted.units[0].id, "9999.99", "a lot", client_key="b")
    assert [(str(p.amount), str(p.fee)) for p in list_payments()] == [("0.10", "0.02"), ("9999.99", "2000.00")]


def test_a_bonus_that_would_pass_the_budget_is_refused_before_the_platform_is_asked(
    database: Database, mephisto_settings: Settings, submitted: SubmittedRun
) -> None:
    # Three submitted units of 0.50 + 20 % fee: 1.80 committed before any bonus.
    _with_task_section(submitted.run, max_budget="3.00", currency="EUR")
    actions = ReviewActions(database, mephisto_settings)
    provider = provider_for_run(mephisto_settings, submitted.run)
    assert committed_cost(submitted.task.id, provider) == Decimal("1.80")
    assert actions.bonus(submitted.units[0].id, "1.00", "fits", client_key="a") is True  # 1.80 + 1.20 = 3.00
    with pytest.raises(BudgetExceeded, match=r"refused the bonus of 0.01: .* passing task.max_budget = 3.00 EUR"):
        actions.bonus(submitted.units[1].id, "0.01", "one cent too many", client_key="b")
    assert [p.currency for p in Payment.select()] == ["EUR"]
    assert len(platform_calls(_paytest_dir(mephisto_settings))) == 1
    # Rejecting a unit frees its reward: the same bonus then fits.
    actions.reject(submitted.units[2].id, "empty")
    assert actions.bonus(submitted.units[1].id, "0.01", "one cent too many", client_key="b") is True


def test_a_pending_bonus_counts_against_the_budget_and_is_retried_not_refused(
    database: Database, mephisto_settings: Settings, submitted: SubmittedRun
) -> None:
    _with_task_section(submitted.run, max_budget="3.00")
    actions = ReviewActions(database, mephisto_settings)
    # An intent whose outcome is unknown (the process died after writing it): committed, not paid.
    with database.write():
        Payment.create(
            idempotency_key=f"bonus:unit-{submitted.units[0].id}:lost",
            kind="bonus",
            requester=submitted.run.requester_id,
            worker=submitted.units[0].worker_id,
            task=submitted.task.id,
            task_run=submitted.run.id,
            unit=submitted.units[0].id,
            amount=Decimal("1.00"),
            fee=Decimal("0.20"),
            provider_type="paytest",
        )
    with pytest.raises(BudgetExceeded):
        actions.bonus(submitted.units[1].id, "0.01", "more", client_key="new")
    assert actions.bonus(submitted.units[0].id, "1.00", "", client_key="lost") is True  # the retry goes through
    assert [p.status for p in Payment.select()] == ["paid"]


def test_a_unit_being_published_counts_as_committed(
    database: Database, mephisto_settings: Settings, submitted: SubmittedRun
) -> None:
    provider = provider_for_run(mephisto_settings, submitted.run)
    unit = submitted.units[0]
    with database.write():
        waiting = Unit.create(
            assignment=unit.assignment_id,
            task_run=submitted.run.id,
            task=submitted.task.id,
            unit_index=1,
            pay_amount=Decimal("0.50"),
        )
    assert committed_cost(submitted.task.id, provider) == Decimal("1.80")  # `created`: nobody could see it
    with database.write():  # the platform was asked to publish it; the outcome is not recorded yet
        PublishIntent.create(
            task_run=submitted.run.id, unit=waiting.id, idempotency_key="publish-1", source_status="created"
        )
    assert committed_cost(submitted.task.id, provider) == Decimal("2.40")
