"""The fake's whole state behind one lock, its clock, and the time-driven part of MTurk's lifecycle.

HIT statuses are derived, never stored: from the clock, the HIT's expiration and its assignments'
states. Time-driven changes (an accepted assignment past its deadline is abandoned, a submitted one
past its auto-approval time is approved and paid) happen in `tick`, which runs before every request
and every inspection, so `advance(seconds)` has the same effect as waiting.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar

from ._errors import MTurkFault, insufficient_funds, request_error
from ._records import (
    HIT,
    Account,
    Assignment,
    AssignmentState,
    Bonus,
    HITType,
    Notification,
    QualificationType,
    RequestRecord,
    Score,
    Worker,
)

T = TypeVar("T")

CENT = Decimal("0.01")
DEFAULT_PAGE_SIZE = 10
TOKEN_LIFETIME = 24 * 3600
NAME_REUSE_DELAY = 48 * 3600

# MTurk's system qualification types (the same ids on live and sandbox, except Masters).
LOCALE_QUALIFICATION = "00000000000000000071"
HITS_APPROVED_QUALIFICATION = "00000000000000000040"
PERCENT_APPROVED_QUALIFICATION = "000000000000000000L0"
ADULT_QUALIFICATION = "00000000000000000060"
MASTERS_QUALIFICATIONS = ("2ARFPLSP75KLA8M8DH1HTEQVJT3SY6", "2F1QJWKUDD8XADTFD2Q0G6UTO95ALH")


def money(value: Decimal) -> str:
    """A currency amount as MTurk writes it: dollars with two decimals."""
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def fee_for(amount: Decimal, *, rate: Decimal = Decimal("0.20")) -> Decimal:
    """MTurk's commission on a reward or a bonus: `rate` of it, at least one cent."""
    return max(CENT, (amount * rate).quantize(CENT, rounding=ROUND_HALF_UP))


def reward_fee_rate(max_assignments: int) -> Decimal:
    """20% commission, 40% for HITs with 10 or more assignments."""
    return Decimal("0.40") if max_assignments >= 10 else Decimal("0.20")


class Clock:
    """Wall-clock time plus an offset tests move forward with `advance` instead of sleeping."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """The fake's current time in epoch seconds."""
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the fake's time forward by `seconds` (never backward)."""
        if seconds < 0:
            raise ValueError(f"the fake clock only moves forward, not by {seconds} s")
        with self._lock:
            self._offset += seconds


