"""Bulk verdicts and bonuses (`ReviewActions.decide_all` and `bonus_all`: the review app's bulk actions and the
terminal's A / R): the platform is asked for several units at once, every intent is committed before the first
call, each outcome is recorded as its call returns, one unit's refusal or failed record touches no other unit, and
each bonus is checked against the budget with the ones before it counted. SQLite and PostgreSQL; the kill -9 case
in a real process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import peewee as pw
import pytest
from paytest_plugin import PayTestProvider, platform_calls

from mephisto_core.data_model import Agent, Database, Review, ReviewKind, TaskRun, Unit, UnitStatus, Worker
from mephisto_core.data_model.models import database_proxy
from mephisto_core.data_model.payments import Payment
from mephisto_core.data_model.qualifications import granted_value
from mephisto_core.errors import MephistoError, ProviderError
from mephisto_core.operations import budget
from mephisto_core.operations.budget import BudgetExceeded
from mephisto_core.operations.recorded_calls import CALLS_AT_ONCE
from mephisto_core.operations.review.actions import ReviewActions
from mephisto_core.settings import Settings
from mephisto_core.testing.runs import SubmittedRun

SCRIPT = Path(__file__).parent / "pay_bonus_process.py"
UNITS = 12


@pytest.fixture
def submitted(make_submitted_run: Callable[..., SubmittedRun]) -> SubmittedRun:
    return make_submitted_run(UNITS, provider_type="paytest", pay_amount=Decimal("0.50"))


def _approvals(settings: Settings) -> list[str]:
    path = settings.data_dir / "providers" / "paytest" / "approvals.jsonl"
    return path.read_text().split() if path.exists() else []


def _wrap_approve(monkeypatch: pytest.MonkeyPatch, before: Callable[[Agent], None]) -> None:
    """Run `before(agent)` on the calling thread ahead of each approval at the paytest platform."""
    approve = PayTestProvider.approve_work

    def approve_work(self: PayTestProvider, agent: Agent, feedback: str) -> None:
        before(agent)
        approve(self, agent, feedback)

    monkeypatch.setattr(PayTestProvider, "approve_work", approve_work)


def test_a_bulk_approve_asks_the_platform_for_several_units_at_once_and_pays_each_once(
    database: Database, mephisto_settings: Settings, submitted: SubmittedRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Four approvals must be under way together to pass the barrier: one after the other, each would wait in
    # vain and fail.
    assert CALLS_AT_ONCE >= 4
    together = threading.Barrier(4, timeout=5)
    pending_seen: list[int] = []

    def before(agent: Agent) -> None:
        # Read on the call's own thread (its own connection): every intent was committed before the first call.
        pending_seen.append(Payment.select().where(Payment.status == "pending").count())
        together.wait()

    _wrap_approve(monkeypatch, before)
    actions = ReviewActions(database, mephisto_settings, reviewer="ana")
    ids = [unit.id for unit in submitted.units]

    assert actions.decide_all(ids, ReviewKind.APPROVE, "thanks") == [None] * UNITS

    assert pending_seen and min(pending_seen) >= UNITS - CALLS_AT_ONCE and max(pending_seen) == UNITS
    assert {u.status for u in Unit.select()} == {UnitStatus.ACCEPTED.value}
    rows = list(Payment.select().order_by(Payment.unit))
    assert [(p.unit_id, p.status, p.attempts, p.amount, p.reviewer) for p in rows] == [
        (unit_id, "paid", 1, Decimal("0.50"), "ana") for unit_id in ids
    ]
    assert sorted(_approvals(mephisto_settings)) == sorted(str(u.agent_id) for u in submitted.units)
    assert Review.select().where(Review.kind == ReviewKind.APPROVE.value).count() == UNITS


def test_one_units_refusal_or_failed_record_leaves_the_others_decided(
    database: Database, mephisto_settings: Settings, submitted: SubmittedRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    units = submitted.units
    decided_before, refused, decided_meanwhile = units[0], units[3], units[7]
    actions = ReviewActions(database, mephisto_settings)
    actions.approve(decided_before.id)

    def before(agent: Agent) -> None:
        if agent.id == refused.agent_id:
            raise ProviderError("the platform refused this assignment")
        if agent.id == decided_meanwhile.agent_id:  # another reviewer soft-rejects it meanwhile
            with database.write():
                Unit.update(status=UnitStatus.SOFT_REJECTED.value).where(Unit.id == decided_meanwhile.id).execute()

    _wrap_approve(monkeypatch, before)
    errors = actions.decide_all([unit.id for unit in units], ReviewKind.APPROVE)

    failed = {unit.id: error for unit, error in zip(units, errors, strict=True) if error is not None}
    assert set(failed) == {decided_before.id, refused.id, decided_meanwhile.id}
    assert all(isinstance(error, MephistoError) for error in failed.values())
    assert "the platform refused this assignment" in str(failed[refused.id])
    statuses = dict(Unit.select(Unit.id, Unit.status).tuples())
    assert statuses.pop(decided_before.id) == UnitStatus.ACCEPTED.value
    assert statuses.pop(refused.id) == UnitStatus.COMPLETED.value
    assert statuses.pop(decided_meanwhile.id) == UnitStatus.SOFT_REJECTED.value
    assert set(statuses.values()) == {UnitStatus.ACCEPTED.value}
    payments = {p.unit_id: (p.status, p.attempts) for p in Payment.select()}
    assert payments.pop(decided_before.id) == ("paid", 1)  # not asked again
    assert payments.pop(refused.id)[0] == "failed"
    # Paid at the platform, its record undone: pending, so asking again settles it with the same key.
    assert payments.pop(decided_meanwhile.id) == ("pending", 1)
    assert set(payments.values()) == {("paid", 1)}
    assert Review.select().where(Review.unit == decided_meanwhile.id).count() == 0


def test_a_reject_of_many_needs_feedback_and_pays_nothing(
    database: Database, mephisto_settings: Settings, submitted: SubmittedRun
) -> None:
    actions = ReviewActions(database, mephisto_settings)
    ids = [unit.id for unit in submitted.units]
    with pytest.raises(MephistoError, match="needs feedback"):
        actions.decide_all(ids, ReviewKind.REJECT, " ")
    assert actions.decide_all(ids, ReviewKind.REJECT, "Off topic") == [None] * UNITS
    assert {u.status for u in Unit.select()} == {UnitStatus.REJECTED.value}
    assert Payment.select().count() == 0


def test_a_bulk_approve_killed_mid_way_is_paid_once_when_asked_again(
    database: Database, mephisto_settings: Settings, submitted: SubmittedRun
) -> None:
    ids = [str(unit.id) for unit in submitted.units]

    def approve_all(kill_after_pay: bool) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PAYTEST_KILL_AFTER_PAY": "1" if kill_after_pay else "0"}
        return subprocess.run(
            [sys.executable, str(SCRIPT), "approve-all", *ids], env=env, capture_output=True, text=True, timeout=120
        )

    killed = approve_all(kill_after_pay=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    database_proxy.initialize(database.db)
    # Every intent was committed before the first call; no outcome was, as the first to return killed it.
    assert {(p.status, p.attempts) for p in Payment.select()} == {("pending", 1)}
    assert Payment.select().count() == UNITS
    assert {u.status for u in Unit.select()} == {UnitStatus.COMPLETED.value}
    approved_then = _approvals(mephisto_settings)
    assert 1 <= len(approved_then) <= CALLS_AT_ONCE

    retried = approve_all(kill_after_pay=False)
    assert retried.returncode == 0, retried.stderr
    assert retried.stdout.split() == ["approved"] * UNITS
    database_proxy.initialize(database.db)
    assert {(p.status, p.attempts) for p in Payment.select()} == {("paid", 2)}
    assert {u.status for u in Unit.select()} == {UnitStatus.ACCEPTED.value}
    approved = _approvals(mephisto_settings)
    assert sorted(approved) == sorted({str(u.agent_id) for u in submitted.units})  # each approved once there


def test_a_verdict_the_database_failed_to_store_says_so_and_is_stored_when_given_again(
    database: Database, mephisto_settings: Settings, submitted: SubmittedRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mephisto_core.operations.review import actions as review_actions

    unlucky = submitted.units[2]
    set_unit_status = review_actions.set_unit_status

    def failing_for_one(unit_id: int, target: UnitStatus, **fields: object) -> None:
        if unit_id == unlucky.id:
            raise pw.OperationalError("database is locked")
        set_unit_status(unit_id, target, **fields)

    set_units_status = review_actions.set_units_status

    def failing_with_it(unit_ids: list[int], target: UnitStatus) -> None:  # verdicts recorded together
        if unlucky.id in unit_ids:
            raise pw.OperationalError("database is locked")
        set_units_status(unit_ids, target)

    monkeypatch.setattr(review_actions, "set_unit_status", failing_for_one)
    monkeypatch.setattr(review_actions, "set_units_status", failing_with_it)
    actions = ReviewActions(database, mephisto_settings)
    ids = [unit.id for unit in submitted.units]
    errors = actions.decide_all(ids, ReviewKind.APPROVE)

    (error,) = [error for error in errors if error is not None]
    assert errors.index(error) == 2 and isinstance(error, MephistoError)
    assert "could not be stored (OperationalError: database is locked)" in str(error)
    assert "give it again" in str(error)
    assert Payment.get(Payment.unit == unlucky.id).status == "pending"
    assert Unit.get_by_id(unlucky.id).status == UnitStatus.COMPLETED.value

    monkeypatch.setattr(review_actions, "set_unit_status", set_unit_status)
    assert actions.decide_all([unlucky.id], ReviewKind.APPROVE) == [None]
    assert (Payment.get(Payment.unit == unlucky.id).status, Unit.get_by_id(unlucky.id).status) == ("paid", "accepted")
    assert sorted(_approvals(mephisto_settings)) == sorted(str(u.agent_id) for u in submitted.units)  # once each


def test_a_bulk_bonus_asks_the_platform_for_several_at_once_and_pays_each_once(
    database: Database, mephisto_settings: Settings, submitted: SubmittedRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    together = threading.Barrier(4, timeout=5)
    pay_bonus = PayTestProvider.pay_bonus

    def paid_together(self: PayTestProvider, *args: object) -> str | None:
        together.wait()
        return pay_bonus(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(PayTestProvider, "pay_bonus", paid_together)
    actions = ReviewActions(database, mephisto_settings, reviewer="ana")
    ids = [unit.id for unit in submitted.units]

    assert actions.bonus_all(ids, "0.25", "clear answers") == [True] * UNITS
    monkeypatch.setattr(PayTestProvider, "pay_bonus", pay_bonus)
    assert actions.bonus_all(ids, "0.25", "clear answers") == [False] * UNITS  # pressed again: paid already

    assert sorted((p.unit_id, p.status, p.attempts) for p in Payment.select()) == [(i, "paid", 1) for i in ids]
    assert len(platform_calls(mephisto_settings.data_dir / "providers" / "paytest")) == UNITS  # asked once each
    assert Review.select().where(Review.kind == ReviewKind.BONUS.value).count() == UNITS


def test_a_bulk_bonus_counts_the_ones_before_it_against_the_budget(
    database: Database, mephisto_settings: Settings, submitted: SubmittedRun
) -> None:
    # Twelve submitted units of 0.50 + 20 % fee commit 7.20; three bonuses of 1.00 + 0.20 fit under 10.80.
    config = dict(submitted.run.config)
    config["task"] = {**config["task"], "max_budget": "10.80"}
    TaskRun.update(config=config).where(TaskRun.id == submitted.run.id).execute()
    actions = ReviewActions(database, mephisto_settings)

    outcomes = actions.bonus_all([unit.id for unit in submitted.units], "1.00", "well done")

    assert outcomes[:3] == [True] * 3
    assert all(isinstance(o, BudgetExceeded) for o in outcomes[3:]), outcomes
    assert "passing task.max_budget = 10.80" in str(outcomes[3])
    assert [p.unit_id for p in Payment.select().order_by(Payment.unit)] == [u.id for u in submitted.units[:3]]
    assert len(platform_calls(mephisto_settings.data_dir / "providers" / "paytest")) == 3


def test_a_bulk_bonus_reads_the_tasks_committed_cost_once(
    database: Database, mephisto_settings: Settings, submitted: SubmittedRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reading it costs a pass over the task's units (9-12 ms at 20,000 units): once per bulk, not once per bonus.
    config = dict(submitted.run.config)
    config["task"] = {**config["task"], "max_budget": "100.00"}
    TaskRun.update(config=config).where(TaskRun.id == submitted.run.id).execute()
    readings: list[int] = []
    committed_cost = budget.committed_cost

    def counted(task_id: int, provider: object) -> Decimal:
        readings.append(task_id)
        return committed_cost(task_id, provider)  # type: ignore[arg-type]

    monkeypatch.setattr(budget, "committed_cost", counted)
    actions = ReviewActions(database, mephisto_settings)

    assert actions.bonus_all([unit.id for unit in submitted.units], "1.00", "well done") == [True] * UNITS
    assert readings == [submitted.run.task_id]


def test_changes_to_many_workers_tell_their_platforms_at_once_and_one_refusal_stays_its_own(
    database: Database,
    mephisto_settings: Settings,
    make_submitted_run: Callable[..., SubmittedRun],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    names = [f"w{index}" for index in range(9)]
    run = make_submitted_run(9, provider_type="paytest", workers=names)
    together = threading.Barrier(4, timeout=5)
    told: list[str] = []

    def grant_qualification(self: PayTestProvider, worker: Worker, name: str, value: int) -> None:
        if worker.name == "w4":
            raise ProviderError("the platform is out of qualification slots")
        together.wait()
        told.append(str(worker.name))

    monkeypatch.setattr(PayTestProvider, "grant_qualification", grant_qualification, raising=False)
    actions = ReviewActions(database, mephisto_settings)
    changes = [actions.grant_change(unit.worker_id, "screened", 2, unit.id) for unit in run.units]

    results = actions.change_workers(changes)

    refused = [r for r in results if isinstance(r, MephistoError)]
    assert len(refused) == 1 and "out of qualification slots" in str(refused[0])
    assert sorted(told) == [name for name in names if name != "w4"]
    assert all([o.status for o in r] == ["done"] for r in results if not isinstance(r, MephistoError))
    granted = {w.name for w in Worker.select() if granted_value(w.id, "screened") == 2}
    assert granted == set(names) - {"w4"}
    assert Review.select().where(Review.kind == ReviewKind.GRANT.value).count() == 8
