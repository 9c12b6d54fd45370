"""What workers do on MTurk: accept a HIT, work in the ExternalQuestion page, submit, return."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._questions import ASSIGNMENT_ID_NOT_AVAILABLE, answers_xml, check_question, html_content, worker_url
from ._records import Assignment, AssignmentState, new_id
from ._requirements import unmet_requirements
from ._state import FakeState

HTML_QUESTION_PATH = "/mturk/htmlquestion/"
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
    """The page with assignmentId, hitId, workerId and turkSubmitTo: the ExternalURL, the fake's copy of an
    HTMLQuestion, or None for a QuestionForm."""


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
    page = _page_url(hit.hit_id, hit.question, submit_to)
    params = {
        "assignmentId": assignment.assignment_id,
        "hitId": hit_id,
        "workerId": worker_id,
        "turkSubmitTo": submit_to,
    }
    return Visit(assignment.assignment_id, hit_id, worker_id, worker_url(page, params) if page else None)


def _page_url(hit_id: str, question: str, base_url: str) -> str | None:
    """Where the worker's page lives: the ExternalURL, or the fake's own copy of an HTMLQuestion."""
    external = check_question(question, require_https=False)
    if external is not None:
        return external
    if html_content(question) is not None:
        return f"{base_url}{HTML_QUESTION_PATH}{hit_id}"
    return None


def preview_url(state: FakeState, hit_id: str, base_url: str) -> str:
    """The page a worker previewing the HIT sees (assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE)."""
    hit = state.hits.get(hit_id)
    if hit is None or hit.deleted:
        raise WorkerActionRefused(f"HIT {hit_id} does not exist")
    page = _page_url(hit_id, hit.question, base_url)
    if page is None:
        raise WorkerActionRefused(f"HIT {hit_id} has a QuestionForm, which the fake does not render")
    return worker_url(page, {"assignmentId": ASSIGNMENT_ID_NOT_AVAILABLE, "hitId": hit_id})


def html_question_page(state: FakeState, hit_id: str) -> str | None:
    """The HTMLContent the fake serves at HTML_QUESTION_PATH + hit id, or None."""
    hit = state.hits.get(hit_id)
    return html_content(hit.question) if hit is not None and not hit.deleted else None


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
