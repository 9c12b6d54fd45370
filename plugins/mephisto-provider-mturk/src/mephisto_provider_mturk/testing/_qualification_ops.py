"""Qualification types, workers' scores, blocks and notifications."""

from __future__ import annotations

from typing import Any

from ._errors import request_error
from ._operations import Call, operation
from ._records import AssignmentState, Notification, QualificationType, Score, new_id
from ._state import NAME_REUSE_DELAY, listing, paginate
from ._views import hit_view, qualification_type_view, score_view


@operation("CreateQualificationType")
def create_qualification_type(call: Call) -> dict[str, Any]:
    params, state = call.params, call.state
    name = params["Name"]
    for qtype in state.qualification_types.values():
        if qtype.owner != call.owner or qtype.name != name:
            continue
        freed = state.qualification_deleted_at.get(qtype.type_id)
        # A deleted type's name stays taken for up to 48 hours, as on MTurk.
        if freed is None or call.now - freed < NAME_REUSE_DELAY:
            raise request_error(
                "You have already created a QualificationType with this name. A QualificationType's "
                "name must be unique among all of the QualificationTypes created by the same user.",
                "AWS.MechanicalTurk.QualificationTypeAlreadyExists",
            )
    if params.get("AnswerKey") is not None and params.get("Test") is None:
        raise request_error("An AnswerKey needs a Test.", "AWS.ParameterOutOfRange")
    if params.get("Test") is not None and params.get("AutoGranted"):
        raise request_error("A QualificationType cannot have both a Test and AutoGranted.", "AWS.ParameterOutOfRange")
    qtype = QualificationType(
        type_id=new_id(),
        owner=call.owner,
        name=name,
        description=params["Description"],
        keywords=params.get("Keywords", ""),
        status=params["QualificationTypeStatus"],
        created=call.now,
        auto_granted=params.get("AutoGranted", False),
        auto_granted_value=params.get("AutoGrantedValue", 1),
        retry_delay=params.get("RetryDelayInSeconds"),
        test=params.get("Test"),
        answer_key=params.get("AnswerKey"),
        test_duration=params.get("TestDurationInSeconds"),
    )
    state.qualification_types[qtype.type_id] = qtype
    return {"QualificationType": qualification_type_view(qtype)}


@operation("ListQualificationTypes")
def list_qualification_types(call: Call) -> dict[str, Any]:
    params = call.params
    query = params.get("Query", "").lower()
    chosen = []
    for qtype in call.state.qualification_types.values():
        if qtype.deleted:
            continue
        if params.get("MustBeOwnedByCaller") and qtype.owner != call.owner:
            continue
        if params["MustBeRequestable"] and qtype.owner is None:
            continue
        if query and not any(query in text.lower() for text in (qtype.name, qtype.description, qtype.keywords)):
            continue
        chosen.append(qtype)
    page, token = paginate(chosen, params)
    return listing("QualificationTypes", [qualification_type_view(q) for q in page], token)


@operation("GetQualificationType")
def get_qualification_type(call: Call) -> dict[str, Any]:
    type_id = call.params["QualificationTypeId"]
    qtype = call.state.qualification_types.get(type_id)
    if qtype is None or qtype.deleted:
        raise request_error(
            f"QualificationType {type_id} does not exist.",
            "AWS.MechanicalTurk.QualificationTypeDoesNotExist",
        )
    return {"QualificationType": qualification_type_view(qtype)}


@operation("UpdateQualificationType")
def update_qualification_type(call: Call) -> dict[str, Any]:
    params = call.params
    qtype = call.state.owned_qualification_type(call.owner, params["QualificationTypeId"])
    fields = {
        "Description": "description",
        "QualificationTypeStatus": "status",
        "Test": "test",
        "AnswerKey": "answer_key",
        "TestDurationInSeconds": "test_duration",
        "RetryDelayInSeconds": "retry_delay",
        "AutoGranted": "auto_granted",
        "AutoGrantedValue": "auto_granted_value",
    }
    for member, attribute in fields.items():
        if member in params:
            setattr(qtype, attribute, params[member])
    if qtype.test is not None and qtype.auto_granted:
        raise request_error("A QualificationType cannot have both a Test and AutoGranted.", "AWS.ParameterOutOfRange")
    return {"QualificationType": qualification_type_view(qtype)}


@operation("ListHITsForQualificationType")
def list_hits_for_qualification_type(call: Call) -> dict[str, Any]:
    type_id = call.params["QualificationTypeId"]
    qtype = call.state.qualification_types.get(type_id)
    if qtype is None or qtype.deleted:
        raise request_error(
            f"QualificationType {type_id} does not exist.", "AWS.MechanicalTurk.QualificationTypeDoesNotExist"
        )
    hits = [
        hit
        for hit in call.state.hits.values()
        if hit.hit_type.owner == call.owner
        and not hit.deleted
        and any(r["QualificationTypeId"] == type_id for r in hit.hit_type.requirements)
    ]
    page, token = paginate(hits, call.params)
    return listing("HITs", [hit_view(call.state, h, call.now) for h in page], token)


