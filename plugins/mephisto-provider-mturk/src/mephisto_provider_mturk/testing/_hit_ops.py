"""HIT types, HITs, assignments and money: the requester operations around work."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ._errors import insufficient_funds, request_error
from ._operations import Call, operation
from ._questions import check_question
from ._records import HIT, AssignmentState, Bonus, HITType, new_id
from ._requirements import check_requirements
from ._state import (
    TOKEN_LIFETIME,
    fee_for,
    listing,
    money,
    paginate,
    reward_fee_rate,
)
from ._views import assignment_view, bonus_view, hit_view

_MIN_SECONDS, _MAX_SECONDS = 30, 31_536_000
_MAX_AUTO_APPROVAL = 2_592_000  # 30 days, also MTurk's default


def _seconds(params: dict[str, Any], name: str, low: int, high: int, default: int | None = None) -> int:
    value = params.get(name, default)
    if value is None or not low <= value <= high:
        raise request_error(f"{name} must be between {low} and {high} seconds, not {value}.", "AWS.ParameterOutOfRange")
    return int(value)


def _reward(params: dict[str, Any]) -> Decimal:
    reward = Decimal(params["Reward"])
    if reward < Decimal("0.01"):
        raise request_error("Reward must be at least 0.01.", "AWS.ParameterOutOfRange")
    return reward


def _hit_type(call: Call) -> HITType:
    """Find or make the HIT type the parameters describe (same values, same id)."""
    params = call.params
    requirements = params.get("QualificationRequirements", [])
    check_requirements(call.state, requirements)
    candidate = HITType(
        hit_type_id="",
        owner=call.owner,
        title=params["Title"],
        description=params["Description"],
        reward=_reward(params),
        assignment_duration=_seconds(params, "AssignmentDurationInSeconds", _MIN_SECONDS, _MAX_SECONDS),
        auto_approval_delay=_seconds(params, "AutoApprovalDelayInSeconds", 0, _MAX_AUTO_APPROVAL, _MAX_AUTO_APPROVAL),
        keywords=params.get("Keywords", ""),
        requirements=requirements,
    )
    for existing in call.state.hit_types.values():
        if existing.identity() == candidate.identity():
            return existing
    candidate.hit_type_id = new_id()
    call.state.hit_types[candidate.hit_type_id] = candidate
    call.state.hit_type_groups[candidate.hit_type_id] = new_id()
    return candidate


def _create_hit(call: Call, hit_type: HITType) -> dict[str, Any]:
    params, state = call.params, call.state
    token = params.get("UniqueRequestToken")
    if token is not None:
        seen = state.hit_tokens.get((call.owner, token))
        if seen is not None and call.now - seen[1] < TOKEN_LIFETIME:
            raise request_error(
                f"There is already a HIT with the UniqueRequestToken {token!r}: HITId {seen[0]}.",
                "AWS.MechanicalTurk.HitAlreadyExists",
            )
    if "HITLayoutId" in params:
        raise request_error("The fake MTurk does not support HIT layouts; send a Question.", "AWS.ParameterOutOfRange")
    if "Question" not in params:
        raise request_error("Either a Question or a HITLayoutId must be provided.", "AWS.MissingParameters")
    check_question(params["Question"], require_https=call.require_https)
    lifetime = _seconds(params, "LifetimeInSeconds", _MIN_SECONDS, _MAX_SECONDS)
    max_assignments = params.get("MaxAssignments", 1)
    if not 1 <= max_assignments <= 1_000_000_000:
        raise request_error(f"MaxAssignments must be at least 1, not {max_assignments}.", "AWS.ParameterOutOfRange")
    reward = hit_type.reward
    cost = (reward + fee_for(reward, rate=reward_fee_rate(max_assignments))) * max_assignments
    # MTurk refuses a HIT the balance cannot pay for in full; the money moves on approval.
    if cost > state.accounts[call.owner].balance:
        raise insufficient_funds()
    hit = HIT(
        hit_id=new_id(),
        hit_type=hit_type,
        created=call.now,
        expiration=call.now + lifetime,
        max_assignments=max_assignments,
        question=params["Question"],
        annotation=params.get("RequesterAnnotation"),
        token=token,
    )
    state.hits[hit.hit_id] = hit
    if token is not None:
        state.hit_tokens[(call.owner, token)] = (hit.hit_id, call.now)
    return {"HIT": hit_view(state, hit, call.now)}


@operation("GetAccountBalance")
def get_account_balance(call: Call) -> dict[str, Any]:
    balance = call.state.accounts[call.owner].balance
    return {"AvailableBalance": money(balance), "OnHoldBalance": "0.00"}


@operation("CreateHITType")
def create_hit_type(call: Call) -> dict[str, Any]:
    return {"HITTypeId": _hit_type(call).hit_type_id}


@operation("CreateHITWithHITType")
def create_hit_with_hit_type(call: Call) -> dict[str, Any]:
    hit_type = call.state.hit_types.get(call.params["HITTypeId"])
    if hit_type is None or hit_type.owner != call.owner:
        raise request_error(
            f"HITType {call.params['HITTypeId']} does not exist.", "AWS.MechanicalTurk.HITTypeDoesNotExist"
        )
    return _create_hit(call, hit_type)


@operation("CreateHIT")
def create_hit(call: Call) -> dict[str, Any]:
    return _create_hit(call, _hit_type(call))


@operation("GetHIT")
def get_hit(call: Call) -> dict[str, Any]:
    hit = call.state.owned_hit(call.owner, call.params["HITId"])
    return {"HIT": hit_view(call.state, hit, call.now)}


def _own_hits(call: Call) -> list[HIT]:
    return [h for h in call.state.hits.values() if h.hit_type.owner == call.owner and not h.deleted]


@operation("ListHITs")
def list_hits(call: Call) -> dict[str, Any]:
    page, token = paginate(_own_hits(call), call.params)
    return listing("HITs", [hit_view(call.state, h, call.now) for h in page], token)


@operation("ListReviewableHITs")
def list_reviewable_hits(call: Call) -> dict[str, Any]:
    wanted = call.params.get("Status", "Reviewable")
    type_id = call.params.get("HITTypeId")
    hits = [
        h
        for h in _own_hits(call)
        if call.state.hit_status(h, call.now) == wanted and (type_id is None or h.hit_type.hit_type_id == type_id)
    ]
    page, token = paginate(hits, call.params)
    return listing("HITs", [hit_view(call.state, h, call.now) for h in page], token)


@operation("UpdateExpirationForHIT")
def update_expiration_for_hit(call: Call) -> dict[str, Any]:
    hit = call.state.owned_hit(call.owner, call.params["HITId"])
    if hit.deleted:
        raise request_error(f"Hit {hit.hit_id} has been deleted.", "AWS.MechanicalTurk.InvalidHITState")
    # A time in the past expires the HIT now; a future time extends (or revives) it.
    hit.expiration = max(call.now, float(call.params["ExpireAt"]))
    return {}


@operation("UpdateHITReviewStatus")
def update_hit_review_status(call: Call) -> dict[str, Any]:
    hit = call.state.owned_hit(call.owner, call.params["HITId"])
    status = call.state.hit_status(hit, call.now)
    revert = call.params.get("Revert", False)
    needed = "Reviewing" if revert else "Reviewable"
    if status != needed:
        raise request_error(
            f"This HIT is currently in the state '{status}'.  This operation can be called with a status of: {needed}",
            "AWS.MechanicalTurk.InvalidHITState",
        )
    hit.reviewing = not revert
    return {}


@operation("DeleteHIT")
def delete_hit(call: Call) -> dict[str, Any]:
    hit = call.state.owned_hit(call.owner, call.params["HITId"])
    status = call.state.hit_status(hit, call.now)
    if status not in ("Reviewable", "Reviewing"):
        raise request_error(
            f"This HIT is currently in the state '{status}'.  This operation can be called "
            "with a status of: Reviewable, Reviewing",
            "AWS.MechanicalTurk.InvalidHITState",
        )
    if any(a.state is AssignmentState.SUBMITTED for a in call.state.hit_assignments(hit)):
        raise request_error(
            f"Hit {hit.hit_id} has submitted assignments that are not yet approved or rejected.",
            "AWS.MechanicalTurk.InvalidHITState",
        )
    hit.deleted = True
    return {}


@operation("CreateAdditionalAssignmentsForHIT")
def create_additional_assignments_for_hit(call: Call) -> dict[str, Any]:
    params, state = call.params, call.state
    hit = state.owned_hit(call.owner, params["HITId"])
    token = params.get("UniqueRequestToken")
    if token is not None:
        seen = state.extension_tokens.get((call.owner, token))
        if seen is not None and call.now - seen < TOKEN_LIFETIME:
            raise request_error(
                f'The idempotency token "{token}" has already been processed.',
                "AWS.MechanicalTurk.DuplicateRequest",
            )
    extra = params["NumberOfAdditionalAssignments"]
    if extra < 1:
        raise request_error("NumberOfAdditionalAssignments must be at least 1.", "AWS.ParameterOutOfRange")
    if hit.deleted:
        raise request_error(f"Hit {hit.hit_id} has been deleted.", "AWS.MechanicalTurk.InvalidHITState")
    # MTurk's pricing rule: a HIT made with fewer than 10 assignments cannot grow to 10 or more.
    if hit.max_assignments < 10 <= hit.max_assignments + extra:
        raise request_error(
            "HITs created with fewer than 10 assignments cannot be extended to have 10 or more assignments.",
            "AWS.MechanicalTurk.InvalidMaximumAssignmentsIncrease",
        )
    reward = hit.hit_type.reward
    if (reward + fee_for(reward, rate=reward_fee_rate(hit.max_assignments))) * extra > state.accounts[
        call.owner
    ].balance:
        raise insufficient_funds()
    hit.max_assignments += extra
    if token is not None:
        state.extension_tokens[(call.owner, token)] = call.now
    return {}


@operation("ListAssignmentsForHIT")
def list_assignments_for_hit(call: Call) -> dict[str, Any]:
    hit = call.state.owned_hit(call.owner, call.params["HITId"])
    statuses = set(call.params.get("AssignmentStatuses", ["Submitted", "Approved", "Rejected"]))
    chosen = [a for a in call.state.hit_assignments(hit) if a.state.visible and a.state.value in statuses]
    page, token = paginate(chosen, call.params)
    return listing("Assignments", [assignment_view(a) for a in page], token)


@operation("GetAssignment")
def get_assignment(call: Call) -> dict[str, Any]:
    assignment = call.state.owned_assignment(call.owner, call.params["AssignmentId"])
    hit = call.state.hits[assignment.hit_id]
    return {"Assignment": assignment_view(assignment), "HIT": hit_view(call.state, hit, call.now)}


def _wrong_state(allowed: str) -> Exception:
    return request_error(
        f"This operation can be called with a status of: {allowed}",
        "AWS.MechanicalTurk.InvalidAssignmentState",
    )


@operation("ApproveAssignment")
def approve_assignment(call: Call) -> dict[str, Any]:
    assignment = call.state.owned_assignment(call.owner, call.params["AssignmentId"])
    if assignment.state is AssignmentState.REJECTED and call.params.get("OverrideRejection"):
        hit = call.state.hits[assignment.hit_id]
        submitted = assignment.submitted or 0.0
        if hit.deleted or call.now - submitted > 30 * 24 * 3600:
            raise _wrong_state("Submitted")
    elif assignment.state is not AssignmentState.SUBMITTED:
        raise _wrong_state("Submitted")
    call.state.approve(assignment, when=call.now, feedback=call.params.get("RequesterFeedback"))
    return {}


@operation("RejectAssignment")
def reject_assignment(call: Call) -> dict[str, Any]:
    assignment = call.state.owned_assignment(call.owner, call.params["AssignmentId"])
    if assignment.state is not AssignmentState.SUBMITTED:
        raise _wrong_state("Submitted")
    assignment.state = AssignmentState.REJECTED
    assignment.rejected = call.now
    assignment.feedback = call.params["RequesterFeedback"]
    return {}


@operation("SendBonus")
def send_bonus(call: Call) -> dict[str, Any]:
    params, state = call.params, call.state
    assignment = state.owned_assignment(call.owner, params["AssignmentId"])
    if assignment.worker_id != params["WorkerId"]:
        raise request_error(
            f"Worker {params['WorkerId']} did not work on assignment {assignment.assignment_id}.",
            "AWS.ParameterOutOfRange",
        )
    token = params.get("UniqueRequestToken")
    if token is not None:
        seen = state.bonus_tokens.get((call.owner, token))
        if seen is not None and call.now - seen < TOKEN_LIFETIME:
            raise request_error(
                f'The idempotency token "{token}" has already been processed.',
                "AWS.MechanicalTurk.DuplicateRequest",
            )
    amount = Decimal(params["BonusAmount"])
    if amount <= 0:
        raise request_error("BonusAmount must be more than 0.", "AWS.ParameterOutOfRange")
    state.debit(call.owner, amount + fee_for(amount), f"bonus {assignment.assignment_id}")
    state.bonuses.append(
        Bonus(
            owner=call.owner,
            worker_id=assignment.worker_id,
            assignment_id=assignment.assignment_id,
            hit_id=assignment.hit_id,
            amount=amount,
            reason=params["Reason"],
            granted=call.now,
            token=token,
        )
    )
    if token is not None:
        state.bonus_tokens[(call.owner, token)] = call.now
    return {}


@operation("ListBonusPayments")
def list_bonus_payments(call: Call) -> dict[str, Any]:
    params = call.params
    if "HITId" in params:
        call.state.owned_hit(call.owner, params["HITId"])
        chosen = [b for b in call.state.bonuses if b.owner == call.owner and b.hit_id == params["HITId"]]
    elif "AssignmentId" in params:
        chosen = [b for b in call.state.bonuses if b.owner == call.owner and b.assignment_id == params["AssignmentId"]]
    else:
        raise request_error("Either the HITId or the AssignmentId must be given.", "AWS.MissingParameters")
    page, token = paginate(chosen, params)
    return listing("BonusPayments", [bonus_view(b) for b in page], token)
