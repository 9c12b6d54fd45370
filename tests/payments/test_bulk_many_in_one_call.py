"""Bulk verdicts, bonuses and blocks through a provider that approves, pays and blocks many in one platform call
(`CrowdProvider.calls_for_many`, Prolific's bulk approval, bulk bonus and participant groups): one request for the
bulk, each unit's or worker's outcome recorded as if asked alone, one refusal refusing only its own, and a retry
paying nothing twice. The `paytest` provider's file platform logs every request. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal

import pytest
from paytest_plugin import PayTestProvider, platform_requests

from mephisto_core.data_model import Agent, Database, Review, ReviewKind, Unit, UnitStatus, Worker
from mephisto_core.data_model.payments import Payment
from mephisto_core.data_model.qualifications import BLOCK_QUALIFICATION, granted_value
from mephisto_core.errors import MephistoError, ProviderError
from mephisto_core.operations.review.actions import ReviewActions
from mephisto_core.settings import Settings
from mephisto_core.testing.runs import SubmittedRun

UNITS = 12


@pytest.fixture
def many_in_one_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(PayTestProvider, "calls_for_many", frozenset({"approve_work", "pay_bonus"}))


def _run(make_submitted_run: Callable[..., SubmittedRun], pay: str) -> SubmittedRun:
    return make_submitted_run(UNITS, provider_type="paytest", pay_amount=Decimal(pay))


def _requests(settings: Settings) -> list[list[str]]:
    return platform_requests(settings.data_dir / "providers" / "paytest")


@pytest.mark.usefixtures("many_in_one_call")
@pytest.mark.parametrize("pay", ["0.50", "0"], ids=["paid", "free"])
def test_a_bulk_approval_is_one_platform_request_and_each_unit_is_recorded(
    database: Database, mephisto_settings: Settings, make_submitted_run: Callable[..., SubmittedRun], pay: str
) -> None:
    submitted = _run(make_submitted_run, pay)
    ids = [unit.id for unit in submitted.units]

    assert (
        ReviewActions(database, mephisto_settings, "ana").decide_all(ids, ReviewKind.APPROVE, "thanks")
        == [None] * UNITS
    )

    assert _requests(mephisto_settings) == [[f"approve:{unit.agent_id}" for unit in submitted.units]]
    assert {unit.status for unit in Unit.select()} == {UnitStatus.ACCEPTED.value}
    assert Review.select().where(Review.kind == ReviewKind.APPROVE.value).count() == UNITS
    payments = list(Payment.select())
    assert [(p.status, p.attempts) for p in payments] == ([("paid", 1)] * UNITS if pay != "0" else [])


@pytest.mark.usefixtures("many_in_one_call")
def test_soft_rejections_the_provider_leaves_to_approving_go_in_one_request(
    database: Database,
    mephisto_settings: Settings,
    make_submitted_run: Callable[..., SubmittedRun],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mephisto_core.abstractions import CrowdProvider

    # As Prolific: a soft rejection is the default's, an approval at the platform.
    monkeypatch.setattr(PayTestProvider, "soft_reject_work", CrowdProvider.soft_reject_work)
    submitted = _run(make_submitted_run, "0.50")
    ids = [unit.id for unit in submitted.units]
    assert (
        ReviewActions(database, mephisto_settings).decide_all(ids, ReviewKind.SOFT_REJECT, "unusable") == [None] * UNITS
    )
    assert _requests(mephisto_settings) == [[f"approve:{unit.agent_id}" for unit in submitted.units]]
    assert {unit.status for unit in Unit.select()} == {UnitStatus.SOFT_REJECTED.value}


@pytest.mark.usefixtures("many_in_one_call")
def test_rejections_are_asked_one_unit_at_a_time(
    database: Database, mephisto_settings: Settings, make_submitted_run: Callable[..., SubmittedRun]
) -> None:
    submitted = _run(make_submitted_run, "0.50")
    rejected = [unit.id for unit in submitted.units[:3]]
    assert ReviewActions(database, mephisto_settings).decide_all(rejected, ReviewKind.REJECT, "off topic") == [None] * 3
    assert _requests(mephisto_settings) == []  # the paytest platform has no rejections; none were asked together
    assert {Unit.get_by_id(unit_id).status for unit_id in rejected} == {UnitStatus.REJECTED.value}


@pytest.mark.usefixtures("many_in_one_call")
def test_one_units_refusal_in_a_call_for_many_refuses_that_unit_only_and_asking_again_approves_it(
    database: Database,
    mephisto_settings: Settings,
    make_submitted_run: Callable[..., SubmittedRun],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    submitted = _run(make_submitted_run, "0.50")
    refused = submitted.units[4]
    approve_many = PayTestProvider.approve_work_many

    def refusing_one(self: PayTestProvider, agents: Sequence[Agent], feedback: str) -> list[Exception | None]:
        others = [agent for agent in agents if agent.id != refused.agent_id]
        answers = iter(approve_many(self, others, feedback))
        return [
            ProviderError("submission not awaiting review") if agent.id == refused.agent_id else next(answers)
            for agent in agents
        ]

    monkeypatch.setattr(PayTestProvider, "approve_work_many", refusing_one)
    actions = ReviewActions(database, mephisto_settings)
    ids = [unit.id for unit in submitted.units]
    errors = actions.decide_all(ids, ReviewKind.APPROVE)

    failed = {unit_id: error for unit_id, error in zip(ids, errors, strict=True) if error is not None}
    assert list(failed) == [refused.id]
    assert "provider 'paytest' refused to approve work: submission not awaiting review" in str(failed[refused.id])
    assert Unit.get_by_id(refused.id).status == UnitStatus.COMPLETED.value
    payments = {p.unit_id: p.status for p in Payment.select()}
    assert payments.pop(refused.id) == "failed"
    assert set(payments.values()) == {"paid"}
    assert Unit.select().where(Unit.status == UnitStatus.ACCEPTED.value).count() == UNITS - 1

    monkeypatch.setattr(PayTestProvider, "approve_work_many", approve_many)
    assert actions.decide_all([refused.id], ReviewKind.APPROVE) == [None]
    assert Payment.get(Payment.unit == refused.id).status == "paid"
    assert _requests(mephisto_settings)[-1] == [f"approve:{refused.agent_id}"]


@pytest.mark.usefixtures("many_in_one_call")
def test_a_call_for_many_that_fails_refuses_every_unit_of_it_and_records_nothing(
    database: Database,
    mephisto_settings: Settings,
    make_submitted_run: Callable[..., SubmittedRun],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    submitted = _run(make_submitted_run, "0.50")

    def unreachable(self: PayTestProvider, agents: Sequence[Agent], feedback: str) -> list[Exception | None]:
        raise ConnectionError("the platform did not answer")

    monkeypatch.setattr(PayTestProvider, "approve_work_many", unreachable)
    errors = ReviewActions(database, mephisto_settings).decide_all(
        [unit.id for unit in submitted.units], ReviewKind.APPROVE
    )

    assert all(isinstance(error, MephistoError) for error in errors)
    assert "failed to approve work: ConnectionError: the platform did not answer" in str(errors[0])
    assert {unit.status for unit in Unit.select()} == {UnitStatus.COMPLETED.value}
    assert {p.status for p in Payment.select()} == {"failed"}
    assert Review.select().count() == 0


@pytest.mark.usefixtures("many_in_one_call")
def test_a_call_for_many_is_given_as_long_as_its_units_would_take_8_at_a_time(
    database: Database,
    mephisto_settings: Settings,
    make_submitted_run: Callable[..., SubmittedRun],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    submitted = _run(make_submitted_run, "0.50")
    approve_many = PayTestProvider.approve_work_many

    def slow(self: PayTestProvider, agents: Sequence[Agent], feedback: str) -> list[Exception | None]:
        time.sleep(1.5)  # over one call's timeout, under the 2 calls' time 12 units would take 8 at a time
        return approve_many(self, agents, feedback)

    monkeypatch.setattr(PayTestProvider, "call_timeout_seconds", 1.0)
    monkeypatch.setattr(PayTestProvider, "approve_work_many", slow)
    ids = [unit.id for unit in submitted.units]
    assert ReviewActions(database, mephisto_settings).decide_all(ids, ReviewKind.APPROVE) == [None] * UNITS


@pytest.mark.usefixtures("many_in_one_call")
def test_a_call_for_many_that_answers_for_the_wrong_number_of_units_refuses_them_all(
    database: Database,
    mephisto_settings: Settings,
    make_submitted_run: Callable[..., SubmittedRun],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    submitted = _run(make_submitted_run, "0.50")
    monkeypatch.setattr(PayTestProvider, "approve_work_many", lambda self, agents, feedback: [None])
    errors = ReviewActions(database, mephisto_settings).decide_all(
        [unit.id for unit in submitted.units], ReviewKind.APPROVE
    )
    assert all(f"a call for {UNITS} jobs together answered for 1" in str(error) for error in errors)
    assert {unit.status for unit in Unit.select()} == {UnitStatus.COMPLETED.value}


@pytest.mark.usefixtures("many_in_one_call")
def test_a_bulk_bonus_is_one_platform_request_each_paid_once_and_asking_again_pays_nothing(
    database: Database, mephisto_settings: Settings, make_submitted_run: Callable[..., SubmittedRun]
) -> None:
    submitted = _run(make_submitted_run, "0.50")
    ids = [unit.id for unit in submitted.units]
    actions = ReviewActions(database, mephisto_settings, "ana")

    assert actions.bonus_all(ids, "0.25", "clear answers", client_key="press-1") == [True] * UNITS
    assert actions.bonus_all(ids, "0.25", "clear answers", client_key="press-1") == [False] * UNITS

    keys = [f"bonus:unit-{unit_id}:press-1" for unit_id in ids]
    assert _requests(mephisto_settings) == [keys]
    rows = {p.idempotency_key: p for p in Payment.select()}
    assert [(rows[key].status, rows[key].provider_reference) for key in keys] == [
        ("paid", f"pay-{number}") for number in range(1, UNITS + 1)
    ]
    assert Review.select().where(Review.kind == ReviewKind.BONUS.value).count() == UNITS


@pytest.mark.usefixtures("many_in_one_call")
def test_a_bonus_refused_in_a_call_for_many_is_failed_alone_and_paid_when_asked_again(
    database: Database,
    mephisto_settings: Settings,
    make_submitted_run: Callable[..., SubmittedRun],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    submitted = _run(make_submitted_run, "0.50")
    ids = [unit.id for unit in submitted.units]
    unlucky = f"bonus:unit-{ids[2]}:press-2"
    pay_many = PayTestProvider.pay_bonus_many

    def refusing_one(self: PayTestProvider, bonuses: Sequence[object]) -> list[str | Exception | None]:
        paid = pay_many(self, [b for b in bonuses if b.idempotency_key != unlucky])  # type: ignore[attr-defined]
        answers = iter(paid)
        return [
            ProviderError("not enough balance") if b.idempotency_key == unlucky else next(answers)  # type: ignore[attr-defined]
            for b in bonuses
        ]

    monkeypatch.setattr(PayTestProvider, "pay_bonus_many", refusing_one)
    actions = ReviewActions(database, mephisto_settings)
    outcomes = actions.bonus_all(ids, "0.25", "clear", client_key="press-2")

    assert outcomes.count(True) == UNITS - 1
    assert "refused to pay bonus: not enough balance" in str(outcomes[2])
    assert Payment.get(Payment.idempotency_key == unlucky).status == "failed"
    monkeypatch.setattr(PayTestProvider, "pay_bonus_many", pay_many)
    assert actions.bonus_all(ids, "0.25", "clear", client_key="press-2") == [index == 2 for index in range(UNITS)]
    assert Payment.get(Payment.idempotency_key == unlucky).status == "paid"


def _block_all(database: Database, settings: Settings, worker_ids: list[int]) -> list[object]:
    actions = ReviewActions(database, settings, "ana")
    with actions.workers_read_together(worker_ids):
        changes = [actions.block_change(worker_id, "copied answers") for worker_id in worker_ids]
    return actions.change_workers(changes)  # type: ignore[return-value]


def test_a_bulk_block_is_one_platform_request_and_each_worker_is_recorded(
    database: Database,
    mephisto_settings: Settings,
    make_submitted_run: Callable[..., SubmittedRun],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(PayTestProvider, "calls_for_many", frozenset({"block_worker"}))
    names = [f"w{index}" for index in range(6)]
    make_submitted_run(6, provider_type="paytest", workers=names)
    worker_ids = [worker.id for worker in Worker.select().order_by(Worker.id)]

    told = _block_all(database, mephisto_settings, worker_ids)

    assert [[outcome.status for outcome in outcomes] for outcomes in told] == [["done"]] * 6  # type: ignore[attr-defined]
    assert _requests(mephisto_settings) == [[f"block:{name}" for name in names]]
    assert {w.id for w in Worker.select() if granted_value(w.id, BLOCK_QUALIFICATION)} == set(worker_ids)
    assert Review.select().where(Review.kind == ReviewKind.BLOCK.value).count() == 6


def test_a_worker_refused_in_a_call_for_many_is_refused_alone_and_one_the_platform_cannot_block_is_local_only(
    database: Database,
    mephisto_settings: Settings,
    make_submitted_run: Callable[..., SubmittedRun],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mephisto_core.abstractions import PlatformUnsupported

    monkeypatch.setattr(PayTestProvider, "calls_for_many", frozenset({"block_worker"}))
    make_submitted_run(3, provider_type="paytest", workers=["w0", "w1", "w2"])
    worker_ids = [worker.id for worker in Worker.select().order_by(Worker.id)]

    def answers(self: PayTestProvider, workers: Sequence[Worker], reason: str) -> list[Exception | None]:
        return [None, ProviderError("participant unknown"), PlatformUnsupported("no blocks for this one")]

    monkeypatch.setattr(PayTestProvider, "block_worker_many", answers)
    told = _block_all(database, mephisto_settings, worker_ids)

    assert [o.status for o in told[0]] == ["done"]  # type: ignore[union-attr]
    assert isinstance(told[1], MephistoError) and "refused to block: participant unknown" in str(told[1])
    assert [(o.status, o.detail) for o in told[2]] == [("local only", "no blocks for this one")]  # type: ignore[union-attr]
    blocked = {w.id for w in Worker.select() if granted_value(w.id, BLOCK_QUALIFICATION)}
    assert blocked == {worker_ids[0], worker_ids[2]}


def test_grants_of_the_same_value_go_in_one_call_and_other_values_in_another(
    database: Database,
    mephisto_settings: Settings,
    make_submitted_run: Callable[..., SubmittedRun],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[list[str], str, int]] = []

    def grant_many(self: PayTestProvider, workers: Sequence[Worker], name: str, value: int) -> list[Exception | None]:
        calls.append(([str(worker.name) for worker in workers], name, value))
        return [None] * len(workers)

    monkeypatch.setattr(PayTestProvider, "calls_for_many", frozenset({"grant_qualification"}))
    monkeypatch.setattr(PayTestProvider, "grant_qualification_many", grant_many, raising=False)
    make_submitted_run(5, provider_type="paytest", workers=[f"w{index}" for index in range(5)])
    worker_ids = [worker.id for worker in Worker.select().order_by(Worker.id)]
    actions = ReviewActions(database, mephisto_settings)
    with actions.workers_read_together(worker_ids, ["trained"]):
        changes = [
            actions.grant_change(worker_id, "trained", 2 if i < 3 else 1) for i, worker_id in enumerate(worker_ids)
        ]

    told = actions.change_workers(changes)

    assert [[o.status for o in outcomes] for outcomes in told] == [["done"]] * 5  # type: ignore[union-attr]
    assert sorted(calls) == [(["w0", "w1", "w2"], "trained", 2), (["w3", "w4"], "trained", 1)]
    assert [granted_value(worker_id, "trained") for worker_id in worker_ids] == [2, 2, 2, 1, 1]


@pytest.mark.usefixtures("many_in_one_call")
def test_the_default_calls_for_many_ask_one_by_one_and_refuse_only_their_own(
    database: Database,
    mephisto_settings: Settings,
    make_submitted_run: Callable[..., SubmittedRun],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mephisto_core.abstractions import CrowdProvider

    # A provider that names its calls in `calls_for_many` without writing the `_many` forms gets the defaults.
    monkeypatch.setattr(PayTestProvider, "approve_work_many", CrowdProvider.approve_work_many)
    monkeypatch.setattr(PayTestProvider, "pay_bonus_many", CrowdProvider.pay_bonus_many)
    submitted = _run(make_submitted_run, "0.50")
    refused = submitted.units[5]
    approve = PayTestProvider.approve_work

    def refusing_one(self: PayTestProvider, agent: Agent, feedback: str) -> None:
        if agent.id == refused.agent_id:
            raise ProviderError("assignment gone")
        approve(self, agent, feedback)

    monkeypatch.setattr(PayTestProvider, "approve_work", refusing_one)
    actions = ReviewActions(database, mephisto_settings)
    ids = [unit.id for unit in submitted.units]

    errors = actions.decide_all(ids, ReviewKind.APPROVE)
    paid = actions.bonus_all(ids, "0.25", "clear", client_key="press-3")

    assert [index for index, error in enumerate(errors) if error is not None] == [5]
    assert "refused to approve work: assignment gone" in str(errors[5])
    assert paid == [True] * UNITS
    requests = _requests(mephisto_settings)
    assert len(requests) == 2 * UNITS - 1 and all(len(keys) == 1 for keys in requests)  # each asked alone
