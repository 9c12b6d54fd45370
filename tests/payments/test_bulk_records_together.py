"""A bulk's verdicts and bonuses that the platform answered together are recorded together: one statement per
table for all of them, not one per unit (each a round trip to a database on another machine: 200 approvals at
11 ms spent most of their 14.7 s there), with the same rows as one by one; a unit that another reviewer decided
meanwhile is refused alone, the others recorded. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
import sql_log
from paytest_plugin import PayTestProvider

from mephisto_core.data_model import Agent, Database, Review, ReviewKind, Unit, UnitStatus
from mephisto_core.data_model.payments import Payment
from mephisto_core.data_model.transitions import set_unit_status
from mephisto_core.errors import IllegalTransition
from mephisto_core.operations.providers import provider_for_run
from mephisto_core.operations.review.actions import ReviewActions
from mephisto_core.settings import Settings
from mephisto_core.testing.runs import SubmittedRun

UNITS = 12


@pytest.fixture
def submitted(make_submitted_run: Callable[..., SubmittedRun]) -> SubmittedRun:
    return make_submitted_run(UNITS, provider_type="paytest", pay_amount=Decimal("0.50"))


pytestmark = pytest.mark.usefixtures("calls_answered_together")


@pytest.mark.parametrize("kind", [ReviewKind.APPROVE, ReviewKind.REJECT])
def test_verdicts_answered_together_are_recorded_in_one_statement_per_table(
    database: Database,
    mephisto_settings: Settings,
    submitted: SubmittedRun,
    kind: ReviewKind,
    caplog: pytest.LogCaptureFixture,
) -> None:
    actions = ReviewActions(database, mephisto_settings, reviewer="ana")
    ids = [unit.id for unit in submitted.units]

    outcomes, statements = sql_log.statements(caplog, lambda: actions.decide_all(ids, kind, "see the guidelines"))

    assert outcomes == [None] * UNITS
    for table in ("unit", "agent", "review"):
        assert len(sql_log.writes(statements, table)) == 1, "\n".join(sql_log.writes(statements, table))
    target = UnitStatus.ACCEPTED if kind is ReviewKind.APPROVE else UnitStatus.REJECTED
    assert {u.status for u in Unit.select()} == {target.value}
    reviews = {r.unit_id: r for r in Review.select()}
    assert sorted(reviews) == sorted(ids)
    for unit in submitted.units:
        review = reviews[unit.id]
        assert (review.kind, review.worker_id, review.task_id) == (kind.value, unit.worker_id, submitted.task.id)
        assert (review.feedback, review.reviewer, review.amount) == ("see the guidelines", "ana", None)
        assert review.created_at is not None
    if kind is ReviewKind.APPROVE:
        assert {p.status for p in Payment.select()} == {"paid"}
        assert len(sql_log.writes(statements, "payment")) == 2  # the intents, then every one settled


def test_bonuses_paid_together_are_recorded_together_each_with_its_own_platform_reference(
    database: Database, mephisto_settings: Settings, submitted: SubmittedRun, caplog: pytest.LogCaptureFixture
) -> None:
    actions = ReviewActions(database, mephisto_settings, reviewer="ana")
    ids = [unit.id for unit in submitted.units]

    outcomes, statements = sql_log.statements(caplog, lambda: actions.bonus_all(ids, "0.30", "clear answers"))

    assert outcomes == [True] * UNITS
    assert len(sql_log.writes(statements, "review")) == 1
    assert len(sql_log.writes(statements, "payment")) == 2  # the intents, then every one settled
    provider = provider_for_run(mephisto_settings, submitted.run)
    assert isinstance(provider, PayTestProvider)
    at_platform = {payment["key"]: payment["reference"] for payment in provider.platform_payments()}
    stored = {p.idempotency_key: p.provider_reference for p in Payment.select()}
    assert len(set(at_platform.values())) == UNITS and stored == at_platform
    bonuses = {r.unit_id: r for r in Review.select().where(Review.kind == ReviewKind.BONUS.value)}
    assert sorted(bonuses) == sorted(ids)
    assert {(r.amount, r.feedback, r.reviewer) for r in bonuses.values()} == {(Decimal("0.30"), "clear answers", "ana")}


def test_a_unit_another_reviewer_decided_meanwhile_is_refused_alone_and_the_others_are_recorded(
    database: Database,
    mephisto_settings: Settings,
    submitted: SubmittedRun,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unlucky = submitted.units[3]
    approve = PayTestProvider.approve_work

    def approve_work(self: PayTestProvider, agent: Agent, feedback: str) -> None:
        if agent.id == unlucky.agent_id:  # another reviewer soft-rejects it while the platform approves it
            with database.write():
                set_unit_status(unlucky.id, UnitStatus.SOFT_REJECTED)
        approve(self, agent, feedback)

    monkeypatch.setattr(PayTestProvider, "approve_work", approve_work)
    actions = ReviewActions(database, mephisto_settings)
    ids = [unit.id for unit in submitted.units]

    outcomes = actions.decide_all(ids, ReviewKind.APPROVE)

    (refused,) = [outcome for outcome in outcomes if outcome is not None]
    assert outcomes.index(refused) == 3 and isinstance(refused, IllegalTransition)
    assert "'soft_rejected' to 'accepted'" in str(refused)
    statuses = {u.id: u.status for u in Unit.select()}
    assert statuses.pop(unlucky.id) == UnitStatus.SOFT_REJECTED.value
    assert set(statuses.values()) == {UnitStatus.ACCEPTED.value}
    assert sorted(r.unit_id for r in Review.select()) == sorted(set(ids) - {unlucky.id})
    assert Payment.get(Payment.unit == unlucky.id).status == "pending"  # paid there, not recorded: asked again
    assert {p.status for p in Payment.select().where(Payment.unit != unlucky.id)} == {"paid"}
