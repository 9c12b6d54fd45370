"""Participant groups (allow / block lists and their members) and messages to participants."""

from __future__ import annotations

from typing import Any

from mephisto_provider_prolific.testing._request import ApiRequest, ApiResponse
from mephisto_provider_prolific.testing._store import Message, ParticipantGroup, Store, bad_request, new_id


def _ids(value: Any, name: str = "participant_ids") -> list[str]:
    if not isinstance(value, list) or any(not isinstance(v, str) or not v for v in value):
        raise bad_request({name: ["Expected a list of participant ids (strings)."]})
    return list(value)


def create_group(store: Store, request: ApiRequest) -> ApiResponse:
    body = request.json_object()
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise bad_request({"name": ["This field is required (a non-empty string)."]})
    workspace_id, project_id = body.get("workspace_id"), body.get("project_id")
    if project_id is not None:
        workspace_id = workspace_id or store.project(str(project_id)).workspace_id
    if workspace_id is None:
        raise bad_request({"workspace_id": ["Either a workspace or organisation id must be specified."]})
    store.workspace(str(workspace_id))
    group = ParticipantGroup(new_id(), name, str(body.get("description") or ""), workspace_id, project_id)
    now = store.clock.now()
    for pid in _ids(body.get("participant_ids", [])):
        group.members.setdefault(pid, now)
    store.groups[group.id] = group
    return ApiResponse(201, group.to_json())


def list_groups(store: Store, request: ApiRequest) -> ApiResponse:
    workspace_id, project_id = request.query.get("workspace_id"), request.query.get("project_id")
    items = [
        g.to_json()
        for g in store.groups.values()
        if not g.is_deleted
        and (workspace_id is None or g.workspace_id == workspace_id)
        and (project_id is None or g.project_id == project_id)
    ]
    return ApiResponse(200, {"results": items})


def get_group(store: Store, request: ApiRequest) -> ApiResponse:
    return ApiResponse(200, store.group(request.params["group_id"]).to_json())


def patch_group(store: Store, request: ApiRequest) -> ApiResponse:
    group = store.group(request.params["group_id"])
    body = request.json_object()
    if "name" in body:
        if not isinstance(body["name"], str) or not body["name"].strip():
            raise bad_request({"name": ["Not a valid (non-empty) string."]})
        group.name = body["name"]
    if "participant_ids" in body:  # documented: overwrites the members
        now = store.clock.now()
        group.members = {pid: group.members.get(pid, now) for pid in _ids(body["participant_ids"])}
    return ApiResponse(200, group.to_json())


def delete_group(store: Store, request: ApiRequest) -> ApiResponse:
    store.group(request.params["group_id"]).is_deleted = True
    return ApiResponse(204)


def list_members(store: Store, request: ApiRequest) -> ApiResponse:
    return ApiResponse(200, {"results": store.group(request.params["group_id"]).members_json()})


def add_members(store: Store, request: ApiRequest) -> ApiResponse:
    group = store.group(request.params["group_id"])
    now = store.clock.now()
    for pid in _ids(request.json_object().get("participant_ids")):
        group.members.setdefault(pid, now)  # documented: a member already there is ignored
    return ApiResponse(200, {"results": group.members_json()})


def remove_members(store: Store, request: ApiRequest) -> ApiResponse:
    group = store.group(request.params["group_id"])
    for pid in _ids(request.json_object().get("participant_ids")):
        group.members.pop(pid, None)
    return ApiResponse(200, {"results": group.members_json()})


def send_message(store: Store, request: ApiRequest) -> ApiResponse:
    body = request.json_object()
    recipient, text, study_id = body.get("recipient_id"), body.get("body"), body.get("study_id")
    errors: dict[str, list[str]] = {}
    if not isinstance(recipient, str) or not recipient:
        errors["recipient_id"] = ["This field is required."]
    _check_text_and_study(text, study_id, errors)
    assert isinstance(recipient, str) and isinstance(text, str) and isinstance(study_id, str)
    store.study(study_id)
    if not any(s.participant_id == recipient for s in store.submissions_of(study_id)):
        raise bad_request({"recipient_id": [f"Participant {recipient} has not taken part in study {study_id}."]})
    message = Message(new_id(), store.user.id, recipient, study_id, text, store.clock.now())
    store.messages.append(message)
    return ApiResponse(201, message.to_json())


def _check_text_and_study(text: object, study_id: object, errors: dict[str, list[str]]) -> None:
    """A message's body and study, checked; a 400 naming every field at fault (with the recipients' `errors`)."""
    if not isinstance(text, str) or not text.strip():
        errors["body"] = ["This field is required (a non-empty string)."]
    if not isinstance(study_id, str) or not study_id:
        errors["study_id"] = ["This field is required."]
    if errors:
        raise bad_request(errors)


#: recipients of one bulk message at most (Prolific's documented default)
BULK_MESSAGE_LIMIT = 4000


def send_bulk_message(store: Store, request: ApiRequest) -> ApiResponse:
    """One message to several participants of a study (`ids`, `body`, `study_id`), each of whom took part."""
    body = request.json_object()
    ids, text, study_id = body.get("ids"), body.get("body"), body.get("study_id")
    errors: dict[str, list[str]] = {}
    if not isinstance(ids, list) or not ids or any(not isinstance(pid, str) or not pid for pid in ids):
        errors["ids"] = ["Expected a non-empty list of participant ids (strings)."]
    elif len(ids) > BULK_MESSAGE_LIMIT:
        errors["ids"] = [f"At most {BULK_MESSAGE_LIMIT} participants in one message ({len(ids)} given)."]
    _check_text_and_study(text, study_id, errors)
    assert isinstance(ids, list) and isinstance(text, str) and isinstance(study_id, str)
    store.study(study_id)
    took_part = {s.participant_id for s in store.submissions_of(study_id)}
    strangers = [pid for pid in ids if pid not in took_part]
    if strangers:
        raise bad_request({"ids": [f"These participants have not taken part in study {study_id}: {strangers}."]})
    now = store.clock.now()
    store.messages.extend(Message(new_id(), store.user.id, pid, study_id, text, now) for pid in ids)
    return ApiResponse(200, {})


def list_messages(store: Store, request: ApiRequest) -> ApiResponse:
    user_id = request.query.get("user_id")
    items = [m.to_json() for m in store.messages if user_id is None or user_id in (m.recipient_id, m.sender_id)]
    return ApiResponse(200, {"results": items})
