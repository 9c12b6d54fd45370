"""An assignment's status is derived from its units' statuses, for every combination."""

from __future__ import annotations

import itertools

import pytest

from mephisto_core.data_model import AssignmentStatus, UnitStatus, assignment_status

U = UnitStatus
# Highest first: while any unit is still open, the assignment is as open as its most active unit.
OPEN_IN_PRIORITY = (U.ASSIGNED, U.LAUNCHED, U.CREATED)
FINAL = {U.ACCEPTED, U.REJECTED, U.SOFT_REJECTED, U.EXPIRED}


def expected_status(a: UnitStatus, b: UnitStatus) -> AssignmentStatus:
    """The rule as the design states it, for two units."""
    if a == b:
        return AssignmentStatus(a.value)
    for status in OPEN_IN_PRIORITY:
        if status in (a, b):
            return AssignmentStatus(status.value)
    if U.COMPLETED in (a, b):
        return AssignmentStatus.COMPLETED  # part of it still awaits review
    assert {a, b} <= FINAL
    return AssignmentStatus.MIXED


@pytest.mark.parametrize(("a", "b"), list(itertools.product(UnitStatus, UnitStatus)), ids=lambda s: str(s))
def test_every_pair_of_unit_statuses_has_an_assignment_status(a: UnitStatus, b: UnitStatus) -> None:
    status = assignment_status([a.value, b.value])
    assert isinstance(status, AssignmentStatus)
    assert status == expected_status(a, b)
    assert assignment_status([b.value, a.value]) == status  # order of units does not matter


@pytest.mark.parametrize("status", list(UnitStatus), ids=str)
def test_units_that_agree_give_their_status_to_the_assignment(status: UnitStatus) -> None:
    assert assignment_status([status.value] * 3) == AssignmentStatus(status.value)


def test_an_assignment_without_units_is_created() -> None:
    assert assignment_status([]) == AssignmentStatus.CREATED


def test_accepted_and_rejected_units_make_a_mixed_assignment() -> None:
    assert assignment_status(["accepted", "rejected", "accepted"]) == AssignmentStatus.MIXED


def test_one_working_unit_keeps_a_mostly_finished_assignment_assigned() -> None:
    assert assignment_status(["accepted", "completed", "assigned", "expired"]) == AssignmentStatus.ASSIGNED
