"""Submissions: the researcher's API (list, get, approve/reject, bulk approve) and the participant's side
(start a study, arrive at the completion URL, return, time out)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

from mephisto_provider_prolific.testing._request import ApiRequest, ApiResponse, paginate
from mephisto_provider_prolific.testing._store import (
    JSON,
    Store,
    Study,
    StudyStatus,
    Submission,
    SubmissionStatus,
    bad_request,
    iso,
    new_id,
)
from mephisto_provider_prolific.testing._studies import (
    default_maximum_allowed_time,
    places_taken,
    refresh_status,
)

REJECTION_CATEGORIES = (
    "TOO_QUICKLY",
    "TOO_SLOWLY",
    "FAILED_INSTRUCTIONS",
    "INCOMP_LONGITUDINAL",
    "FAILED_CHECK",
    "LOW_EFFORT",
    "MALINGERING",
    "NO_CODE",
    "BAD_CODE",
    "NO_DATA",
    "UNSUPP_DEVICE",
    "OTHER",
)
MIN_REJECTION_MESSAGE = 100
ACTION_TARGETS = {"APPROVE": SubmissionStatus.APPROVED, "REJECT": SubmissionStatus.REJECTED}
SUBMISSION_ACTIONS = (*ACTION_TARGETS, "COMPLETE")


class ParticipantRefused(Exception):
    """Prolific would not let this participant do this (study not active, full, not eligible, taken part...)."""


def maximum_allowed_minutes(study: Study) -> int:
    explicit = study.data.get("maximum_allowed_time")
    if isinstance(explicit, int):
        return explicit
    return default_maximum_allowed_time(int(study.data["estimated_completion_time"]))


def sweep_time_outs(store: Store) -> None:
    """Time out every ACTIVE submission past its study's maximum_allowed_time (Prolific does this on its own)."""
    now = store.clock.now()
    touched: set[str] = set()
    for submission in store.submissions.values():
        if submission.status != SubmissionStatus.ACTIVE:
            continue
        study = store.studies.get(submission.study_id)
        if study is None:
            continue
        if now > submission.started_at + timedelta(minutes=maximum_allowed_minutes(study)):
            submission.status = SubmissionStatus.TIMED_OUT
            touched.add(study.id)
    for study_id in touched:
        refresh_status(store, store.studies[study_id])


def submission_json(store: Store, submission: Submission) -> JSON:
    study = store.studies.get(submission.study_id)
    taken = None
    if submission.completed_at is not None:
        taken = int((submission.completed_at - submission.started_at).total_seconds())
    return {
        "id": submission.id,
        "study_id": submission.study_id,
        "participant_id": submission.participant_id,
        "participant": submission.participant_id,
        "status": submission.status,
        "started_at": iso(submission.started_at),
        "completed_at": iso(submission.completed_at),
        "is_complete": submission.completed_at is not None,
        "time_taken": taken,
        "reward": int(study.data.get("reward", 0)) if study else 0,
        "study_code": submission.entered_code,
        "entered_code": submission.entered_code,
        "bonus_payments": list(submission.bonus_cents),
        "return_requested": iso(submission.return_requested),
    }


def list_submissions(store: Store, request: ApiRequest) -> ApiResponse:
    study_id = request.params.get("study_id") or request.query.get("study")
    if not study_id:
        raise bad_request({"study": ["A study id is required (?study=<id>)."]})
    store.study(study_id)
    _approvals_progress(store)
    items = [submission_json(store, s) for s in store.submissions_of(study_id)]
    return ApiResponse(200, paginate(request, items, store.page_size))


def get_submission(store: Store, request: ApiRequest) -> ApiResponse:
    _approvals_progress(store)
    return ApiResponse(200, submission_json(store, store.submission(request.params["submission_id"])))


def _check_reject(body: JSON) -> None:
    errors: dict[str, list[str]] = {}
    message = body.get("message")
    if not isinstance(message, str) or len(message) < MIN_REJECTION_MESSAGE:
        got = len(message) if isinstance(message, str) else "no"
        errors["message"] = [f"Required for REJECT and at least {MIN_REJECTION_MESSAGE} characters long ({got} given)."]
    if body.get("rejection_category") not in REJECTION_CATEGORIES:
        category = body.get("rejection_category")
        errors["rejection_category"] = [f"{category!r} is not one of {', '.join(REJECTION_CATEGORIES)}."]
    if errors:
        raise bad_request(errors)


