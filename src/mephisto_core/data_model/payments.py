"""The payments ledger: one row per payment a researcher asked for (task reward, bonus) with its platform fee.

A row is written as an intent (`pending`) before the provider is asked to pay, and its outcome (`paid` or
`failed`) after, both keyed by a unique `idempotency_key` derived from what the researcher asked. A retry (the same
bonus pressed twice, or asked again after the process was killed between the platform call and the commit) finds
the row: a paid row is not paid again, a pending one is asked of the provider again with the same key, so a
platform that honours the key pays once. Amounts are stored as exact decimal text (`DecimalTextField`), the same
on SQLite and PostgreSQL.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from enum import StrEnum

import peewee as pw

from mephisto_core.data_model.models import BaseModel, Requester, Task, TaskRun, Unit, Worker, utcnow


class PaymentKind(StrEnum):
    """What a payment is for."""

    REWARD = "reward"  # the unit's reward, paid when its work is approved (or soft-rejected)
    BONUS = "bonus"  # an extra amount the researcher chose


class PaymentStatus(StrEnum):
    """Where a payment stands. `pending`: asked, outcome unknown (the provider may or may not have paid)."""

    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"  # the provider refused; asking again with the same key tries again


class DecimalTextField(pw.TextField):  # type: ignore[misc]  # peewee is untyped here
    """A Decimal stored as its exact text: 0.10 stays 0.10 on every database (SQLite has no exact NUMERIC)."""

    def db_value(self, value: Decimal | str | None) -> str | None:
        if value is None:
            return None
        return str(Decimal(str(value)))

    def python_value(self, value: str | None) -> Decimal | None:
        if value is None:
            return None
        try:
            return Decimal(value)
        except InvalidOperation as exc:  # only a hand-edited database can hold this
            raise ValueError(f"payment amount {value!r} in the database is not a decimal number") from exc


class Payment(BaseModel):
    """One payment to a worker: the amount, the platform's fee on it, in `currency`, and its outcome."""

    idempotency_key = pw.CharField(unique=True)
    kind = pw.CharField()  # a PaymentKind value
    status = pw.CharField(default=PaymentStatus.PENDING.value)  # a PaymentStatus value
    requester = pw.ForeignKeyField(Requester, backref="payments")
    worker = pw.ForeignKeyField(Worker, backref="payments")
    task = pw.ForeignKeyField(Task, null=True, backref="payments")
    task_run = pw.ForeignKeyField(TaskRun, null=True, backref="payments")
    unit = pw.ForeignKeyField(Unit, null=True, backref="payments")
    amount = DecimalTextField()
    fee = DecimalTextField(default="0")  # what the platform charges the requester on top of `amount`
    currency = pw.CharField(default="USD")
    provider_type = pw.CharField()
    reason = pw.TextField(default="")  # the bonus reason the worker sees, or the approval feedback
    reviewer = pw.CharField(default="")
    provider_reference = pw.CharField(null=True)  # the platform's id of the payment, when it gives one
    error = pw.TextField(default="")  # why the provider refused (a failed payment)
    attempts = pw.IntegerField(default=0)  # how many times the provider was asked
    created_at = pw.DateTimeField(default=utcnow)
    settled_at = pw.DateTimeField(null=True)

    class Meta:
        indexes = ((("task", "status"), False), (("worker", "created_at"), False))

    @property
    def total(self) -> Decimal:
        """What this payment costs the requester: the amount and the fee."""
        return Decimal(self.amount) + Decimal(self.fee)
