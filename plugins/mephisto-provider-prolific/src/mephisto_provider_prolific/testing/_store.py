"""The fake's in-memory records, its clock and the error it answers with.

Every record lives in one `Store`; every read or change of it happens under `Store.lock`, taken by the HTTP
handlers and by the participant-side helpers alike, so a test's participant and the provider's client can act at
the same time without tearing a record.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

JSON = dict[str, Any]

# Error codes in Prolific's body shape; the numbers are our own (Prolific's list is not public).
ERROR_CODES = {400: 140001, 401: 140000, 402: 140002, 403: 140003, 404: 140004, 405: 140005, 429: 140029}
ERROR_TITLES = {
    400: "Bad Request.",
    401: "Authentication failed.",
    402: "Insufficient funds.",
    403: "Forbidden.",
    404: "Not found.",
    405: "Method not allowed.",
    411: "Length Required.",
    429: "Too Many Requests.",
    500: "Internal Server Error.",
    502: "Bad Gateway.",
    503: "Service Unavailable.",
}


class ApiError(Exception):
    """A refusal the fake answers with Prolific's error body: `{"error": {status, error_code, title, detail, ...}}`."""

    def __init__(self, status: int, detail: Any, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.headers = headers or {}

    def body(self) -> JSON:
        code = ERROR_CODES.get(self.status, 140000 + self.status)
        return {
            "error": {
                "status": self.status,
                "error_code": code,
                "title": ERROR_TITLES.get(self.status, "Error."),
                "detail": self.detail,
                "additional_information": f"/api/v1/errors/{code}",
                "traceback": None,
                "interactive": False,
            }
        }


def bad_request(detail: Any) -> ApiError:
    """A 400 whose detail is a message or a `{field: [messages]}` mapping, as Django REST framework writes it."""
    return ApiError(400, detail)


def not_found(what: str, ident: str) -> ApiError:
    return ApiError(404, f"{what} {ident!r} not found.")


def new_id() -> str:
    """An id shaped like Prolific's (a 24-hex MongoDB ObjectId)."""
    return secrets.token_hex(12)


def iso(moment: datetime | None) -> str | None:
    """Prolific's timestamp format: UTC with microseconds and a `Z`."""
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Clock:
    """Wall-clock time plus an offset that `advance` moves forward (for maximum_allowed_time and time-outs)."""

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"the fake clock only moves forward; advance({seconds}) was asked")
        with self._lock:
            self._offset += timedelta(seconds=seconds)


class StudyStatus:
    UNPUBLISHED = "UNPUBLISHED"
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    AWAITING_REVIEW = "AWAITING REVIEW"
    COMPLETED = "COMPLETED"


class SubmissionStatus:
    ACTIVE = "ACTIVE"
    AWAITING_REVIEW = "AWAITING REVIEW"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    RETURNED = "RETURNED"
    TIMED_OUT = "TIMED-OUT"
    PARTIALLY_APPROVED = "PARTIALLY APPROVED"
    SCREENED_OUT = "SCREENED OUT"


# Statuses that hold one of the study's places (a return, rejection or time-out frees it).
PLACE_HOLDING = frozenset(
    {
        SubmissionStatus.ACTIVE,
        SubmissionStatus.AWAITING_REVIEW,
        SubmissionStatus.APPROVED,
        SubmissionStatus.PARTIALLY_APPROVED,
    }
)


@dataclass
class User:
    id: str
    email: str
    first_name: str = "Fake"
    last_name: str = "Researcher"
    currency_code: str = "GBP"

    def to_json(self, balance_cents: int) -> JSON:
        return {
            "id": self.id,
            "user_type": "researcher",
            "email": self.email,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "name": f"{self.first_name} {self.last_name}",
            "currency_code": self.currency_code,
            "balance": balance_cents,
            "available_balance": balance_cents,
        }


@dataclass
class Workspace:
    id: str
    title: str
    description: str
    owner: str
    balance_cents: int

    def to_json(self) -> JSON:
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "owner": self.owner,
            "users": [{"id": self.owner, "roles": ["WORKSPACE_ADMIN"]}],
            "naivety_distribution_rate": None,
        }


@dataclass
class Project:
    id: str
    title: str
    description: str
    workspace_id: str
    owner: str

    def to_json(self) -> JSON:
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "owner": self.owner,
            "users": [{"id": self.owner, "roles": ["PROJECT_EDITOR"]}],
            "workspace": self.workspace_id,
            "naivety_distribution_rate": None,
        }


