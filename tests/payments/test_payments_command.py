"""`mephisto payments` (a real process) lists what was paid, to whom, for what, and what is pending, as a table and
as JSON, filtered by task and worker; SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal

import pytest

from mephisto_core.data_model import Database
from mephisto_core.data_model.payments import Payment
from mephisto_core.operations.review.actions import ReviewActions
from mephisto_core.settings import Settings
from mephisto_core.testing.processes import run_mephisto
from mephisto_core.testing.runs import SubmittedRun


@pytest.fixture
def paid(
    database: Database, mephisto_settings: Settings, make_submitted_run: Callable[..., SubmittedRun]
) -> SubmittedRun:
    """Task `study`: alice approved (reward 0.50 + fee 0.10) and bonused 1.00 (+0.20); bob's bonus pending.
    Task `other`: carol's bonus 0.30."""
    study = make_submitted_run(2, provider_type="paytest", task_name="study", workers=("alice", "bob"))
    other = make_submitted_run(1, provider_type="paytest", task_name="other", workers=("carol",))
    actions = ReviewActions(database, mephisto_settings, reviewer="ana")
    actions.approve(study.units[0].id, "good")
    actions.bonus(study.units[0].id, "1.00", "thorough", client_key="a")
    actions.bonus(other.units[0].id, "0.30", "quick", client_key="c")
    with database.write():  # bob's bonus: asked, then the process died before the outcome was recorded
        Payment.create(
            idempotency_key=f"bonus:unit-{study.units[1].id}:b",
            kind="bonus",
            requester=study.run.requester_id,
            worker=study.units[1].worker_id,
            task=study.task.id,
            task_run=study.run.id,
            unit=study.units[1].id,
            amount=Decimal("2.00"),
            fee=Decimal("0.40"),
            provider_type="paytest",
            reason="kind words",
        )
    return study


def test_payments_table_shows_paid_and_pending_with_totals(paid: SubmittedRun, mephisto_cli_env: dict[str, str]):
    result = run_mephisto("payments", "--task", "study", env=mephisto_cli_env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    rows = [line for line in lines if re.match(r"\s*\d{4}-\d\d-\d\d ", line)]  # a payment's first line: its date
    assert len(rows) == 3
    assert "alice" in rows[0] and "reward" in rows[0] and "0.50 USD" in rows[0] and "paid" in rows[0]
    assert "alice" in rows[1] and "bonus" in rows[1] and "1.00 USD" in rows[1] and "thorough" in rows[1]
    assert "bob" in rows[2] and "2.00 USD" in rows[2] and "pending" in rows[2]
    assert "carol" not in result.stdout
    assert "Total USD: paid 1.80 (fees 0.30), pending 2.40 (fees 0.40)" in result.stdout
    assert "Pending: the provider was asked" in result.stdout


def test_payments_json_filtered_by_worker(paid: SubmittedRun, mephisto_cli_env: dict[str, str]) -> None:
    result = run_mephisto("payments", "--worker", "alice", "--json", env=mephisto_cli_env)
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    assert [(p["kind"], p["amount"], p["fee"], p["status"], p["task"]) for p in listing["payments"]] == [
        ("reward", "0.50", "0.10", "paid", "study"),
        ("bonus", "1.00", "0.20", "paid", "study"),
    ]
    first = listing["payments"][0]
    assert (first["worker"], first["unit_id"], first["reviewer"], first["currency"]) == (
        "alice",
        paid.units[0].id,
        "ana",
        "USD",
    )
    assert listing["totals"] == {"USD": {"paid": {"amount": "1.50", "fee": "0.30", "total": "1.80"}}}


def test_payments_of_an_unknown_task_is_a_clear_error(database: Database, mephisto_cli_env: dict[str, str]) -> None:
    result = run_mephisto("payments", "--task", "nope", env=mephisto_cli_env)
    assert result.returncode == 1
    assert "no task named 'nope'" in result.stderr


def test_no_payments_yet(database: Database, mephisto_cli_env: dict[str, str]) -> None:
    result = run_mephisto("payments", env=mephisto_cli_env)
    assert (result.returncode, result.stdout.strip()) == (0, "No payments recorded.")
    assert json.loads(run_mephisto("payments", "--json", env=mephisto_cli_env).stdout) == {
        "payments": [],
        "totals": {},
    }


def test_a_long_ledger_lists_the_latest_paid_and_every_pending_or_failed_payment(
    database: Database, make_submitted_run: Callable[..., SubmittedRun], mephisto_cli_env: dict[str, str]
) -> None:
    study = make_submitted_run(62, provider_type="paytest", task_name="big", workers=("alice",))
    with database.write():
        for index, unit in enumerate(study.units):
            status = "failed" if index == 0 else "pending" if index == 1 else "paid"
            Payment.create(
                idempotency_key=f"bonus:unit-{unit.id}",
                kind="bonus",
                status=status,
                requester=study.run.requester_id,
                worker=unit.worker_id,
                task=study.task.id,
                unit=unit.id,
                amount=Decimal("1.00"),
                provider_type="paytest",
                reason=f"r{index:02d}",
                error="the platform refused: no assignment of this worker is eligible for a bonus"
                if index == 0
                else "",
            )
    shown = run_mephisto("payments", env=mephisto_cli_env)
    assert shown.returncode == 0, shown.stderr
    listed = [line.split()[-1] for line in shown.stdout.splitlines() if re.match(r"\s*\d{4}-\d\d-\d\d ", line)]
    # the failed and the pending ones (the oldest two), then the latest 50 of the 60 paid
    assert listed == ["r00", "r01"] + [f"r{index:02d}" for index in range(12, 62)]
    assert "52 of 62 payments: 10 older paid ones left out (--paid 0 lists all)" in shown.stdout
    # a refusal's words under the table, where they do not squeeze the other columns
    assert "failed [1]" in shown.stdout
    refusal = "[1] bonus of 1.00 USD to alice: the platform refused: no assignment of this worker is eligible"
    assert refusal in " ".join(shown.stdout.split())
    assert "Total USD: paid 60.00 (fees 0), pending 1.00 (fees 0), failed 1.00 (fees 0)" in shown.stdout
    every = run_mephisto("payments", "--paid", "0", env=mephisto_cli_env)
    assert sum(bool(re.match(r"\s*\d{4}-", line)) for line in every.stdout.splitlines()) == 62
    assert "left out" not in every.stdout
    assert len(json.loads(run_mephisto("payments", "--json", env=mephisto_cli_env).stdout)["payments"]) == 62
