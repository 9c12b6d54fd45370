"""Paying workers through the payments ledger, once per idempotency key, and reading the ledger back.

`PaymentLedger.pay_all` is the one way money leaves: it writes the intent rows
(`pending`) in their own committed transaction, then asks the provider with each row's key, several at once, and
records each outcome as it comes. Asked again with the same key (a bonus pressed twice, a retry after the process
was killed between the platform call and the commit), it returns a paid row untouched and asks the provider again,
with the same key, only when the outcome is unknown (`pending`) or was a refusal (`failed`). Used by
`ReviewActions` (approve, soft reject, bonus) and read by `mephisto payments`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol, Self, cast

import peewee as pw

from mephisto_core.data_model import Database, Requester, Task, Worker
from mephisto_core.data_model.models import utcnow
from mephisto_core.data_model.payments import Payment, PaymentKind, PaymentStatus
from mephisto_core.errors import MephistoError, NotFound
from mephisto_core.operations.recorded_calls import CALLS_AT_ONCE, Together, call_all

#: Longest client key accepted (review app, terminal, scripts); keys are ids, not prose.
MAX_CLIENT_KEY = 128
#: Idempotency keys looked up in one statement (well within SQLite's limit on bound parameters).
KEYS_PER_READ = 500


def bonus_key(unit_id: int, client_key: str) -> str:
    """The idempotency key of a bonus on `unit_id` asked with `client_key` (one press of the bonus button)."""
    if not client_key or len(client_key) > MAX_CLIENT_KEY or not client_key.isprintable():
        raise MephistoError(
            f"a bonus's client key must be 1 to {MAX_CLIENT_KEY} printable characters, got {client_key!r}"
        )
    return f"bonus:unit-{unit_id}:{client_key}"


def default_bonus_client_key(amount: Decimal, reason: str) -> str:
    """The client key of a bonus asked without one (scripts): the same amount and reason on a unit are one bonus.

    So a script re-run after a crash pays once; a second, deliberate bonus of the same amount needs another
    reason or its own client key.
    """
    digest = hashlib.sha256(f"{amount}\n{reason}".encode()).hexdigest()[:32]
    return f"same-{digest}"


def reward_key(unit_id: int, agent_id: int) -> str:
    """The idempotency key of the reward for agent `agent_id`'s work on `unit_id` (paid at most once)."""
    return f"reward:unit-{unit_id}:agent-{agent_id}"


@dataclass(frozen=True)
class PaymentRequest:
    """What the researcher asked to pay: who, for what, how much (with the platform's fee), under which key."""

    kind: PaymentKind
    idempotency_key: str
    requester_id: int
    worker_id: int
    task_id: int | None
    task_run_id: int | None
    unit_id: int | None
    amount: Decimal
    fee: Decimal
    currency: str
    provider_type: str
    reason: str = ""
    reviewer: str = ""


class PaidRecord(Protocol):
    """What a payment writes once the platform paid it (a review record, a unit's new status), in the
    transaction that settles its ledger row: alone, or with the others of its class paid at the same moment."""

    def record(self) -> None:
        """Write this one record."""

    @classmethod
    def record_all(cls, records: Sequence[Self]) -> None:
        """Write all of `records`, as `record` would one by one, in as few statements as the database allows."""


@dataclass(frozen=True)
class PayTogether:
    """How payouts are paid in one platform call: the payouts of one `key` by `call(keys)`, given their
    idempotency keys, which returns per key, in order, the platform's payment id (or None) or the exception
    that refused it."""

    key: Hashable
    call: Callable[[Sequence[str]], Sequence[str | Exception | None]]


@dataclass(frozen=True)
class Payout:
    """One payment to make: the request, how to ask the provider (`call(key)` returns its payment id, or None;
    `together`, when the provider pays many in one call), and what to do around it (see `PaymentLedger.pay_all`)."""

    request: PaymentRequest
    call: Callable[[str], str | None]
    before_intent: Callable[[], None] | None = None
    on_paid: PaidRecord | None = None
    together: PayTogether | None = None


