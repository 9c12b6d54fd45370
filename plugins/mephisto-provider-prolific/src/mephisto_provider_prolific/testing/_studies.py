"""Studies: draft creation and validation, PATCH rules, the transition state machine and automatic statuses."""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urlparse

from mephisto_provider_prolific.testing._request import ApiRequest, ApiResponse, paginate
from mephisto_provider_prolific.testing._store import (
    JSON,
    PLACE_HOLDING,
    Store,
    Study,
    StudyStatus,
    SubmissionStatus,
    bad_request,
    iso,
    new_id,
)

PROLIFIC_ID_OPTIONS = ("question", "url_parameters", "not_required")
CODE_TYPES = (
    "COMPLETED",
    "FAILED_ATTENTION_CHECK",
    "FOLLOW_UP_STUDY",
    "GIVE_BONUS",
    "INCOMPATIBLE_DEVICE",
    "NO_CONSENT",
    "OTHER",
    "FIXED_SCREENOUT",
)
CODE_ACTIONS = (
    "AUTOMATICALLY_APPROVE",
    "MANUALLY_REVIEW",
    "ADD_TO_PARTICIPANT_GROUP",
    "REMOVE_FROM_PARTICIPANT_GROUP",
    "REQUEST_RETURN",
)
DEVICES = ("desktop", "tablet", "mobile")
REQUIRED: tuple[str, ...] = ("name", "description", "external_study_url", "prolific_id_option", "completion_codes")
REQUIRED += ("estimated_completion_time", "reward", "total_available_places")
# After publishing, Prolific lets a researcher change only these (other fields must come back unchanged).
EDITABLE_WHEN_PUBLISHED = ("internal_name", "total_available_places")
TRANSITIONS = ("PUBLISH", "PAUSE", "START", "STOP")
# Optional fields sent as null mean "not given": the default applies.
NULL_MEANS_DEFAULT = ("internal_name", "maximum_allowed_time", "device_compatibility", "filters", "project")


def _drop_nulls(data: JSON) -> JSON:
    return {k: v for k, v in data.items() if not (k in NULL_MEANS_DEFAULT and v is None)}


def default_maximum_allowed_time(estimated_minutes: int) -> int:
    # Guessed: Prolific derives the limit from the estimate (always under 24 h); we take 3x + 2 minutes.
    return min(estimated_minutes * 3 + 2, 24 * 60 - 1)


def _positive_int(data: JSON, name: str, errors: dict[str, list[str]], *, minimum: int = 1) -> None:
    value = data.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        errors[name] = [f"A valid integer is required, got {value!r}."]
    elif value < minimum:
        errors[name] = [f"Ensure this value is greater than or equal to {minimum}."]


def _check_completion_codes(codes: Any, errors: dict[str, list[str]]) -> None:
    if not isinstance(codes, list) or not codes:
        errors["completion_codes"] = ["A non-empty list of {code, code_type, actions} objects is required."]
        return
    seen: set[str] = set()
    for index, entry in enumerate(codes):
        where = f"completion_codes[{index}]"
        if not isinstance(entry, dict):
            errors[where] = ["Expected an object with code, code_type and actions."]
            continue
        code = entry.get("code")
        if not isinstance(code, str) or not code.strip():
            errors[f"{where}.code"] = ["This field is required (a non-empty string)."]
        elif code in seen:
            errors[f"{where}.code"] = [f"The code {code!r} is used twice in this study."]
        else:
            seen.add(code)
        if entry.get("code_type") not in CODE_TYPES:
            errors[f"{where}.code_type"] = [f"{entry.get('code_type')!r} is not one of {', '.join(CODE_TYPES)}."]
        actions = entry.get("actions", [])
        if not isinstance(actions, list):
            errors[f"{where}.actions"] = ["Expected a list of {action: ...} objects."]
            continue
        for a_index, action in enumerate(actions):
            name = action.get("action") if isinstance(action, dict) else None
            if name not in CODE_ACTIONS:
                errors[f"{where}.actions[{a_index}]"] = [f"{name!r} is not one of {', '.join(CODE_ACTIONS)}."]