@dataclass
class Study:
    id: str
    project_id: str
    workspace_id: str
    data: JSON  # the researcher's fields, as sent (validated) and as later patched
    created_at: datetime
    status: str = StudyStatus.UNPUBLISHED
    stopped: bool = False  # STOP was asked: final, the study never takes participants again
    published_at: datetime | None = None


@dataclass
class Submission:
    id: str
    study_id: str
    participant_id: str
    started_at: datetime
    status: str = SubmissionStatus.ACTIVE
    completed_at: datetime | None = None
    entered_code: str | None = None
    bonus_cents: list[int] = field(default_factory=list)
    return_requested: datetime | None = None
    return_reasons: list[str] = field(default_factory=list)


@dataclass
class BulkBonus:
    id: str
    study_id: str
    csv_bonuses: str
    # one row per CSV line: (participant id, submission id, amount in cents)
    rows: list[tuple[str, str, int]]
    amount: int
    fees: int
    vat: int
    times_paid: int = 0

    @property
    def total_amount(self) -> int:
        return self.amount + self.fees + self.vat

    def to_json(self) -> JSON:
        return {
            "id": self.id,
            "study": self.study_id,
            "amount": self.amount,
            "fees": self.fees,
            "vat": self.vat,
            "total_amount": self.total_amount,
            "csv_bonuses": self.csv_bonuses,
        }


@dataclass
class Message:
    id: str
    sender_id: str
    recipient_id: str
    study_id: str | None
    body: str
    sent_at: datetime

    def to_json(self) -> JSON:
        return {
            "id": self.id,
            "sender_id": self.sender_id,
            "recipient_id": self.recipient_id,
            "study_id": self.study_id,
            "body": self.body,
            "sent_at": iso(self.sent_at),
            "type": "message",
        }


@dataclass
class ParticipantGroup:
    id: str
    name: str
    description: str
    workspace_id: str | None
    project_id: str | None
    members: dict[str, datetime] = field(default_factory=dict)  # participant id -> when added
    is_deleted: bool = False

    def to_json(self) -> JSON:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "workspace_id": self.workspace_id,
            "project_id": self.project_id,
            "organisation_id": None,
            "participant_count": len(self.members),
            "is_deleted": self.is_deleted,
            "feeder_studies": [],
        }

    def members_json(self) -> list[JSON]:
        return [{"participant_id": pid, "datetime_created": iso(when)} for pid, when in self.members.items()]


@dataclass
class Store:
    """Everything the fake knows. Hold `lock` to read or change any of it."""

    user: User
    clock: Clock
    fee_rate: Decimal
    vat_rate: Decimal
    pay_twice: bool
    page_size: int
    lock: threading.RLock = field(default_factory=threading.RLock)
    workspaces: dict[str, Workspace] = field(default_factory=dict)
    projects: dict[str, Project] = field(default_factory=dict)
    studies: dict[str, Study] = field(default_factory=dict)
    submissions: dict[str, Submission] = field(default_factory=dict)
    bonuses: dict[str, BulkBonus] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)
    groups: dict[str, ParticipantGroup] = field(default_factory=dict)
    #: reads of submissions a bulk approval takes to show (0: at once); see `FakeProlific.approve_in_background`
    approval_lag_reads: int = 0
    #: bulk approvals under way: [reads left, submission ids]
    approving: list[tuple[int, list[str]]] = field(default_factory=list)

    def study(self, study_id: str) -> Study:
        found = self.studies.get(study_id)
        if found is None:
            raise not_found("Study", study_id)
        return found

    def submission(self, submission_id: str) -> Submission:
        found = self.submissions.get(submission_id)
        if found is None:
            raise not_found("Submission", submission_id)
        return found

    def group(self, group_id: str) -> ParticipantGroup:
        found = self.groups.get(group_id)
        if found is None or found.is_deleted:
            raise not_found("Participant group", group_id)
        return found

    def workspace(self, workspace_id: str) -> Workspace:
        found = self.workspaces.get(workspace_id)
        if found is None:
            raise not_found("Workspace", workspace_id)
        return found

    def project(self, project_id: str) -> Project:
        found = self.projects.get(project_id)
        if found is None:
            raise not_found("Project", project_id)
        return found

    def submissions_of(self, study_id: str) -> list[Submission]:
        return [s for s in self.submissions.values() if s.study_id == study_id]

    def fee_on(self, cents: int) -> tuple[int, int]:
        """Prolific's service fee and the VAT on that fee, in cents, for `cents` paid to participants."""
        fee = int((Decimal(cents) * self.fee_rate).quantize(Decimal(1)))
        vat = int((Decimal(fee) * self.vat_rate).quantize(Decimal(1)))
        return fee, vat