@operation("DeleteQualificationType")
def delete_qualification_type(call: Call) -> dict[str, Any]:
    qtype = call.state.owned_qualification_type(call.owner, call.params["QualificationTypeId"])
    qtype.deleted = True
    call.state.qualification_deleted_at[qtype.type_id] = call.now
    return {}


@operation("AssociateQualificationWithWorker")
def associate_qualification_with_worker(call: Call) -> dict[str, Any]:
    params = call.params
    qtype = call.state.owned_qualification_type(call.owner, params["QualificationTypeId"])
    key = (qtype.type_id, params["WorkerId"])
    call.state.worker(params["WorkerId"])
    call.state.scores[key] = Score(
        type_id=qtype.type_id,
        worker_id=params["WorkerId"],
        value=params.get("IntegerValue", 1),
        granted=call.now,
    )
    # SendNotification defaults to true: MTurk e-mails the worker about the grant.
    if params.get("SendNotification", True):
        call.state.notifications.append(
            Notification(
                call.owner,
                params["WorkerId"],
                f"You have been granted the qualification {qtype.name}",
                qtype.description,
                call.now,
            )
        )
    return {}


def _granted_score(call: Call) -> Score:
    params = call.params
    qtype = call.state.owned_qualification_type(call.owner, params["QualificationTypeId"])
    score = call.state.scores.get((qtype.type_id, params["WorkerId"]))
    if score is None:
        raise request_error(
            f"You requested a Qualification that does not exist: worker {params['WorkerId']} "
            f"has no Qualification of type {qtype.type_id}.",
            "AWS.MechanicalTurk.QualificationDoesNotExist",
        )
    return score


@operation("DisassociateQualificationFromWorker")
def disassociate_qualification_from_worker(call: Call) -> dict[str, Any]:
    score = _granted_score(call)
    if score.status != "Granted":
        raise request_error(
            f"Worker {score.worker_id} has no granted Qualification of type {score.type_id}.",
            "AWS.MechanicalTurk.QualificationDoesNotExist",
        )
    score.status = "Revoked"
    return {}


@operation("GetQualificationScore")
def get_qualification_score(call: Call) -> dict[str, Any]:
    return {"Qualification": score_view(_granted_score(call))}


@operation("ListWorkersWithQualificationType")
def list_workers_with_qualification_type(call: Call) -> dict[str, Any]:
    qtype = call.state.owned_qualification_type(call.owner, call.params["QualificationTypeId"])
    wanted = call.params.get("Status", "Granted")
    chosen = [s for s in call.state.scores.values() if s.type_id == qtype.type_id and s.status == wanted]
    page, token = paginate(chosen, call.params)
    return listing("Qualifications", [score_view(s) for s in page], token)


@operation("CreateWorkerBlock")
def create_worker_block(call: Call) -> dict[str, Any]:
    call.state.worker(call.params["WorkerId"])
    call.state.blocks[(call.owner, call.params["WorkerId"])] = call.params["Reason"]
    return {}


@operation("DeleteWorkerBlock")
def delete_worker_block(call: Call) -> dict[str, Any]:
    # Unblocking a worker who is not blocked succeeds, as the reference says.
    call.state.blocks.pop((call.owner, call.params["WorkerId"]), None)
    return {}


@operation("ListWorkerBlocks")
def list_worker_blocks(call: Call) -> dict[str, Any]:
    chosen = [
        {"WorkerId": worker_id, "Reason": reason}
        for (owner, worker_id), reason in call.state.blocks.items()
        if owner == call.owner
    ]
    page, token = paginate(chosen, call.params)
    return listing("WorkerBlocks", page, token)


@operation("NotifyWorkers")
def notify_workers(call: Call) -> dict[str, Any]:
    params, state = call.params, call.state
    if len(params["WorkerIds"]) > 100:
        raise request_error("You can notify at most 100 Workers at a time.", "AWS.ParameterOutOfRange")
    if len(params["Subject"]) > 200 or len(params["MessageText"]) > 4096:
        raise request_error("Subject is limited to 200 characters and MessageText to 4096.", "AWS.ParameterOutOfRange")
    reviewed = {
        a.worker_id
        for a in state.assignments.values()
        if a.state in (AssignmentState.APPROVED, AssignmentState.REJECTED)
        and state.hits[a.hit_id].hit_type.owner == call.owner
    }
    failures = []
    for worker_id in params["WorkerIds"]:
        # MTurk only e-mails workers whose work this requester has approved or rejected.
        if worker_id not in reviewed:
            failures.append(
                {
                    "NotifyWorkersFailureCode": "HardFailure",
                    "NotifyWorkersFailureMessage": f"Cannot send notification to {worker_id}: "
                    "you have not approved or rejected any of their work.",
                    "WorkerId": worker_id,
                }
            )
            continue
        state.notifications.append(
            Notification(call.owner, worker_id, params["Subject"], params["MessageText"], call.now)
        )
    return {"NotifyWorkersFailureStatuses": failures}