def _check_fields(data: JSON, errors: dict[str, list[str]]) -> None:
    for name in ("name", "internal_name", "description"):
        if name in data and not isinstance(data[name], str):
            errors[name] = ["Not a valid string."]
    url = data.get("external_study_url")
    if url is not None:
        parsed = urlparse(url) if isinstance(url, str) else None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
            errors["external_study_url"] = [f"Enter a valid http(s) URL, got {url!r}."]
        elif data.get("prolific_id_option") == "url_parameters" and "{{%PROLIFIC_PID%}}" not in url:
            errors["external_study_url"] = ["With prolific_id_option url_parameters the URL needs {{%PROLIFIC_PID%}}."]
    if "prolific_id_option" in data and data["prolific_id_option"] not in PROLIFIC_ID_OPTIONS:
        errors["prolific_id_option"] = [f"{data['prolific_id_option']!r} is not one of {PROLIFIC_ID_OPTIONS}."]
    if "completion_codes" in data:
        _check_completion_codes(data["completion_codes"], errors)
    for name in ("estimated_completion_time", "reward", "total_available_places", "maximum_allowed_time"):
        _positive_int(data, name, errors)
    estimated, maximum = data.get("estimated_completion_time"), data.get("maximum_allowed_time")
    both = isinstance(estimated, int) and isinstance(maximum, int) and "maximum_allowed_time" not in errors
    if both and maximum < estimated:  # type: ignore[operator]  # both are ints here
        errors["maximum_allowed_time"] = ["Must not be shorter than estimated_completion_time."]
    devices = data.get("device_compatibility")
    if devices is not None and (not isinstance(devices, list) or any(d not in DEVICES for d in devices)):
        errors["device_compatibility"] = [f"Expected a list of {', '.join(DEVICES)}, got {devices!r}."]
    filters = data.get("filters")
    if filters is not None:
        _check_filters(filters, errors)


def _check_filters(filters: Any, errors: dict[str, list[str]]) -> None:
    """Each filter: a `filter_id` and exactly one of `selected_values` (a list) or `selected_range` (an object)."""
    if not isinstance(filters, list):
        errors["filters"] = ["Expected a list of {filter_id, selected_values | selected_range} objects."]
        return
    for index, entry in enumerate(filters):
        where = f"filters[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("filter_id"), str) or not entry["filter_id"]:
            errors[where] = ["Expected an object with a filter_id (a non-empty string)."]
            continue
        values, span = entry.get("selected_values"), entry.get("selected_range")
        if (values is None) == (span is None):
            errors[where] = ["Give exactly one of selected_values and selected_range."]
        elif values is not None and (not isinstance(values, list) or any(not isinstance(v, str) for v in values)):
            errors[f"{where}.selected_values"] = ["Expected a list of strings."]
        elif span is not None and (not isinstance(span, dict) or not set(span) <= {"lower", "upper"}):
            errors[f"{where}.selected_range"] = ["Expected an object with lower and/or upper."]


def places_taken(store: Store, study: Study) -> int:
    return sum(1 for s in store.submissions_of(study.id) if s.status in PLACE_HOLDING)


def study_json(store: Store, study: Study) -> JSON:
    data = copy.deepcopy(study.data)
    reward = int(data.get("reward", 0))
    places = int(data.get("total_available_places", 0))
    fee, vat = store.fee_on(reward * places)
    submissions = store.submissions_of(study.id)
    data.update(
        id=study.id,
        status=study.status,
        project=study.project_id,
        workspace=study.workspace_id,
        internal_name=data.get("internal_name") or data.get("name"),
        maximum_allowed_time=data.get("maximum_allowed_time")
        or default_maximum_allowed_time(int(data.get("estimated_completion_time", 1))),
        device_compatibility=data.get("device_compatibility", list(DEVICES)),
        filters=data.get("filters", []),
        places_taken=places_taken(store, study),
        number_of_submissions=len(submissions),
        total_cost=reward * places + fee + vat,
        date_created=iso(study.created_at),
        published_at=iso(study.published_at),
        publish_at=None,
        is_underpaying=None,
        study_type="SINGLE",
        researcher={"id": store.user.id, "name": f"{store.user.first_name} {store.user.last_name}"},
    )
    return data


