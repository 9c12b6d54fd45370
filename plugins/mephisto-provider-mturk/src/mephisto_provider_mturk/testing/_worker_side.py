"""What workers do on MTurk: accept a HIT, work in the ExternalQuestion page, submit, return."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._questions import ASSIGNMENT_ID_NOT_AVAILABLE, answers_xml, check_question, worker_url
from ._records import Assignment, AssignmentState, new_id
from ._requirements import unmet_requirements
from ._state import FakeState

WORKER_ID = re.compile(r"A[A-Z0-9]{1,63}")


class WorkerActionRefused(Exception):
    """MTurk would not let the worker do this (not qualified, blocked, HIT gone, wrong state...)."""


@dataclass(frozen=True)
class Visit:
    """An accepted assignment and the page MTurk opens for the worker."""

    assignment_id: str
    hit_id: str
    worker_id: str
    url: str | None
    """The ExternalURL with assignmentId, hitId, workerId and turkSubmitTo; None for other questions."""


def accept(state: FakeState, hit_id: str, worker_id: str, submit_to: str) -> Visit:
    """Accept one assignment of the HIT for the worker, as MTurk's Accept button does."""
    if not WORKER_ID.fullmatch(worker_id):
        raise ValueError(f"{worker_id!r} is not an MTurk worker id (A followed by capitals and digits)")
    now = state.tick()
    hit = state.hits.get(hit_id)
    if hit is None or hit.deleted:
        raise WorkerActionRefused(f"HIT {hit_id} does not exist")
    status = state.hit_status(hit, now)
    if status != "Assignable":
        raise WorkerActionRefused(f"HIT {hit_id} is {status}, not Assignable")
    owner = hit.hit_type.owner
    if (owner, worker_id) in state.blocks:
        raise WorkerActionRefused(f"worker {worker_id} is blocked by the requester of HIT {hit_id}")
    worker = state.worker(worker_id)
    unmet = unmet_requirements(state, owner, hit.hit_type.requirements, worker)
    if unmet:
        raise WorkerActionRefused(f"worker {worker_id} does not meet the qualification requirements {', '.join(unmet)}")
    for other in state.hit_assignments(hit):
        if other.worker_id == worker_id and other.state.holds_slot:
            raise WorkerActionRefused(f"worker {worker_id} already has an assignment of HIT {hit_id}")
    assignment = Assignment(
        assignment_id=new_id(),
        hit_id=hit_id,
        worker_id=worker_id,
        state=AssignmentState.ACCEPTED,
        accepted=now,
        deadline=now + hit.hit_type.assignment_duration,
    )
    state.assignments[assignment.assignment_id] = assignment
    hit.assignment_ids.append(assignment.assignment_id)
    external = check_question(hit.question, require_https=False)
    url = None
    if external is not None:
        url = worker_url(
            external,
            {
                "assignmentId": assignment.assignment_id,
                "hitId": hit_id,
                "workerId": worker_id,
                "turkSubmitTo": submit_to,
            },
        )
    return Visit(assignment.assignment_id, hit_id, worker_id, url)


def preview_url(state: FakeState, hit_id: str) -> str:
    """The page a worker previewing the HIT sees (assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE)."""
    hit = state.hits.get(hit_id)
    if hit is None or hit.deleted:
        raise WorkerActionRefused(f"HIT {hit_id} does not exist")
    external = check_question(hit.question, require_https=False)
    if external is None:
        raise WorkerActionRefused(f"HIT {hit_id} has no ExternalQuestion")
    return worker_url(external, {"assignmentId": ASSIGNMENT_ID_NOT_AVAILABLE, "hitId": hit_id})


def _accepted(state: FakeState, assignment_id: str) -> Assignment:
    state.tick()
    assignment = state.assignments.get(assignment_id)
    if assignment is None:
        raise WorkerActionRefused(f"assignment {assignment_id} does not exist")
    if assignment.state is not AssignmentState.ACCEPTED:
        raise WorkerActionRefused(f"assignment {assignment_id} is {assignment.state.value}, no longer accepted")
    return assignment


def end_assignment(state: FakeState, assignment_id: str, how: AssignmentState) -> None:
    """Return or abandon an accepted assignment; its slot goes back to the HIT."""
    assignment = _accepted(state, assignment_id)
    assignment.state = how
    assignment.ended = state.clock.now()


def submit(state: FakeState, assignment_id: str, fields: list[tuple[str, str]]) -> Assignment:
    """Store the worker's answers as a Submitted assignment (the externalSubmit endpoint's job)."""
    assignment = _accepted(state, assignment_id)
    now = state.clock.now()
    hit = state.hits[assignment.hit_id]
    assignment.state = AssignmentState.SUBMITTED
    assignment.submitted = now
    assignment.auto_approval_at = now + hit.hit_type.auto_approval_delay
    assignment.answer = answers_xml(fields)
    return assignment
