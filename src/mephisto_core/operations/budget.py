"""The budget cap (`[task] max_budget`): what a task has committed to pay, and refusing what would cross the cap.

Committed is counted, not only paid: every unit offered (or being published), in progress, submitted or approved
(its reward and the platform's fee on it), and every bonus paid or still pending in the payments ledger (with its
fee). Rejected and withdrawn units commit nothing. The count covers every run of the task, since launching the
same task again resumes it under the same cap.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import peewee as pw

from mephisto_core.data_model import Unit, UnitStatus
from mephisto_core.data_model.payments import Payment, PaymentKind, PaymentStatus
from mephisto_core.data_model.publishing import IntentState, PublishIntent
from mephisto_core.errors import MephistoError

if TYPE_CHECKING:
    from mephisto_core.abstractions import CrowdProvider
    from mephisto_core.operations.run.run_context import RunContext

log = logging.getLogger(__name__)

#: Unit statuses whose reward is committed: offered, held, submitted (payable on approval) or paid.
COMMITTED_UNIT_STATUSES = (
    UnitStatus.LAUNCHED,
    UnitStatus.ASSIGNED,
    UnitStatus.COMPLETED,
    UnitStatus.ACCEPTED,
    UnitStatus.SOFT_REJECTED,
)
#: Payment statuses that count against the cap: paid, or asked with the outcome unknown.
COMMITTED_PAYMENT_STATUSES = (PaymentStatus.PAID, PaymentStatus.PENDING)


class BudgetExceeded(MephistoError):
    """Launching, relaunching or paying would let a task's committed cost pass its `max_budget`."""


def task_budget(task_section: dict[str, Any] | Any) -> tuple[Decimal | None, str]:
    """(`max_budget` or None, `currency`) of a `[task]` section: a TaskArgs or a run's stored config dict."""
    if isinstance(task_section, dict):
        cap = task_section.get("max_budget")
        currency = task_section.get("currency") or "USD"
    else:
        cap = getattr(task_section, "max_budget", None)
        currency = getattr(task_section, "currency", "USD")
    return (None if cap is None else Decimal(str(cap))), str(currency)


def committed_cost(task_id: int, provider: CrowdProvider) -> Decimal:
    """What task `task_id` has committed to pay over all its runs: units' rewards and fees, bonuses and fees."""
    total = Decimal("0")
    # A unit being published at a platform (an open publish intent) is still `created` or `expired` here, but the
    # platform may have offered it already: it counts as committed.
    being_published = PublishIntent.select(PublishIntent.unit).where(PublishIntent.state == IntentState.PENDING.value)
    units = (
        Unit.select(Unit.pay_amount, pw.fn.COUNT(Unit.id))
        .where(
            (Unit.task == task_id)
            & (Unit.status.in_([s.value for s in COMMITTED_UNIT_STATUSES]) | Unit.id.in_(being_published))
        )
        .group_by(Unit.pay_amount)
        .tuples()
    )
    for pay, count in units:
        reward = Decimal(str(pay))
        total += (reward + Decimal(provider.fee(reward))) * int(count)
    bonuses = Payment.select(Payment.amount, Payment.fee).where(
        (Payment.task == task_id)
        & (Payment.kind == PaymentKind.BONUS.value)
        & Payment.status.in_([s.value for s in COMMITTED_PAYMENT_STATUSES])
    )
    for payment in bonuses:
        total += payment.total
    return total


class BudgetTally:
    """Refusing commitments that would pass a task's `max_budget`, made one after the other in one transaction (a
    bulk bonus; a tally of its own for a single check): each task's committed cost is read once, and every
    commitment let through is added to it, instead of reading the task's units and bonuses again for each (9-12 ms
    each at 20,000 units: seconds for a bulk of 500).

    In a SQLite write transaction nobody else writes meanwhile, so the sum is what a new reading would give. On
    PostgreSQL another process's commits during the bulk count from the next bulk on, as a check and the
    commitment it lets through were never one step across processes anyway. A commitment let through and then not
    written (its intent refused) stays counted: the tally errs towards refusing.
    """

    def __init__(self) -> None:
        self._committed: dict[int, Decimal] = {}

    def refuse_over_budget(
        self,
        task_id: int,
        task_section: dict[str, Any] | Any,
        provider: CrowdProvider,
        adding: Decimal,
        doing: str | Callable[[], str],
    ) -> None:
        """Raise BudgetExceeded when committing `adding` more to task `task_id` would pass its `max_budget`; once let
        through, `adding` counts from then on. Nothing happens when the task has no cap. `doing` says what was
        refused ("offering 5 units"), for the message."""
        cap, currency = task_budget(task_section)
        if cap is None or adding <= 0:
            return
        committed = self._committed.get(task_id)
        if committed is None:
            committed = committed_cost(task_id, provider)
        if committed + adding > cap:
            what = doing() if callable(doing) else doing
            raise BudgetExceeded(
                f"refused {what}: it would commit {money_text(adding)} {currency} on top of the "
                f"{money_text(committed)} {currency} the task has committed (units offered, in progress or done, "
                f"bonuses paid or pending, fees included), passing task.max_budget = {money_text(cap)} {currency}. "
                "Raise task.max_budget (e.g. `mephisto launch TASK_FILE task.max_budget=...`) or see what is "
                "committed with `mephisto payments`."
            )
        self._committed[task_id] = committed + adding


def money_text(value: Decimal) -> str:
    """Two decimals for whole cents, every digit for fractions of a cent (never hides part of an amount)."""
    if value == value.quantize(Decimal("0.01")):
        return f"{value:.2f}"
    return format(value.normalize(), "f")


def refuse_offer_over_budget(
    task_id: int, task_section: Any, provider: CrowdProvider, units: int | Callable[[], int], reward: Decimal
) -> None:
    """Refuse offering `units` more units paying `reward` each when that could pass the task's `max_budget`.

    `units` may be a function counting them, called only when the task has a cap (counting costs a query).
    """
    cap, _ = task_budget(task_section)
    if cap is None:
        return
    count = units() if callable(units) else units
    per_unit = Decimal(reward) + Decimal(provider.fee(Decimal(reward)))
    BudgetTally().refuse_over_budget(task_id, task_section, provider, per_unit * count, f"offering {count} more units")


def offer_fits(ctx: RunContext, units: int | Callable[[], int]) -> bool:
    """Whether the launcher may offer `units` more units of the run `ctx` serves under the task's `max_budget`.

    While units of the run are offered or in progress, a refused offer only waits (False, logged once per run):
    the workers holding units finish and are acknowledged. When nothing is in progress any more, BudgetExceeded
    is raised, so a launch that cannot offer anything (its start, a resume) stops with the sentence saying why.
    """
    task = ctx.config.task
    try:
        refuse_offer_over_budget(ctx.task.id, task, ctx.provider, units, task.reward)
    except BudgetExceeded as exc:
        active = (
            Unit.select()
            .where(
                (Unit.task_run == ctx.run.id) & Unit.status.in_([UnitStatus.LAUNCHED.value, UnitStatus.ASSIGNED.value])
            )
            .count()
        )
        if not active:
            raise
        if ctx.run.id not in _waiting_runs:
            _waiting_runs.add(ctx.run.id)
            log.warning("%s The %d units offered or in progress go on; the run stops when they are done.", exc, active)
        return False
    _waiting_runs.discard(ctx.run.id)
    return True


#: Runs told (once) that offering waits for the budget; a run is told again after an offer fits.
_waiting_runs: set[int] = set()