def refresh_status(store: Store, study: Study) -> None:
    """Move a published study to the status its places and submissions imply.

    Documented: a stopped study is AWAITING REVIEW while submissions are unreviewed, then COMPLETED; a full study
    whose places free up again (return, rejection) pauses automatically. Guessed: a full study leaves ACTIVE
    once nobody is still working on it, and a full study that gets more places becomes ACTIVE again.
    """
    if study.status in (StudyStatus.UNPUBLISHED, StudyStatus.PAUSED):
        return
    statuses = [s.status for s in store.submissions_of(study.id)]
    working = SubmissionStatus.ACTIVE in statuses
    unreviewed = working or SubmissionStatus.AWAITING_REVIEW in statuses
    finished = StudyStatus.AWAITING_REVIEW if unreviewed else StudyStatus.COMPLETED
    if study.stopped:
        study.status = finished
        return
    full = places_taken(store, study) >= int(study.data["total_available_places"])
    if study.status == StudyStatus.ACTIVE:
        if full and not working:
            study.status = finished
    elif not full:
        study.status = StudyStatus.PAUSED
    else:
        study.status = finished


def create_study(store: Store, request: ApiRequest) -> ApiResponse:
    data = _drop_nulls(copy.deepcopy(request.json_object()))
    errors: dict[str, list[str]] = {name: ["This field is required."] for name in REQUIRED if data.get(name) is None}
    _check_fields(data, errors)
    project_id = data.pop("project", None)
    if project_id is not None and (not isinstance(project_id, str) or project_id not in store.projects):
        errors["project"] = [f"Project {project_id!r} does not exist."]
    if errors:
        raise bad_request(errors)
    if project_id is None:  # Prolific files a study without project under the default workspace's first project
        project_id = next(iter(store.projects))
    study = Study(
        id=new_id(),
        project_id=project_id,
        workspace_id=store.projects[project_id].workspace_id,
        data=data,
        created_at=store.clock.now(),
    )
    for read_only in ("id", "status", "places_taken", "number_of_submissions", "workspace"):
        data.pop(read_only, None)
    store.studies[study.id] = study
    return ApiResponse(201, study_json(store, study))


def get_study(store: Store, request: ApiRequest) -> ApiResponse:
    return ApiResponse(200, study_json(store, store.study(request.params["study_id"])))


def _state_filter(request: ApiRequest) -> set[str] | None:
    """`?state=ACTIVE` or Prolific's `?state=(ACTIVE|PAUSED)` form."""
    raw = request.query.get("state")
    if raw is None:
        return None
    wanted = {part.strip() for part in raw.strip("()").split("|") if part.strip()}
    known = {StudyStatus.UNPUBLISHED, StudyStatus.ACTIVE, StudyStatus.PAUSED}
    known |= {StudyStatus.AWAITING_REVIEW, StudyStatus.COMPLETED, "SCHEDULED", "PUBLISHING"}
    unknown = wanted - known
    if unknown:
        raise bad_request({"state": [f"Unknown study state(s) {sorted(unknown)}; known: {sorted(known)}."]})
    return wanted


def list_studies(store: Store, request: ApiRequest) -> ApiResponse:
    wanted = _state_filter(request)
    project_id = request.params.get("project_id") or request.query.get("project")
    if request.params.get("project_id"):
        store.project(request.params["project_id"])
    studies = [
        study_json(store, s)
        for s in store.studies.values()
        if (wanted is None or s.status in wanted) and (project_id is None or s.project_id == project_id)
    ]
    return ApiResponse(200, paginate(request, studies, store.page_size))


