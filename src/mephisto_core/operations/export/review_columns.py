"""The flat review columns of an exported unit: its verdict, the verdict's feedback, the bonuses and when.

`review` (every review action, oldest first) stays beside them for the full history; these four answer the
questions an analysis asks of every row without parsing that list.
"""

from __future__ import annotations

from typing import Any

#: The flat columns, in the order they follow `review` in an export object.
REVIEW_COLUMNS: tuple[str, ...] = ("review_status", "review_feedback", "bonus_total", "reviewed_at")

#: A verdict's review kind -> the unit status it leaves (the stored vocabulary, see operations.status_words).
VERDICT_STATUS: dict[str, str] = {"approve": "accepted", "reject": "rejected", "soft_reject": "soft_rejected"}


def review_columns(review: list[dict[str, Any]]) -> dict[str, Any]:
    """`review_status` (the latest verdict as a unit status: accepted, rejected or soft_rejected; None until a
    reviewer decided), `review_feedback` (that verdict's feedback, None without one), `bonus_total` (the sum of
    the unit's bonuses, 0.0 without any) and `reviewed_at` (when the latest verdict was given, ISO text or None).
    """
    verdict: dict[str, Any] | None = None
    bonus_cents = 0
    for action in review:
        kind = action["kind"]
        if kind in VERDICT_STATUS:
            verdict = action  # oldest first: the last one wins (a verdict may be changed)
        elif kind == "bonus" and action["amount"] is not None:
            bonus_cents += round(action["amount"] * 100)  # in cents: summing floats would drift
    return {
        "review_status": VERDICT_STATUS[verdict["kind"]] if verdict is not None else None,
        "review_feedback": (verdict["feedback"] or None) if verdict is not None else None,
        "bonus_total": bonus_cents / 100,
        "reviewed_at": verdict["created_at"] if verdict is not None else None,
    }
