"""Which workers a run's allow list holds: those meeting every `[[task.qualifications]]` requirement here.

Prolific cannot compare qualification values, so the run keeps a one-off participant group of the workers who
meet all its requirements by mephisto's own rule, and the study admits only that group. This works when at
least one requirement needs a grant (a stranger meets none of those); a task whose requirements are all
`not_exists` admits strangers, so it stays with mephisto's own check only.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

_ORDERED: dict[str, Callable[[int, int], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def needs_allow_list(requirements: Sequence[Mapping[str, Any]]) -> bool:
    """True when some requirement needs a grant, so the eligible workers can be listed."""
    return any(req.get("comparator", "exists") != "not_exists" for req in requirements)


def meets(held: int | None, requirement: Mapping[str, Any]) -> bool:
    """Whether a worker holding `held` (None: no grant) meets one requirement (mephisto's rule)."""
    comparator, wanted = requirement.get("comparator", "exists"), requirement.get("value")
    if comparator == "exists":
        return held is not None
    if comparator == "not_exists":
        return held is None
    if held is None:
        return False
    if comparator == "in":
        return isinstance(wanted, list) and held in wanted
    if comparator == "not_in":
        return isinstance(wanted, list) and held not in wanted
    return isinstance(wanted, int) and _ORDERED[comparator](held, wanted)


def meets_all(grants: Mapping[str, int], requirements: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a worker with `grants` ({qualification: value}) meets every requirement."""
    return all(meets(grants.get(str(req["name"])), req) for req in requirements)


def local_grants(worker_id: int) -> dict[str, int]:
    """The worker's granted qualifications in the database, {name: value}."""
    from mephisto_core.data_model import GrantedQualification, Qualification

    query = (
        GrantedQualification.select(Qualification.name, GrantedQualification.value)
        .join(Qualification)
        .where(GrantedQualification.worker == worker_id)
    )
    return {str(name): int(value) for name, value in query.tuples()}


def eligible_participants(provider_type: str, requirements: Sequence[Mapping[str, Any]]) -> list[str]:
    """Names of this provider's workers who meet every requirement now (their Prolific participant ids)."""
    from mephisto_core.data_model import Worker

    names = []
    for worker in Worker.select().where(Worker.provider_type == provider_type).order_by(Worker.id):
        if meets_all(local_grants(worker.id), requirements):
            names.append(str(worker.name))
    return names


#: The qualifications that block a worker (docs/workers.md): everywhere, and from one task.
GLOBAL_BLOCK = "mephisto-blocked"


def task_block(task_name: str) -> str:
    """The qualification that blocks a worker from task `task_name` only."""
    return f"{task_name}-blocked"


def holders(provider_type: str, qualification: str) -> list[str]:
    """Names of this provider's workers granted `qualification` with a non-zero value (a block in force)."""
    from mephisto_core.data_model import GrantedQualification, Qualification, Worker

    query = (
        Worker.select(Worker.name)
        .join(GrantedQualification)
        .join(Qualification)
        .where(
            (Worker.provider_type == provider_type)
            & (Qualification.name == qualification)
            & (GrantedQualification.value != 0)
        )
        .order_by(Worker.id)
    )
    return [str(name) for (name,) in query.tuples()]