class PaymentLedger:
    """Pays through a provider call and records intent and outcome in the `payment` table of `database`."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def pay_all(self, payouts: Sequence[Payout], at_once: int = CALLS_AT_ONCE) -> list[Payment | Exception]:
        """Pay each of `payouts` once, the provider asked for up to `at_once` of them at a time.

        A payout's `before_intent` runs, inside the intents' transaction, only when no row has its key yet (the
        budget check: a retry of something already committed is never refused). Its `on_paid` is written inside
        the outcome's transaction (the review record, the unit's new status), so the two are committed together
        or not at all. A row already paid is returned as it is, with neither `call` nor `on_paid` run.
        Every intent is committed before the first call. Returns per payout, in order, its row once paid (or
        paid already), or the exception that stopped it: refused before its intent (a key naming another
        payment, `before_intent`), its call's (the row is then `failed`), or its `on_paid`'s (the row stays
        `pending`: asked again, the provider is called again with the same key). Payouts paid at the same
        moment are settled and recorded together (`PaidRecord.record_all`); payouts of one `together` key are
        asked of the provider in one call.
        """
        if not payouts:
            return []
        outcomes: list[Payment | Exception | None] = [None] * len(payouts)
        rows: dict[int, Payment] = {}
        with self.database.write():
            for index, intent in enumerate(self._intents(payouts)):
                if isinstance(intent, Exception):
                    outcomes[index] = intent
                elif intent.status == PaymentStatus.PAID.value:
                    outcomes[index] = intent  # paid already: a second press or a retry pays nothing more
                else:
                    rows[index] = intent
        to_call = list(rows)
        errors = call_all(
            self.database,
            to_call,
            lambda index: payouts[index].call(payouts[index].request.idempotency_key),
            lambda index, reference: _settle(rows[index], reference, payouts[index].on_paid),
            lambda index, exc: _fail(rows[index], exc),
            at_once,
            lambda paid: _settle_all([(rows[index], reference, payouts[index].on_paid) for index, reference in paid]),
            Together(lambda index: _together_key(payouts[index]), lambda indices: _pay_together(payouts, indices)),
        )
        paid = [rows[index].id for index, error in zip(to_call, errors, strict=True) if error is None]
        settled = {row.id: row for row in Payment.select().where(Payment.id.in_(paid))} if paid else {}
        for index, error in zip(to_call, errors, strict=True):
            outcomes[index] = error if error is not None else settled[rows[index].id]
        return cast(list[Payment | Exception], outcomes)  # every payout has its outcome by now

    def _intents(self, payouts: Sequence[Payout]) -> list[Payment | Exception]:
        """Each payout's row (`_intent`), or the exception that refused it. Written together (`_intents_together`)
        unless a key comes twice or another process wrote one of the keys meanwhile; then one by one, each in a
        savepoint of its own, so a refused intent undoes only its own writes."""
        keys = [payout.request.idempotency_key for payout in payouts]
        checked: dict[int, Exception | None] = {}  # each `before_intent` run: the budget is counted once
        if len(set(keys)) == len(keys):
            try:
                with self.database.db.atomic():
                    return _intents_together(payouts, checked)
            except pw.IntegrityError:
                pass  # a key written by another process since it was read: each intent alone finds it
        intents: list[Payment | Exception] = []
        for index, payout in enumerate(payouts):
            refusal = checked.get(index)
            if refusal is not None:
                intents.append(refusal)
                continue
            try:
                with self.database.db.atomic():
                    intents.append(_intent(payout, check=index not in checked))
            except Exception as exc:
                intents.append(exc)
        return intents

    def paid_already(self, requests: Sequence[PaymentRequest]) -> set[str]:
        """The keys of `requests` that were paid already, read together; refused (MephistoError) when a key names
        another payment."""
        by_key = payments_by_key([request.idempotency_key for request in requests])
        paid = set()
        for request in requests:
            row = by_key.get(request.idempotency_key)
            if row is not None:
                _same_request(row, request)
                if row.status == PaymentStatus.PAID.value:
                    paid.add(request.idempotency_key)
        return paid


def _together_key(payout: Payout) -> Hashable | None:
    return None if payout.together is None else payout.together.key


def _pay_together(payouts: Sequence[Payout], indices: Sequence[int]) -> Sequence[str | Exception | None]:
    """Pay the payouts at `indices`, all of one `together` key, in the one call it names."""
    together = payouts[indices[0]].together
    assert together is not None  # only payouts with a key are grouped
    return together.call([payouts[index].request.idempotency_key for index in indices])


def _same_request(row: Payment, request: PaymentRequest) -> None:
    """A key names one payment: reusing it for another worker, unit or amount is a mistake, not a retry."""
    stored = (row.kind, row.worker_id, row.unit_id, Decimal(row.amount))
    asked = (request.kind.value, request.worker_id, request.unit_id, request.amount)
    if stored != asked:
        raise MephistoError(
            f"payment key {request.idempotency_key!r} was already used for a {row.kind} of {row.amount} "
            f"{row.currency} (payment {row.id}); a new payment needs a new client key"
        )


def _intents_together(payouts: Sequence[Payout], checked: dict[int, Exception | None]) -> list[Payment | Exception]:
    """`_intent` for payouts of distinct keys, in four statements for all of them, not three each: each a round
    trip to a database on another machine (200 bonuses took 600 of them). The rows there are read at once; each
    new key's `before_intent` runs in turn, as one by one; the new rows are written with one attempt counted, and
    the others' attempts counted in one UPDATE. `checked` gets each `before_intent` outcome by payout index."""
    by_key = payments_by_key([payout.request.idempotency_key for payout in payouts])
    intents: list[Payment | Exception | None] = [None] * len(payouts)
    new: list[int] = []
    for index, payout in enumerate(payouts):
        row = by_key.get(payout.request.idempotency_key)
        try:
            if row is None:
                if payout.before_intent is not None:
                    checked[index] = None
                    try:
                        payout.before_intent()
                    except Exception as exc:
                        checked[index] = exc
                        raise
                new.append(index)
            else:
                _same_request(row, payout.request)
                intents[index] = row
        except Exception as exc:
            intents[index] = exc
    retried = [row.id for row in intents if isinstance(row, Payment) and row.status != PaymentStatus.PAID.value]
    if retried:
        Payment.update(attempts=Payment.attempts + 1).where(Payment.id.in_(retried)).execute()
    if new:
        Payment.insert_many([_pending_row(payouts[index].request) for index in new]).execute()
        created = payments_by_key([payouts[index].request.idempotency_key for index in new])
        for index in new:
            intents[index] = created[payouts[index].request.idempotency_key]
    return cast(list[Payment | Exception], intents)  # every payout has its row or its refusal by now


