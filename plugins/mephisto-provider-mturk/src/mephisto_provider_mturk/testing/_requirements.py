"""QualificationRequirements: checked when a HIT type is made, evaluated when a worker accepts."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from ._errors import request_error
from ._records import Worker
from ._state import (
    ADULT_QUALIFICATION,
    HITS_APPROVED_QUALIFICATION,
    LOCALE_QUALIFICATION,
    MASTERS_QUALIFICATIONS,
    PERCENT_APPROVED_QUALIFICATION,
    FakeState,
)

_INTEGER_COMPARATORS: dict[str, Callable[[int, int], bool]] = {
    "LessThan": operator.lt,
    "LessThanOrEqualTo": operator.le,
    "GreaterThan": operator.gt,
    "GreaterThanOrEqualTo": operator.ge,
    "EqualTo": operator.eq,
    "NotEqualTo": operator.ne,
}
_LOCALE_COMPARATORS = ("EqualTo", "NotEqualTo", "In", "NotIn")


def _refuse(index: int, problem: str) -> Exception:
    return request_error(f"QualificationRequirements.{index + 1}: {problem}", "AWS.ParameterOutOfRange")


def check_requirements(state: FakeState, requirements: list[dict[str, Any]]) -> None:
    """Refuse requirements MTurk would refuse: unknown types and values that do not fit the comparator."""
    if len(requirements) > 10:
        raise request_error("A HIT can have at most 10 QualificationRequirements.", "AWS.ParameterOutOfRange")
    for index, requirement in enumerate(requirements):
        type_id = requirement["QualificationTypeId"]
        qtype = state.qualification_types.get(type_id)
        if qtype is None or qtype.deleted:
            raise _refuse(index, f"QualificationType {type_id} does not exist.")
        if qtype.status != "Active":
            raise _refuse(index, f"QualificationType {type_id} is not Active.")
        comparator = requirement["Comparator"]
        integers = requirement.get("IntegerValues", [])
        locales = requirement.get("LocaleValues", [])
        if comparator in ("Exists", "DoesNotExist"):
            if integers or locales:
                raise _refuse(index, f"{comparator} takes no IntegerValues or LocaleValues.")
            continue
        if type_id == LOCALE_QUALIFICATION:
            if integers or not locales:
                raise _refuse(index, "Worker_Locale is compared with LocaleValues only.")
            if comparator not in _LOCALE_COMPARATORS:
                raise _refuse(index, f"{comparator} cannot compare locales.")
            limit = 1 if comparator in ("EqualTo", "NotEqualTo") else 30
        else:
            if locales or not integers:
                raise _refuse(index, "this QualificationType is compared with IntegerValues only.")
            limit = 1 if comparator in _INTEGER_COMPARATORS else 15
        if len(integers or locales) > limit:
            raise _refuse(index, f"{comparator} takes at most {limit} value(s).")


def worker_value(state: FakeState, owner: str, type_id: str, worker: Worker) -> Any:
    """The worker's value for a qualification type as `owner` sees it, or None if they lack it."""
    if type_id == LOCALE_QUALIFICATION:
        return worker.locale
    if type_id == HITS_APPROVED_QUALIFICATION:
        return worker.approved_count
    if type_id == PERCENT_APPROVED_QUALIFICATION:
        return worker.approval_rate
    if type_id == ADULT_QUALIFICATION:
        return 1 if worker.adult else None
    if type_id in MASTERS_QUALIFICATIONS:
        return 1 if worker.masters else None
    score = state.scores.get((type_id, worker.worker_id))
    if score is None or score.status != "Granted":
        return None
    return score.value


def _locale_matches(have: dict[str, str], wanted: dict[str, Any]) -> bool:
    # A value naming only a country matches every subdivision of it.
    if have.get("Country") != wanted.get("Country"):
        return False
    subdivision = wanted.get("Subdivision")
    return subdivision is None or have.get("Subdivision") == subdivision


def meets(requirement: dict[str, Any], value: Any) -> bool:
    """Whether a worker with `value` (None: no such qualification) meets one requirement.

    Every comparator except DoesNotExist needs the worker to have the qualification.
    """
    comparator = requirement["Comparator"]
    if comparator == "DoesNotExist":
        return value is None
    if value is None:
        return False
    if comparator == "Exists":
        return True
    if isinstance(value, dict):
        locales = requirement.get("LocaleValues", [])
        found = any(_locale_matches(value, wanted) for wanted in locales)
        return found if comparator in ("EqualTo", "In") else not found
    integers = requirement.get("IntegerValues", [])
    if comparator == "In":
        return value in integers
    if comparator == "NotIn":
        return value not in integers
    return _INTEGER_COMPARATORS[comparator](value, integers[0])


def unmet_requirements(state: FakeState, owner: str, requirements: list[dict[str, Any]], worker: Worker) -> list[str]:
    """The ids of the qualification types whose requirement the worker does not meet."""
    return [
        requirement["QualificationTypeId"]
        for requirement in requirements
        if not meets(requirement, worker_value(state, owner, requirement["QualificationTypeId"], worker))
    ]
