"""The fake's records as the requester API's structures (HIT, Assignment, QualificationType...)."""

from __future__ import annotations

from typing import Any

from ._records import HIT, Assignment, Bonus, QualificationType, Score
from ._state import FakeState, money


def hit_view(state: FakeState, hit: HIT, now: float) -> dict[str, Any]:
    """The HIT structure, with its derived status and counts."""
    pending, available, completed = state.counts(hit, now)
    hit_type = hit.hit_type
    view: dict[str, Any] = {
        "HITId": hit.hit_id,
        "HITTypeId": hit_type.hit_type_id,
        "HITGroupId": state.hit_type_groups[hit_type.hit_type_id],
        "CreationTime": hit.created,
        "Title": hit_type.title,
        "Description": hit_type.description,
        "Question": hit.question,
        "Keywords": hit_type.keywords,
        "HITStatus": state.hit_status(hit, now),
        "MaxAssignments": hit.max_assignments,
        "Reward": money(hit_type.reward),
        "AutoApprovalDelayInSeconds": hit_type.auto_approval_delay,
        "Expiration": hit.expiration,
        "AssignmentDurationInSeconds": hit_type.assignment_duration,
        "QualificationRequirements": hit_type.requirements,
        "HITReviewStatus": hit.review_status,
        "NumberOfAssignmentsPending": pending,
        "NumberOfAssignmentsAvailable": available,
        "NumberOfAssignmentsCompleted": completed,
    }
    if hit.annotation is not None:
        view["RequesterAnnotation"] = hit.annotation
    return view


def assignment_view(assignment: Assignment) -> dict[str, Any]:
    """The Assignment structure; times the assignment has not reached are left out, as MTurk does."""
    view: dict[str, Any] = {
        "AssignmentId": assignment.assignment_id,
        "WorkerId": assignment.worker_id,
        "HITId": assignment.hit_id,
        "AssignmentStatus": assignment.state.value,
        "AcceptTime": assignment.accepted,
        "Deadline": assignment.deadline,
    }
    optional = {
        "AutoApprovalTime": assignment.auto_approval_at,
        "SubmitTime": assignment.submitted,
        "ApprovalTime": assignment.approved,
        "RejectionTime": assignment.rejected,
        "Answer": assignment.answer,
        "RequesterFeedback": assignment.feedback,
    }
    view.update({key: value for key, value in optional.items() if value is not None})
    return view


def qualification_type_view(qtype: QualificationType) -> dict[str, Any]:
    """The QualificationType structure."""
    view: dict[str, Any] = {
        "QualificationTypeId": qtype.type_id,
        "CreationTime": qtype.created,
        "Name": qtype.name,
        "Description": qtype.description,
        "Keywords": qtype.keywords,
        "QualificationTypeStatus": qtype.status,
        # System types are granted by MTurk; a requester's types can be requested by workers.
        "IsRequestable": qtype.owner is not None,
        "AutoGranted": qtype.auto_granted,
    }
    if qtype.auto_granted:
        view["AutoGrantedValue"] = qtype.auto_granted_value
    optional = {
        "RetryDelayInSeconds": qtype.retry_delay,
        "Test": qtype.test,
        "AnswerKey": qtype.answer_key,
        "TestDurationInSeconds": qtype.test_duration,
    }
    view.update({key: value for key, value in optional.items() if value is not None})
    return view


def score_view(score: Score) -> dict[str, Any]:
    """The Qualification structure (a worker's score for one type)."""
    return {
        "QualificationTypeId": score.type_id,
        "WorkerId": score.worker_id,
        "GrantTime": score.granted,
        "IntegerValue": score.value,
        "Status": score.status,
    }


def bonus_view(bonus: Bonus) -> dict[str, Any]:
    """The BonusPayment structure."""
    return {
        "WorkerId": bonus.worker_id,
        "BonusAmount": money(bonus.amount),
        "AssignmentId": bonus.assignment_id,
        "Reason": bonus.reason,
        "GrantTime": bonus.granted,
    }