def payments_by_key(keys: Sequence[str]) -> dict[str, Payment]:
    """The ledger's rows of `keys`, by key (read KEYS_PER_READ at a time)."""
    found: dict[str, Payment] = {}
    for start in range(0, len(keys), KEYS_PER_READ):
        chunk = keys[start : start + KEYS_PER_READ]
        found.update((row.idempotency_key, row) for row in Payment.select().where(Payment.idempotency_key.in_(chunk)))
    return found


def _pending_row(request: PaymentRequest) -> dict[str, Any]:
    """A new intent's columns: `pending`, and its first provider call counted."""
    return {
        "idempotency_key": request.idempotency_key,
        "kind": request.kind.value,
        "requester": request.requester_id,
        "worker": request.worker_id,
        "task": request.task_id,
        "task_run": request.task_run_id,
        "unit": request.unit_id,
        "amount": request.amount,
        "fee": request.fee,
        "currency": request.currency,
        "provider_type": request.provider_type,
        "reason": request.reason,
        "reviewer": request.reviewer,
        "attempts": 1,
    }


def _intent(payout: Payout, check: bool = True) -> Payment:
    """The payout's row, written now (`pending`) when no row has its key yet; its attempts counted. `check`: run
    its `before_intent` (not when `_intents_together` ran it already)."""
    request = payout.request
    row: Payment | None = Payment.get_or_none(Payment.idempotency_key == request.idempotency_key)
    if row is None:
        if check and payout.before_intent is not None:
            payout.before_intent()
        return cast(Payment, Payment.create(**_pending_row(request)))
    _same_request(row, request)
    if row.status != PaymentStatus.PAID.value:
        Payment.update(attempts=Payment.attempts + 1).where(Payment.id == row.id).execute()
    return row