def transition_submission(store: Store, request: ApiRequest) -> ApiResponse:
    submission = store.submission(request.params["submission_id"])
    body = request.json_object()
    action = body.get("action")
    if action not in SUBMISSION_ACTIONS:
        raise bad_request({"action": [f"{action!r} is not a valid choice; expected one of {SUBMISSION_ACTIONS}."]})
    if action == "COMPLETE":
        return _complete_for_participant(store, submission, body)
    if action == "REJECT":
        _check_reject(body)
    target = ACTION_TARGETS[action]
    if submission.status == target:  # documented: the same request twice is ignored
        return ApiResponse(200, submission_json(store, submission))
    if submission.status != SubmissionStatus.AWAITING_REVIEW:
        raise bad_request(f"Only a submission AWAITING REVIEW can be approved or rejected; it is {submission.status}.")
    submission.status = target
    refresh_status(store, store.study(submission.study_id))
    return ApiResponse(200, submission_json(store, submission))


def _complete_for_participant(store: Store, submission: Submission, body: JSON) -> ApiResponse:
    """Documented: the researcher completes an ACTIVE submission with one of the study's codes."""
    code = body.get("completion_code")
    if not isinstance(code, str) or not code:
        raise bad_request({"completion_code": ["Required for COMPLETE."]})
    try:
        complete_submission(store, submission, code)
    except ParticipantRefused as refusal:
        raise bad_request(str(refusal)) from None
    return ApiResponse(200, submission_json(store, submission))


def request_return(store: Store, request: ApiRequest) -> ApiResponse:
    """Ask the participant to return the submission (a message; the status changes only if they do)."""
    submission = store.submission(request.params["submission_id"])
    reasons = request.json_object().get("request_return_reasons")
    if not isinstance(reasons, list) or not reasons or any(not isinstance(r, str) or not r for r in reasons):
        raise bad_request({"request_return_reasons": ["Expected a non-empty list of reasons (strings)."]})
    if submission.status not in (SubmissionStatus.ACTIVE, SubmissionStatus.AWAITING_REVIEW):
        raise bad_request(
            f"A return can only be requested of an ACTIVE or AWAITING REVIEW submission, not {submission.status}."
        )
    submission.return_requested = store.clock.now()
    submission.return_reasons = list(reasons)
    return ApiResponse(
        200,
        {
            "id": submission.id,
            "status": submission.status,
            "participant": submission.participant_id,
            "return_requested": iso(submission.return_requested),
        },
    )


def bulk_approve(store: Store, request: ApiRequest) -> ApiResponse:
    body = request.json_object()
    study_id = body.get("study_id")
    participant_ids, submission_ids = body.get("participant_ids"), body.get("submission_ids")
    if submission_ids is not None:
        if not isinstance(submission_ids, list) or not submission_ids:
            raise bad_request({"submission_ids": ["Expected a non-empty list of submission ids."]})
        chosen = [store.submission(str(sid)) for sid in submission_ids]
    else:
        if not isinstance(study_id, str) or not isinstance(participant_ids, list) or not participant_ids:
            raise bad_request({"non_field_errors": ["Give submission_ids, or study_id with participant_ids."]})
        if any(not isinstance(pid, str) for pid in participant_ids):
            raise bad_request({"participant_ids": ["Expected a list of participant ids (strings)."]})
        by_participant = {s.participant_id: s for s in store.submissions_of(store.study(study_id).id)}
        missing = [pid for pid in participant_ids if pid not in by_participant]
        if missing:
            raise bad_request({"participant_ids": [f"These participants have no submission in {study_id}: {missing}."]})
        chosen = [by_participant[pid] for pid in participant_ids]
    not_ready = [s.id for s in chosen if s.status not in (SubmissionStatus.AWAITING_REVIEW, SubmissionStatus.APPROVED)]
    if not_ready:
        raise bad_request(f"These submissions are not AWAITING REVIEW: {not_ready}.")
    if store.approval_lag_reads:
        store.approving.append((store.approval_lag_reads, [s.id for s in chosen]))
    else:
        _approve(store, [s.id for s in chosen])
    return ApiResponse(200, {"message": "The request to bulk approve has been handled successfully."})


def _approve(store: Store, submission_ids: list[str]) -> None:
    chosen = [store.submission(sid) for sid in submission_ids]
    for submission in chosen:
        if submission.status == SubmissionStatus.AWAITING_REVIEW:
            submission.status = SubmissionStatus.APPROVED
    for touched in {s.study_id for s in chosen}:
        refresh_status(store, store.study(touched))


def _approvals_progress(store: Store) -> None:
    """A read of submissions: bulk approvals under way come one read nearer to showing."""
    under_way, store.approving = store.approving, []
    for reads_left, submission_ids in under_way:
        if reads_left <= 1:
            _approve(store, submission_ids)
        else:
            store.approving.append((reads_left - 1, submission_ids))


# --- the participant's side -------------------------------------------------------------------------------


def _group_ids(study: Study, filter_id: str) -> set[str] | None:
    found: set[str] | None = None
    for entry in study.data.get("filters") or []:
        if entry.get("filter_id") == filter_id:
            found = (found or set()) | {str(v) for v in entry.get("selected_values", [])}
    return found


