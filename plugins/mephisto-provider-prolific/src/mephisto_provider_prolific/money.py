"""Money as Prolific wants it: rewards in integer cents (pence), bonuses as decimal amounts with two places."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from mephisto_core.errors import ProviderError

_CENT = Decimal("0.01")


def to_cents(amount: Decimal, what: str = "reward") -> int:
    """`amount` (in the task's currency, e.g. 0.50) as integer cents (50), exactly.

    Prolific counts rewards in the smallest unit of the currency; an amount with a fraction of a cent cannot be
    paid there, so it is refused rather than rounded.
    """
    try:
        cents = Decimal(amount) * 100
    except InvalidOperation as exc:
        raise ProviderError(f"the {what} {amount!r} is not a number") from exc
    if not cents.is_finite():
        raise ProviderError(f"the {what} {amount} is not a finite amount")
    if cents != cents.to_integral_value():
        raise ProviderError(
            f"the {what} {amount} has a fraction of a cent; Prolific pays whole cents (pence), "
            f"e.g. {Decimal(amount).quantize(_CENT)}"
        )
    if cents < 0:
        raise ProviderError(f"the {what} {amount} is negative")
    return int(cents)


def bonus_text(amount: Decimal) -> str:
    """A bonus as Prolific's bulk-bonus CSV takes it: the amount in the currency with two places ("0.50")."""
    cents = to_cents(amount, "bonus")
    if cents == 0:
        raise ProviderError("a bonus must be more than 0")
    return str((Decimal(cents) / 100).quantize(_CENT))