class FakeState:
    """Everything the fake service knows. Hold `lock` while reading or changing anything."""

    def __init__(self, clock: Clock) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.accounts: dict[str, Account] = {}
        self.hit_types: dict[str, HITType] = {}
        self.hit_type_groups: dict[str, str] = {}
        self.hits: dict[str, HIT] = {}
        self.assignments: dict[str, Assignment] = {}
        self.qualification_types: dict[str, QualificationType] = {}
        self.qualification_deleted_at: dict[str, float] = {}
        self.scores: dict[tuple[str, str], Score] = {}
        self.blocks: dict[tuple[str, str], str] = {}
        self.bonuses: list[Bonus] = []
        self.workers: dict[str, Worker] = {}
        self.notifications: list[Notification] = []
        self.hit_tokens: dict[tuple[str, str], tuple[str, float]] = {}
        self.bonus_tokens: dict[tuple[str, str], float] = {}
        self.extension_tokens: dict[tuple[str, str], float] = {}
        self.requests: list[RequestRecord] = []
        self.payments: list[tuple[str, str, Decimal, str]] = []
        self._add_system_qualifications()

    def _add_system_qualifications(self) -> None:
        system = {
            LOCALE_QUALIFICATION: ("Worker_Locale", "The Worker's location"),
            HITS_APPROVED_QUALIFICATION: ("Worker_NumberHITsApproved", "HITs approved"),
            PERCENT_APPROVED_QUALIFICATION: ("Worker_PercentAssignmentsApproved", "Approval rate"),
            ADULT_QUALIFICATION: ("Worker_Adult", "Adult content qualification"),
            MASTERS_QUALIFICATIONS[0]: ("Masters", "Masters (live)"),
            MASTERS_QUALIFICATIONS[1]: ("Masters", "Masters (sandbox)"),
        }
        for type_id, (name, description) in system.items():
            self.qualification_types[type_id] = QualificationType(
                type_id=type_id,
                owner=None,
                name=name,
                description=description,
                keywords="system",
                status="Active",
                created=0.0,
            )

    # -- time -------------------------------------------------------------------------------

    def tick(self) -> float:
        """Apply what the passing of time did since the last call; return the current time."""
        now = self.clock.now()
        for assignment in self.assignments.values():
            if assignment.state is AssignmentState.ACCEPTED and assignment.deadline <= now:
                assignment.state = AssignmentState.ABANDONED
                assignment.ended = assignment.deadline
            elif (
                assignment.state is AssignmentState.SUBMITTED
                and assignment.auto_approval_at is not None
                and assignment.auto_approval_at <= now
            ):
                self.approve(assignment, when=assignment.auto_approval_at, feedback=None, force=True)
        return now

    # -- derived views ----------------------------------------------------------------------

    def hit_assignments(self, hit: HIT) -> list[Assignment]:
        """The HIT's assignments in the order they were accepted."""
        return [self.assignments[a] for a in hit.assignment_ids]

    def counts(self, hit: HIT, now: float) -> tuple[int, int, int]:
        """(pending, available, completed) as the HIT structure reports them."""
        held = [a for a in self.hit_assignments(hit) if a.state.holds_slot]
        pending = sum(1 for a in held if a.state is AssignmentState.ACCEPTED)
        completed = sum(1 for a in held if a.state in (AssignmentState.APPROVED, AssignmentState.REJECTED))
        available = 0 if now >= hit.expiration else max(0, hit.max_assignments - len(held))
        return pending, available, completed

    def hit_status(self, hit: HIT, now: float) -> str:
        """Assignable | Unassignable | Reviewable | Reviewing | Disposed, as MTurk derives it."""
        if hit.deleted:
            return "Disposed"
        pending, available, _ = self.counts(hit, now)
        if available > 0:
            return "Assignable"
        if pending > 0:
            return "Unassignable"
        return "Reviewing" if hit.reviewing else "Reviewable"

    # -- money ------------------------------------------------------------------------------

    def debit(self, owner: str, amount: Decimal, what: str) -> None:
        """Take `amount` from the owner's balance, or refuse the whole operation."""
        account = self.accounts[owner]
        if amount > account.balance:
            raise insufficient_funds()
        account.balance -= amount
        self.payments.append((owner, what, amount, money(account.balance)))

    def approve(self, assignment: Assignment, *, when: float, feedback: str | None, force: bool = False) -> None:
        """Approve and pay the reward plus MTurk's fee (auto-approval pays even below zero)."""
        hit = self.hits[assignment.hit_id]
        reward = hit.hit_type.reward
        total = reward + fee_for(reward, rate=reward_fee_rate(hit.max_assignments))
        owner = hit.hit_type.owner
        if force:
            self.accounts[owner].balance -= total
            self.payments.append((owner, f"reward {assignment.assignment_id}", total, ""))
        else:
            self.debit(owner, total, f"reward {assignment.assignment_id}")
        assignment.state = AssignmentState.APPROVED
        assignment.approved = when
        assignment.rejected = None
        if feedback is not None:
            assignment.feedback = feedback

    # -- lookups ----------------------------------------------------------------------------

    def owned_hit(self, owner: str, hit_id: str) -> HIT:
        """The caller's HIT, or MTurk's answer for an unknown id."""
        hit = self.hits.get(hit_id)
        if hit is None or hit.hit_type.owner != owner:
            raise request_error(f"Hit {hit_id} does not exist.", "AWS.MechanicalTurk.HITDoesNotExist")
        return hit

    def owned_assignment(self, owner: str, assignment_id: str) -> Assignment:
        """A submitted/approved/rejected assignment of one of the caller's HITs."""
        assignment = self.assignments.get(assignment_id)
        if assignment is None or not assignment.state.visible or self.hits[assignment.hit_id].hit_type.owner != owner:
            raise request_error(
                f"Assignment {assignment_id} does not exist.",
                "AWS.MechanicalTurk.AssignmentDoesNotExist",
            )
        return assignment

    def owned_qualification_type(self, owner: str, type_id: str) -> QualificationType:
        """The caller's own (not deleted) qualification type."""
        qtype = self.qualification_types.get(type_id)
        if qtype is None or qtype.deleted or qtype.owner != owner:
            raise request_error(
                f"QualificationType {type_id} does not exist or is not owned by you.",
                "AWS.MechanicalTurk.QualificationTypeDoesNotExist",
            )
        return qtype

    def worker(self, worker_id: str) -> Worker:
        """The worker's profile, made with MTurk-like defaults on first sight."""
        return self.workers.setdefault(worker_id, Worker(worker_id))


def paginate(items: Sequence[T], params: dict[str, Any]) -> tuple[list[T], str | None]:
    """One page of `items` after `NextToken`, of at most `MaxResults`, and the next token."""
    size = params.get("MaxResults", DEFAULT_PAGE_SIZE)
    start = 0
    token = params.get("NextToken")
    if token is not None:
        try:
            start = int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("offset:"))
        except ValueError:
            raise request_error(f"The pagination token {token!r} is not valid.", "AWS.ParameterOutOfRange") from None
    page = list(items[start : start + size])
    following = start + size
    next_token = None
    if following < len(items):
        next_token = base64.urlsafe_b64encode(f"offset:{following}".encode()).decode()
    return page, next_token


def listing(key: str, page: list[dict[str, Any]], next_token: str | None) -> dict[str, Any]:
    """A List* answer: the page under `key`, NumResults and NextToken when there is more."""
    result: dict[str, Any] = {"NumResults": len(page), key: page}
    if next_token is not None:
        result["NextToken"] = next_token
    return result


__all__ = ["Clock", "FakeState", "MTurkFault", "fee_for", "listing", "money", "paginate"]
