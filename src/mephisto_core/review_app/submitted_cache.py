"""What the review app computes from a task's submitted units alone, kept until more are submitted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class BySubmittedUnits:
    """Values that depend only on a task's submitted units (its agreement, its workers), each kept with the count of
    submitted units it was made from.

    A submitted unit stays submitted, its answer and worker fixed, and is never deleted: a task's submitted units
    only grow in number, so their count names them. A value stands while the count is the same (verdicts do not
    change it). One made from more units than were counted (a submission landed in between) is never asked for
    again, since the count never comes back down.
    """

    def __init__(self) -> None:
        self._held: dict[tuple[str, int], tuple[int, Any]] = {}

    def get(self, kind: str, task_id: int, submitted: int, make: Callable[[], T]) -> T:
        """The `kind` value of the task whose submitted units number `submitted`: kept, or `make()`d and kept."""
        held = self._held.get((kind, task_id))
        if held is not None and held[0] == submitted:
            value: T = held[1]
            return value
        value = make()
        self._held[(kind, task_id)] = (submitted, value)
        return value
