"""Killed between the platform's payment and the ledger's commit (kill -9 in a real process), a bonus asked again
with the same key is paid once: the ledger's pending row makes the retry ask the platform with the same key,
and the platform, honouring the key, pays nothing more. The same for an approval (its reward): the unit's verdict
commits with the payment's outcome, so a retry approves again and the platform pays once. SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from paytest_plugin import platform_calls

from mephisto_core.data_model import Database, Review, Unit
from mephisto_core.data_model.models import database_proxy
from mephisto_core.data_model.payments import Payment
from mephisto_core.settings import Settings
from mephisto_core.testing.runs import SubmittedRun

SCRIPT = Path(__file__).parent / "pay_bonus_process.py"


def _pay(unit_id: int, client_key: str, *, kill_after_pay: bool) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PAYTEST_KILL_AFTER_PAY": "1" if kill_after_pay else "0"}
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(unit_id), "2.50", "careful work", client_key],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_bonus_killed_after_the_platform_paid_is_paid_once_when_asked_again(
    database: Database,
    mephisto_settings: Settings,
    make_submitted_run: Callable[..., SubmittedRun],
) -> None:
    unit = make_submitted_run(1, provider_type="paytest").units[0]
    platform_dir = mephisto_settings.data_dir / "providers" / "paytest"

    killed = _pay(unit.id, "press-1", kill_after_pay=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    database_proxy.initialize(database.db)
    (payment,) = Payment.select()
    assert (payment.status, payment.attempts) == ("pending", 1)  # the outcome is unknown here
    assert Review.select().count() == 0
    assert len(platform_calls(platform_dir)) == 1

    retried = _pay(unit.id, "press-1", kill_after_pay=False)
    assert retried.returncode == 0, retried.stderr
    assert retried.stdout.strip() == "paid"
    database_proxy.initialize(database.db)
    (payment,) = Payment.select()
    assert (payment.status, payment.attempts, payment.provider_reference) == ("paid", 2, "pay-1")
    # The platform was asked twice with the same key and paid once.
    assert platform_calls(platform_dir) == [payment.idempotency_key] * 2
    payments_made = (platform_dir / "platform.jsonl").read_text().splitlines()
    assert len(payments_made) == 1 and '"amount": "2.50"' in payments_made[0]
    assert [(r.kind, r.amount) for r in Review.select()] == [("bonus", Decimal("2.50"))]

    pressed_again = _pay(unit.id, "press-1", kill_after_pay=True)  # would die if the platform were asked
    assert (pressed_again.returncode, pressed_again.stdout.strip()) == (0, "already paid")
    database_proxy.initialize(database.db)
    assert len(platform_calls(platform_dir)) == 2


def test_an_approval_killed_after_the_platform_paid_pays_the_reward_once_when_asked_again(
    database: Database,
    mephisto_settings: Settings,
    make_submitted_run: Callable[..., SubmittedRun],
) -> None:
    unit = make_submitted_run(1, provider_type="paytest", pay_amount=Decimal("0.40")).units[0]
    platform_dir = mephisto_settings.data_dir / "providers" / "paytest"
    env = {**os.environ, "PAYTEST_KILL_AFTER_PAY": "1"}
    command = [sys.executable, str(SCRIPT), "approve", str(unit.id)]

    killed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    database_proxy.initialize(database.db)
    (payment,) = Payment.select()
    assert (payment.kind, payment.status, payment.amount, payment.fee) == (
        "reward",
        "pending",
        Decimal("0.40"),
        Decimal("0.08"),
    )
    assert Unit.get_by_id(unit.id).status == "completed"  # the verdict commits with the payment's outcome

    retried = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)  # would die if paid
    assert (retried.returncode, retried.stdout.strip()) == (0, "approved"), retried.stderr
    database_proxy.initialize(database.db)
    (payment,) = Payment.select()
    assert (payment.status, payment.attempts) == ("paid", 2)
    assert Unit.get_by_id(unit.id).status == "accepted"
    assert [r.kind for r in Review.select()] == ["approve"]
    assert (platform_dir / "approvals.jsonl").read_text().split() == [str(unit.agent_id)]  # approved (paid) once
