"""Status values of units, agents and assignments, and the only place their allowed transitions live.

Every status change in the code goes through `check_unit_transition` / `check_agent_transition` (directly, or
through the conditional updates in `data_model.transitions`), and every unit's first status through
`check_unit_birth`, so an illegal change raises instead of silently corrupting a run.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from mephisto_core.errors import IllegalTransition


class UnitStatus(StrEnum):
    """Lifecycle of one worker slot of an assignment."""

    CREATED = "created"  # exists in the database, not yet offered to workers
    LAUNCHED = "launched"  # offered at the provider, waiting for a worker
    ASSIGNED = "assigned"  # claimed by one agent, work in progress
    COMPLETED = "completed"  # submitted and stored, awaiting review
    ACCEPTED = "accepted"  # approved (paid)
    REJECTED = "rejected"  # rejected (not paid)
    SOFT_REJECTED = "soft_rejected"  # paid, but the work is not used and the worker may be soft-blocked
    EXPIRED = "expired"  # withdrawn before anyone completed it


class AgentStatus(StrEnum):
    """Lifecycle of one worker's attempt at one unit (or at onboarding)."""

    IN_TASK = "in_task"  # working on the unit
    COMPLETED = "completed"  # submitted
    DISCONNECTED = "disconnected"  # gone past the grace period; the unit went back to the pool
    TIMED_OUT = "timed_out"  # took longer than assignment_duration_seconds; the unit went back to the pool
    RETURNED = "returned"  # handed the work back at the provider
    EXPIRED = "expired"  # the unit was withdrawn while the agent held it
    APPROVED = "approved"
    REJECTED = "rejected"
    SOFT_REJECTED = "soft_rejected"


class AssignmentStatus(StrEnum):
    """Derived from the unit statuses of an assignment by `assignment_status`; never stored."""

    CREATED = "created"
    LAUNCHED = "launched"
    ASSIGNED = "assigned"
    COMPLETED = "completed"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    SOFT_REJECTED = "soft_rejected"
    MIXED = "mixed"
    EXPIRED = "expired"


_U = UnitStatus
UNIT_TRANSITIONS: dict[UnitStatus, frozenset[UnitStatus]] = {
    _U.CREATED: frozenset({_U.LAUNCHED, _U.EXPIRED}),
    _U.LAUNCHED: frozenset({_U.ASSIGNED, _U.EXPIRED}),
    # ASSIGNED -> LAUNCHED: the agent disconnected, timed out or returned; the unit is offered again.
    _U.ASSIGNED: frozenset({_U.COMPLETED, _U.LAUNCHED, _U.EXPIRED}),
    _U.COMPLETED: frozenset({_U.ACCEPTED, _U.REJECTED, _U.SOFT_REJECTED}),
    _U.ACCEPTED: frozenset(),
    # A rejection may be overturned (MTurk allows approving a rejected assignment within 30 days).
    _U.REJECTED: frozenset({_U.ACCEPTED}),
    _U.SOFT_REJECTED: frozenset(),
    # An expired unit is offered again when its run is resumed.
    _U.EXPIRED: frozenset({_U.LAUNCHED}),
}

#: Statuses a unit may be created in. CREATED is the rule. LAUNCHED is for a unit offered the moment it exists:
#: the launcher creates units that way only when offering one is nothing but its status change (the provider
#: publishes nothing per unit and `max_num_concurrent_units` sets no limit), saving the created -> launched write.
UNIT_BIRTH_STATUSES: frozenset[UnitStatus] = frozenset({_U.CREATED, _U.LAUNCHED})

_A = AgentStatus
AGENT_TRANSITIONS: dict[AgentStatus, frozenset[AgentStatus]] = {
    _A.IN_TASK: frozenset({_A.COMPLETED, _A.DISCONNECTED, _A.TIMED_OUT, _A.RETURNED, _A.EXPIRED}),
    _A.COMPLETED: frozenset({_A.APPROVED, _A.REJECTED, _A.SOFT_REJECTED}),
    _A.REJECTED: frozenset({_A.APPROVED}),
    _A.DISCONNECTED: frozenset(),
    _A.TIMED_OUT: frozenset(),
    _A.RETURNED: frozenset(),
    _A.EXPIRED: frozenset(),
    _A.APPROVED: frozenset(),
    _A.SOFT_REJECTED: frozenset(),
}

