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


#: workers whose grants are read in one statement (well within SQLite's limit on bound parameters)
WORKERS_PER_READ = 500


def local_grants_of(worker_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Each worker's granted qualifications, {worker id: {name: value}}, WORKERS_PER_READ workers a statement."""
    from mephisto_core.data_model import GrantedQualification

    grants: dict[int, dict[str, int]] = {worker_id: {} for worker_id in worker_ids}
    ids = sorted(grants)
    for start in range(0, len(ids), WORKERS_PER_READ):
        where = GrantedQualification.worker.in_(ids[start : start + WORKERS_PER_READ])
        for worker_id, name, value in _grant_rows(where):
            grants[worker_id][name] = value
    return grants


def eligible_participants(provider_type: str, requirements: Sequence[Mapping[str, Any]]) -> list[str]:
    """Names of this provider's workers who meet every requirement now (their Prolific participant ids), read in
    two statements: a launch's setup read one per worker, 10,000 of them in a lab that ran many studies."""
    from mephisto_core.data_model import GrantedQualification, Worker

    grants: dict[int, dict[str, int]] = {}
    of_provider = GrantedQualification.worker.in_(Worker.select(Worker.id).where(Worker.provider_type == provider_type))
    for worker_id, name, value in _grant_rows(of_provider):
        grants.setdefault(worker_id, {})[name] = value
    workers = Worker.select(Worker.id, Worker.name).where(Worker.provider_type == provider_type).order_by(Worker.id)
    return [str(name) for worker_id, name in workers.tuples() if meets_all(grants.get(worker_id, {}), requirements)]


def _grant_rows(where: Any) -> list[tuple[int, str, int]]:
    """(worker id, qualification name, value) of the grants `where` selects."""
    from mephisto_core.data_model import GrantedQualification, Qualification

    query = (
        GrantedQualification.select(GrantedQualification.worker, Qualification.name, GrantedQualification.value)
        .join(Qualification)
        .where(where)
    )
    return [(int(worker_id), str(name), int(value)) for worker_id, name, value in query.tuples()]


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
