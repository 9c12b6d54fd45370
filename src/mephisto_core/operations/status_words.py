"""The words for unit statuses a user may type, and the one vocabulary every command and page shows.

The vocabulary is the stored one: `completed` (submitted, awaiting review), `accepted`, `rejected`,
`soft_rejected`, ... (docs/review.md, "Words"). Words used elsewhere for the same status are aliases, accepted
wherever a status is typed (`--status`, the review app's `status=` query, the data browser), so
`--status approved` means `accepted` instead of being an error.
"""

from __future__ import annotations

from mephisto_core.data_model import UnitStatus

#: Alias -> stored status value. Keys are normalised as `normalise_word` leaves them.
STATUS_ALIASES: dict[str, str] = {
    "approved": UnitStatus.ACCEPTED.value,
    "approve": UnitStatus.ACCEPTED.value,
    "awaiting_review": UnitStatus.COMPLETED.value,
    "submitted": UnitStatus.COMPLETED.value,
    "pending_review": UnitStatus.COMPLETED.value,
    "soft_reject": UnitStatus.SOFT_REJECTED.value,
    "soft_rejected": UnitStatus.SOFT_REJECTED.value,
    "reject": UnitStatus.REJECTED.value,
}

#: What each reviewable status is called on screen (review app, terminal review), next to its stored word.
STATUS_LABELS: dict[str, str] = {
    UnitStatus.COMPLETED.value: "completed (awaiting review)",
    UnitStatus.ACCEPTED.value: "accepted (approved)",
    UnitStatus.REJECTED.value: "rejected",
    UnitStatus.SOFT_REJECTED.value: "soft-rejected",
}


def normalise_word(word: str) -> str:
    """`word` lower-cased, with spaces and hyphens as underscores: `Awaiting review` -> `awaiting_review`."""
    return "_".join(str(word).strip().lower().replace("-", " ").split())


def status_value(word: str) -> str | None:
    """The stored status `word` names (itself or an alias), or None when it names none."""
    value = normalise_word(word)
    if value in {s.value for s in UnitStatus}:
        return value
    return STATUS_ALIASES.get(value)


def aliases_sentence() -> str:
    """The aliases as a short sentence for error messages and help texts."""
    pairs = ", ".join(f"{alias} = {value}" for alias, value in STATUS_ALIASES.items() if alias != value)
    return f"aliases: {pairs}"