#: Units that still need a worker or are being worked on.
INCOMPLETE_UNIT_STATUSES = frozenset({_U.CREATED, _U.LAUNCHED, _U.ASSIGNED})
#: Units whose work was submitted (reviewed or not).
SUBMITTED_UNIT_STATUSES = frozenset({_U.COMPLETED, _U.ACCEPTED, _U.REJECTED, _U.SOFT_REJECTED})
#: Units that cost money (submitted and not rejected).
PAYABLE_UNIT_STATUSES = frozenset({_U.COMPLETED, _U.ACCEPTED, _U.SOFT_REJECTED})
#: Agents that still hold their unit.
ACTIVE_AGENT_STATUSES = frozenset({_A.IN_TASK})


def unit_sources(target: UnitStatus) -> frozenset[UnitStatus]:
    """Every status from which a unit may move to `target` (used in conditional UPDATEs)."""
    return frozenset(src for src, targets in UNIT_TRANSITIONS.items() if target in targets)


def agent_sources(target: AgentStatus) -> frozenset[AgentStatus]:
    """Every status from which an agent may move to `target`."""
    return frozenset(src for src, targets in AGENT_TRANSITIONS.items() if target in targets)


def check_unit_transition(current: str, target: str) -> None:
    """Raise IllegalTransition unless a unit may move from `current` to `target`."""
    _check("unit", UnitStatus, UNIT_TRANSITIONS, current, target)


def check_unit_birth(status: str) -> None:
    """Raise IllegalTransition unless a unit may be created in `status` (see UNIT_BIRTH_STATUSES)."""
    if status not in UNIT_BIRTH_STATUSES:
        allowed = ", ".join(sorted(s.value for s in UNIT_BIRTH_STATUSES))
        raise IllegalTransition(f"a unit cannot be created as {status!r}; allowed: {allowed}")


def check_agent_transition(current: str, target: str) -> None:
    """Raise IllegalTransition unless an agent may move from `current` to `target`."""
    _check("agent", AgentStatus, AGENT_TRANSITIONS, current, target)


def _check(kind: str, enum: type[StrEnum], table: dict, current: str, target: str) -> None:  # type: ignore[type-arg]
    try:
        cur, tgt = enum(current), enum(target)
    except ValueError as exc:
        valid = ", ".join(s.value for s in enum)
        raise IllegalTransition(f"unknown {kind} status in {current!r} -> {target!r}; valid: {valid}") from exc
    if tgt not in table[cur]:
        allowed = ", ".join(sorted(s.value for s in table[cur])) or "nothing (final status)"
        raise IllegalTransition(f"a {kind} cannot go from {cur.value!r} to {tgt.value!r}; allowed: {allowed}")


def assignment_status(unit_statuses: Iterable[str]) -> AssignmentStatus:
    """The status of an assignment, derived from its units' statuses; defined for every combination."""
    statuses = {UnitStatus(s) for s in unit_statuses}
    if not statuses:
        return AssignmentStatus.CREATED
    if len(statuses) == 1:
        return AssignmentStatus(next(iter(statuses)).value)
    for busy in (_U.ASSIGNED, _U.LAUNCHED, _U.CREATED):
        if busy in statuses:
            return AssignmentStatus(busy.value)
    if _U.COMPLETED in statuses:
        # Some units await review: the assignment as a whole does too.
        return AssignmentStatus.COMPLETED
    # What is left is a mix of final statuses: accepted, rejected, soft_rejected, expired.
    return AssignmentStatus.MIXED


class ReviewKind(StrEnum):
    """What a review record did."""

    APPROVE = "approve"
    REJECT = "reject"
    SOFT_REJECT = "soft_reject"
    BONUS = "bonus"
    BLOCK = "block"
    UNBLOCK = "unblock"
    GRANT = "grant"
    REVOKE = "revoke"
    PLATFORM = "platform"  # what the provider did with a block or qualification (feedback says it)
    # Automatic checks, recorded so review shows them:
    SCREEN_PASS = "screen_pass"
    SCREEN_FAIL = "screen_fail"
    SCREEN_ERROR = "screen_error"  # the screening validator raised: a person decides
    GOLD_CORRECT = "gold_correct"
    GOLD_WRONG = "gold_wrong"
    ONBOARDING_PASS = "onboarding_pass"
    ONBOARDING_FAIL = "onboarding_fail"
