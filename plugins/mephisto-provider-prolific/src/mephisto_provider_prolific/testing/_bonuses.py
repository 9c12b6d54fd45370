"""Bonuses: a bulk bonus is set up from CSV lines (`<participant or submission id>,<amount>`), then paid."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from mephisto_provider_prolific.testing._request import ApiRequest, ApiResponse
from mephisto_provider_prolific.testing._store import BulkBonus, Store, Submission, bad_request, new_id


def _parse_rows(store: Store, study_id: str, csv_bonuses: str) -> list[tuple[str, str, int]]:
    """(participant id, submission id, cents) per line; every id must have taken part in the study."""
    by_participant: dict[str, Submission] = {}
    by_submission: dict[str, Submission] = {}
    for submission in store.submissions_of(study_id):
        by_participant[submission.participant_id] = submission
        by_submission[submission.id] = submission
    rows: list[tuple[str, str, int]] = []
    problems: list[str] = []
    for number, line in enumerate(csv_bonuses.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [part.strip() for part in line.split(",")]
        if len(parts) != 2:
            problems.append(f"line {number}: expected '<participant_id>,<amount>', got {line!r}")
            continue
        ident, raw_amount = parts
        try:
            amount = Decimal(raw_amount)
        except InvalidOperation:
            problems.append(f"line {number}: {raw_amount!r} is not an amount")
            continue
        if not amount.is_finite() or amount <= 0 or amount.as_tuple().exponent < -2:  # type: ignore[operator]
            problems.append(f"line {number}: the amount must be positive with at most 2 decimals, got {raw_amount!r}")
            continue
        found = by_participant.get(ident) or by_submission.get(ident)
        if found is None:
            problems.append(f"line {number}: {ident!r} has not taken part in study {study_id}")
            continue
        rows.append((found.participant_id, found.id, int(amount * 100)))
    if problems:
        raise bad_request({"csv_bonuses": problems})
    if not rows:
        raise bad_request({"csv_bonuses": ["No bonus lines given."]})
    return rows


def create_bulk_bonus(store: Store, request: ApiRequest) -> ApiResponse:
    body = request.json_object()
    study_id, csv_bonuses = body.get("study_id"), body.get("csv_bonuses")
    if not isinstance(study_id, str) or not isinstance(csv_bonuses, str):
        raise bad_request({"study_id": ["This field is required."], "csv_bonuses": ["This field is required."]})
    store.study(study_id)
    rows = _parse_rows(store, study_id, csv_bonuses)
    amount = sum(cents for _, _, cents in rows)
    fees, vat = store.fee_on(amount)
    bonus = BulkBonus(new_id(), study_id, csv_bonuses, rows, amount, fees, vat)
    store.bonuses[bonus.id] = bonus
    return ApiResponse(201, bonus.to_json())


def pay_bulk_bonus(store: Store, request: ApiRequest) -> ApiResponse:
    bonus = store.bonuses.get(request.params["bonus_id"])
    if bonus is None:
        raise bad_request(f"Bulk bonus payment {request.params['bonus_id']!r} does not exist.")
    if bonus.times_paid and not store.pay_twice:
        raise bad_request(f"Bulk bonus payment {bonus.id} has already been paid.")
    workspace = store.workspace(store.study(bonus.study_id).workspace_id)
    if bonus.total_amount > workspace.balance_cents:
        raise bad_request(f"Insufficient balance: {bonus.total_amount} needed, {workspace.balance_cents} available.")
    workspace.balance_cents -= bonus.total_amount
    bonus.times_paid += 1
    for _, submission_id, cents in bonus.rows:
        store.submissions[submission_id].bonus_cents.append(cents)
    return ApiResponse(202, {})