def patch_study(store: Store, request: ApiRequest) -> ApiResponse:
    study = store.study(request.params["study_id"])
    changes = copy.deepcopy(request.json_object())
    for read_only in ("id", "status", "places_taken", "number_of_submissions", "workspace", "date_created"):
        changes.pop(read_only, None)
    errors: dict[str, list[str]] = {name: ["This field may not be null."] for name in REQUIRED if name in changes}
    errors = {name: message for name, message in errors.items() if changes[name] is None}
    if study.status != StudyStatus.UNPUBLISHED:
        for name, value in changes.items():
            current = study.project_id if name == "project" else study.data.get(name)
            if name not in EDITABLE_WHEN_PUBLISHED and current != value:
                errors[name] = [f"Cannot be changed once the study is published (status {study.status})."]
    project_id = changes.pop("project", None)
    if project_id is not None and (not isinstance(project_id, str) or project_id not in store.projects):
        errors["project"] = [f"Project {project_id!r} does not exist."]
    merged = _drop_nulls(dict(study.data, **changes))
    _check_fields(merged, errors)
    places = changes.get("total_available_places")
    if isinstance(places, int) and study.status != StudyStatus.UNPUBLISHED and "total_available_places" not in errors:
        taken = places_taken(store, study)
        if study.stopped and places != study.data["total_available_places"]:
            errors["total_available_places"] = ["The study has been stopped; its places can no longer change."]
        elif places < taken:
            errors["total_available_places"] = [f"Cannot be lower than the {taken} places already taken."]
    if errors:
        raise bad_request(errors)
    grew = isinstance(places, int) and places > int(study.data["total_available_places"])
    study.data = merged
    if project_id is not None:
        study.project_id = project_id
        study.workspace_id = store.projects[project_id].workspace_id
    if grew and not study.stopped and study.status in (StudyStatus.AWAITING_REVIEW, StudyStatus.COMPLETED):
        study.status = StudyStatus.ACTIVE  # a full study with new places recruits again
    refresh_status(store, study)
    return ApiResponse(200, study_json(store, study))


def delete_study(store: Store, request: ApiRequest) -> ApiResponse:
    study = store.study(request.params["study_id"])
    if study.status != StudyStatus.UNPUBLISHED:
        raise bad_request(f"Only a draft (UNPUBLISHED) study can be deleted; this one is {study.status}.")
    del store.studies[study.id]
    return ApiResponse(204)


def transition_study(store: Store, request: ApiRequest) -> ApiResponse:
    study = store.study(request.params["study_id"])
    action = request.json_object().get("action")
    if action not in TRANSITIONS:
        raise bad_request({"action": [f"{action!r} is not a valid choice; expected one of {', '.join(TRANSITIONS)}."]})
    refused = f"A study in status {study.status} cannot take the action {action}."
    if action == "PUBLISH":
        if study.status != StudyStatus.UNPUBLISHED:
            raise bad_request(refused)
        workspace = store.workspace(study.workspace_id)
        cost = study_json(store, study)["total_cost"]
        balance = workspace.balance_cents
        if cost > balance:  # checked, not deducted: the fake keeps no running account of studies
            raise bad_request(f"Insufficient balance: the study costs {cost}, the workspace has {balance}.")
        study.status = StudyStatus.ACTIVE
        study.published_at = store.clock.now()
    elif action == "PAUSE":
        if study.status != StudyStatus.ACTIVE or study.stopped:
            raise bad_request(refused)
        study.status = StudyStatus.PAUSED
    elif action == "START":
        if study.status != StudyStatus.PAUSED or study.stopped:
            raise bad_request(refused)
        study.status = StudyStatus.ACTIVE
    else:  # STOP is final
        if study.status == StudyStatus.UNPUBLISHED or study.stopped:
            raise bad_request(refused + (" It has already been stopped." if study.stopped else ""))
        study.stopped = True
        study.status = StudyStatus.AWAITING_REVIEW
    refresh_status(store, study)
    return ApiResponse(200, study_json(store, study))
