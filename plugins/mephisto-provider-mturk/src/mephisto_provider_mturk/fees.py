"""MTurk's commission: 20% of each reward and bonus, 20% more for HITs with 10 or more assignments; at least $0.01."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
BASE_RATE = Decimal("0.20")
#: Added to the base rate for a HIT with this many assignments or more.
LARGE_HIT_ASSIGNMENTS = 10
LARGE_HIT_RATE = Decimal("0.20")
MINIMUM_FEE = CENT
#: The line `mephisto check` shows.
FEE_SCHEDULE = (
    "MTurk commission: 20% of every reward and bonus (at least $0.01), 20% more on HITs with 10+ assignments "
    "(mephisto publishes one assignment per HIT, so 20%)"
)


def mturk_fee(amount: Decimal, assignments_per_hit: int = 1) -> Decimal:
    """MTurk's fee on paying `amount` (dollars) to a worker of a HIT with `assignments_per_hit` assignments."""
    if amount <= 0:
        return Decimal("0.00")
    rate = BASE_RATE + (LARGE_HIT_RATE if assignments_per_hit >= LARGE_HIT_ASSIGNMENTS else 0)
    return max((amount * rate).quantize(CENT, rounding=ROUND_HALF_UP), MINIMUM_FEE)


def dollars(amount: Decimal) -> str:
    """A dollar amount as MTurk's CurrencyAmount string ("0.50"); refuses fractions of a cent."""
    quantized = amount.quantize(CENT)
    if quantized != amount:
        raise ValueError(f"MTurk pays whole cents; {amount} has a fraction of a cent")
    return f"{quantized:.2f}"
