"""What MTurk puts in the worker page's link (ExternalQuestion parameters) and where the page posts back."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from mephisto_core.abstractions import PageCompletion, WorkerIdentity
from mephisto_provider_mturk.store import ProviderStore

PREVIEW_ASSIGNMENT = "ASSIGNMENT_ID_NOT_AVAILABLE"
#: The hosts MTurk's worker site posts answers from (the `turkSubmitTo` parameter of an ExternalQuestion).
LIVE_SUBMIT_HOSTS = frozenset({"www.mturk.com"})
SANDBOX_SUBMIT_HOSTS = frozenset({"workersandbox.mturk.com"})
SUBMIT_PATH = "/mturk/externalSubmit"
#: Sent with the assignment id: MTurk refuses an externalSubmit carrying no answer field at all.
SUBMITTED_FIELD = "mephisto_submitted"
_ID = re.compile(r"^[A-Za-z0-9]{1,64}$")
BAD_LINK = (
    "This page must be opened from Amazon Mechanical Turk: the link lacks the worker, assignment or HIT it "
    "should carry. Please open the task again from MTurk."
)


def submit_url(turk_submit_to: str, sandbox: bool, override: str | None) -> str | None:
    """MTurk's externalSubmit URL for a link's `turkSubmitTo`, or None when that is not MTurk's (of this kind).

    Live links must name https://www.mturk.com, sandbox links https://workersandbox.mturk.com; the test
    endpoint (`override`, from MEPHISTO_MTURK_ENDPOINT_URL) is accepted too, on its own scheme. Nothing but the
    origin is accepted, so a link cannot send the page's post anywhere else.
    """
    parts = urlsplit(turk_submit_to)
    hosts = SANDBOX_SUBMIT_HOSTS if sandbox else LIVE_SUBMIT_HOSTS
    testing = override is not None and parts.netloc == urlsplit(override).netloc
    if not testing and (parts.netloc not in hosts or parts.scheme != "https"):
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    return f"{parts.scheme}://{parts.netloc}{SUBMIT_PATH}"


def identify(
    params: Mapping[str, str], sandbox: bool, store: ProviderStore, override: str | None = None
) -> WorkerIdentity:
    """Who opened the page: a preview (assignment not available), a refusal, or the worker with the assignment
    and the completion post to MTurk. Remembers each assignment's HIT for reconciliation."""
    assignment_id = params.get("assignmentId", "")
    if assignment_id == PREVIEW_ASSIGNMENT:
        return WorkerIdentity(None)
    worker_id, hit_id = params.get("workerId", ""), params.get("hitId", "")
    if not (_ID.match(worker_id) and _ID.match(assignment_id) and _ID.match(hit_id)):
        return WorkerIdentity(None, refusal=BAD_LINK)
    url = submit_url(params.get("turkSubmitTo", ""), sandbox, override)
    if url is None:
        where = "the MTurk sandbox" if sandbox else "MTurk"
        return WorkerIdentity(
            None,
            refusal=f"This link does not come from {where} (its turkSubmitTo is not {where}'s). "
            "Please open the task again from MTurk.",
        )
    store.note_assignment(assignment_id, hit_id, worker_id)
    completion = PageCompletion(
        url=url,
        method="POST",
        fields={"assignmentId": assignment_id, SUBMITTED_FIELD: "true"},
        label="Submit the HIT to MTurk",
    )
    return WorkerIdentity(worker_id, provider_agent_id=assignment_id, completion=completion)