def _settle(row: Payment, reference: str | None, on_paid: PaidRecord | None) -> None:
    _mark_paid([(row, reference)])
    if on_paid is not None:
        on_paid.record()


def _settle_all(paid: Sequence[tuple[Payment, str | None, PaidRecord | None]]) -> None:
    """`_settle` for several rows: one UPDATE for the rows, then each class's records together. One statement fewer
    per row and class than one by one, each a round trip to a remote database."""
    _mark_paid([(row, reference) for row, reference, _ in paid])
    by_class: dict[type[PaidRecord], list[PaidRecord]] = {}
    for _, _, record in paid:
        if record is not None:
            by_class.setdefault(type(record), []).append(record)
    for record_class, records in by_class.items():
        record_class.record_all(records)


def _mark_paid(rows: Sequence[tuple[Payment, str | None]]) -> None:
    """The rows `paid` in one UPDATE, each with its own provider reference."""
    references = [(row.id, str(reference)) for row, reference in rows if reference is not None]
    Payment.update(
        status=PaymentStatus.PAID.value,
        provider_reference=pw.Case(Payment.id, references, None) if references else None,
        error="",
        settled_at=utcnow(),
    ).where(Payment.id.in_([row.id for row, _ in rows])).execute()


def _fail(row: Payment, exc: Exception) -> None:
    Payment.update(status=PaymentStatus.FAILED.value, error=f"{type(exc).__name__}: {exc}").where(
        Payment.id == row.id
    ).execute()


@dataclass(frozen=True)
class PaymentRecord:
    """One ledger row as `mephisto payments` shows it."""

    id: int
    kind: str
    status: str
    task: str | None
    worker: str
    provider_type: str
    requester: str
    unit_id: int | None
    amount: Decimal
    fee: Decimal
    currency: str
    reason: str
    reviewer: str
    provider_reference: str | None
    error: str
    attempts: int
    created_at: str
    settled_at: str | None

    def as_json(self) -> dict[str, Any]:
        """The record with amounts as exact decimal text and times as ISO text."""
        return {**self.__dict__, "amount": str(self.amount), "fee": str(self.fee)}


def list_payments(task: str | None = None, worker: str | None = None) -> list[PaymentRecord]:
    """Every ledger row, oldest first, of task `task` and/or worker `worker` (the provider's worker id)."""
    query = (
        Payment.select(
            Payment,
            Task.name.alias("task_name"),
            Worker.name.alias("worker_name"),
            Requester.name.alias("requester_name"),
        )
        .join(Worker, on=Payment.worker == Worker.id)
        .switch(Payment)
        .join(Requester, on=Payment.requester == Requester.id)
        .switch(Payment)
        .join(Task, on=Payment.task == Task.id, join_type=pw.JOIN.LEFT_OUTER)
        .order_by(Payment.id)
        .objects()  # one flat row: the three names under their aliases
    )
    if task is not None:
        if Task.get_or_none(Task.name == task) is None:
            raise NotFound(f"no task named {task!r}")
        query = query.where(Task.name == task)
    if worker is not None:
        if Worker.get_or_none(Worker.name == worker) is None:
            raise NotFound(f"no worker named {worker!r}")
        query = query.where(Worker.name == worker)
    records = []
    for row in query:
        records.append(
            PaymentRecord(
                id=row.id,
                kind=row.kind,
                status=row.status,
                task=row.task_name,
                worker=row.worker_name,
                provider_type=row.provider_type,
                requester=row.requester_name,
                unit_id=row.unit_id,
                amount=Decimal(row.amount),
                fee=Decimal(row.fee),
                currency=row.currency,
                reason=row.reason,
                reviewer=row.reviewer,
                provider_reference=row.provider_reference,
                error=row.error,
                attempts=row.attempts,
                created_at=row.created_at.isoformat(timespec="seconds"),
                settled_at=None if row.settled_at is None else row.settled_at.isoformat(timespec="seconds"),
            )
        )
    return records
