"""The fake's in-memory records: what MTurk keeps per requester account."""

from __future__ import annotations

import enum
import secrets
import string
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

_ID_ALPHABET = string.ascii_uppercase + string.digits


def new_id(length: int = 30) -> str:
    """An id in MTurk's alphabet (upper-case letters and digits), like `3ICOHX7ENCZ42U424A8X5Q2IUMB0EI`."""
    return "3" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length - 1))


class AssignmentState(enum.Enum):
    """Where an assignment is. Only the last three are visible through the requester API."""

    ACCEPTED = "Accepted"
    RETURNED = "Returned"
    ABANDONED = "Abandoned"
    SUBMITTED = "Submitted"
    APPROVED = "Approved"
    REJECTED = "Rejected"

    @property
    def holds_slot(self) -> bool:
        """True when the assignment uses one of the HIT's MaxAssignments."""
        return self not in (AssignmentState.RETURNED, AssignmentState.ABANDONED)

    @property
    def visible(self) -> bool:
        """True for the statuses the requester API reports (Submitted | Approved | Rejected)."""
        return self in (AssignmentState.SUBMITTED, AssignmentState.APPROVED, AssignmentState.REJECTED)


@dataclass
class Account:
    """A requester account: credentials and prepaid balance."""

    access_key_id: str
    secret_access_key: str
    balance: Decimal


@dataclass
class HITType:
    """The common properties of HITs made with `CreateHITType` (or implicitly by `CreateHIT`)."""

    hit_type_id: str
    owner: str
    title: str
    description: str
    reward: Decimal
    assignment_duration: int
    auto_approval_delay: int
    keywords: str
    requirements: list[dict[str, Any]]

    def identity(self) -> tuple[Any, ...]:
        """The values that make two CreateHITType calls return the same HIT type id."""
        return (
            self.owner,
            self.title,
            self.description,
            self.reward,
            self.assignment_duration,
            self.auto_approval_delay,
            self.keywords,
            repr(self.requirements),
        )


@dataclass
class HIT:
    """One HIT; its status is derived from its assignments and the clock (see `_lifecycle`)."""

    hit_id: str
    hit_type: HITType
    created: float
    expiration: float
    max_assignments: int
    question: str
    annotation: str | None
    token: str | None
    review_status: str = "NotReviewed"
    reviewing: bool = False
    deleted: bool = False
    assignment_ids: list[str] = field(default_factory=list)


@dataclass
class Assignment:
    """One worker's take of one HIT."""

    assignment_id: str
    hit_id: str
    worker_id: str
    state: AssignmentState
    accepted: float
    deadline: float
    submitted: float | None = None
    auto_approval_at: float | None = None
    approved: float | None = None
    rejected: float | None = None
    answer: str | None = None
    feedback: str | None = None
    ended: float | None = None


@dataclass
class QualificationType:
    """A qualification type; system types (locale, adult, ...) have no owner."""

    type_id: str
    owner: str | None
    name: str
    description: str
    keywords: str
    status: str
    created: float
    auto_granted: bool = False
    auto_granted_value: int = 1
    retry_delay: int | None = None
    test: str | None = None
    answer_key: str | None = None
    test_duration: int | None = None
    deleted: bool = False


@dataclass
class Score:
    """A qualification granted to (or revoked from) a worker."""

    type_id: str
    worker_id: str
    value: int
    granted: float
    status: str = "Granted"


@dataclass
class Bonus:
    """A bonus paid with `SendBonus`."""

    owner: str
    worker_id: str
    assignment_id: str
    hit_id: str
    amount: Decimal
    reason: str
    granted: float
    token: str | None


@dataclass
class Worker:
    """What the fake knows of a worker: profile values MTurk's system qualifications read."""

    worker_id: str
    locale: dict[str, str] = field(default_factory=lambda: {"Country": "US"})
    approved_count: int = 1000
    approval_rate: int = 100
    adult: bool = True
    masters: bool = False


@dataclass
class Notification:
    """A message sent with `NotifyWorkers`."""

    owner: str
    worker_id: str
    subject: str
    text: str
    sent: float


@dataclass
class RequestRecord:
    """One call the fake received: what tests assert on."""

    operation: str
    params: dict[str, Any]
    access_key_id: str | None
    time: float
    error: str | None = None