def _eligibility_problem(store: Store, study: Study, participant_id: str) -> str | None:
    allow = _group_ids(study, "participant_group_allowlist")
    if allow is not None and not any(
        participant_id in store.groups[g].members for g in allow if g in store.groups and not store.groups[g].is_deleted
    ):
        return f"participant {participant_id} is in none of the study's allow-list groups {sorted(allow)}"
    block = _group_ids(study, "participant_group_blocklist") or set()
    for group_id in block:
        group = store.groups.get(group_id)
        if group is not None and not group.is_deleted and participant_id in group.members:
            return f"participant {participant_id} is in the study's block-list group {group_id}"
    return None


def start_submission(store: Store, study_id: str, participant_id: str) -> tuple[Submission, str]:
    """A participant takes a place: an ACTIVE submission and the study URL with the three placeholders filled."""
    study = store.study(study_id)
    if study.status != StudyStatus.ACTIVE:
        raise ParticipantRefused(f"study {study_id} is {study.status}, not ACTIVE")
    if places_taken(store, study) >= int(study.data["total_available_places"]):
        raise ParticipantRefused(f"study {study_id} has no free place")
    if any(s.participant_id == participant_id for s in store.submissions_of(study_id)):
        raise ParticipantRefused(f"participant {participant_id} has already taken part in study {study_id}")
    problem = _eligibility_problem(store, study, participant_id)
    if problem:
        raise ParticipantRefused(problem)
    submission = Submission(new_id(), study_id, participant_id, store.clock.now())
    store.submissions[submission.id] = submission
    url = str(study.data["external_study_url"])
    for placeholder, value in (
        ("{{%PROLIFIC_PID%}}", participant_id),
        ("{{%STUDY_ID%}}", study_id),
        ("{{%SESSION_ID%}}", submission.id),
    ):
        url = url.replace(placeholder, quote(value, safe=""))
    refresh_status(store, study)
    return submission, url


def _apply_code_actions(store: Store, submission: Submission, code_entry: JSON) -> None:
    # a fixed screen-out code pays the participant a fixed amount and frees the place (SCREENED OUT)
    screened = code_entry.get("code_type") == "FIXED_SCREENOUT"
    submission.status = SubmissionStatus.SCREENED_OUT if screened else SubmissionStatus.AWAITING_REVIEW
    for action in code_entry.get("actions", []):
        name = action.get("action")
        if name == "AUTOMATICALLY_APPROVE" and not screened:
            submission.status = SubmissionStatus.APPROVED
        elif name in ("ADD_TO_PARTICIPANT_GROUP", "REMOVE_FROM_PARTICIPANT_GROUP"):
            group = store.groups.get(str(action.get("participant_group")))
            if group is None or group.is_deleted:
                continue
            if name == "ADD_TO_PARTICIPANT_GROUP":
                group.members.setdefault(submission.participant_id, store.clock.now())
            else:
                group.members.pop(submission.participant_id, None)


def complete_submission(store: Store, submission: Submission, code: str) -> None:
    """The participant arrives at the completion URL with `code` (`?cc=`)."""
    sweep_time_outs(store)
    if submission.status != SubmissionStatus.ACTIVE:
        raise ParticipantRefused(f"submission {submission.id} is {submission.status}, it cannot be completed")
    study = store.study(submission.study_id)
    matching = [c for c in study.data.get("completion_codes", []) if c.get("code") == code]
    if not matching:
        raise ParticipantRefused(f"{code!r} is not a completion code of study {study.id}")
    submission.entered_code = code
    submission.completed_at = store.clock.now()
    _apply_code_actions(store, submission, matching[0])
    refresh_status(store, study)


def end_submission(store: Store, submission: Submission, status: str) -> None:
    """The participant returns the study (RETURNED) or runs out of time (TIMED-OUT): the place is freed."""
    allowed = {SubmissionStatus.ACTIVE}
    if status == SubmissionStatus.RETURNED:
        allowed.add(SubmissionStatus.AWAITING_REVIEW)
    if submission.status not in allowed:
        raise ParticipantRefused(f"submission {submission.id} is {submission.status}; it cannot become {status}")
    submission.status = status
    refresh_status(store, store.study(submission.study_id))


def find_completing_submission(store: Store, code: str, session_id: str | None) -> Submission:
    """Whose completion this is: the session named (query or cookie), else the only ACTIVE one the code fits."""
    if session_id:
        found = store.submissions.get(session_id)
        if found is None:
            raise ParticipantRefused(f"no submission {session_id!r}")
        return found
    candidates = [
        s
        for s in store.submissions.values()
        if s.status == SubmissionStatus.ACTIVE
        and any(c.get("code") == code for c in store.study(s.study_id).data.get("completion_codes", []))
    ]
    if len(candidates) != 1:
        raise ParticipantRefused(
            f"cannot tell whose completion this is: {len(candidates)} ACTIVE submissions accept the code {code!r}"
            " (pass the session id as the prolific_session cookie or ?session_id=)"
        )
    return candidates[0]
