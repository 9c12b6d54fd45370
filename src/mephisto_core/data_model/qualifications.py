"""Granting and reading qualifications (a qualification row is created on first grant)."""

from __future__ import annotations

from collections.abc import Sequence

from mephisto_core.data_model.models import GrantedQualification, Qualification, TaskRun, Worker, utcnow

#: The global block: a worker holding it with a non-zero value is refused by every task, whatever the provider.
BLOCK_QUALIFICATION = "mephisto-blocked"
#: its description, given when the first block creates it
BLOCK_DESCRIPTION = "Blocked from every task"


def task_blocked_qualification(task_name: str) -> str:
    """The qualification that blocks a worker from task `task_name` only (`mephisto workers block --task`)."""
    return f"{task_name}-blocked"


def grant_qualification(worker: Worker | int, name: str, value: int = 1, description: str = "") -> None:
    """Grant (or re-grant with a new value) a qualification; `updated_at` moves only when the value changes."""
    qualification, _ = Qualification.get_or_create(name=name, defaults={"description": description})
    grant = GrantedQualification.get_or_none(
        (GrantedQualification.worker == worker) & (GrantedQualification.qualification == qualification)
    )
    if grant is None:
        GrantedQualification.create(worker=worker, qualification=qualification, value=value)
    elif grant.value != value:
        grant.value = value
        grant.updated_at = utcnow()
        grant.save()


def granted_value(worker: Worker | int, name: str) -> int | None:
    """The value of a worker's grant of `name`, or None when not granted."""
    value = (
        GrantedQualification.select(GrantedQualification.value)
        .join(Qualification)
        .where((GrantedQualification.worker == worker) & (Qualification.name == name))
        .scalar()
    )
    return None if value is None else int(value)


def granted_values(worker_ids: list[int], names: Sequence[str]) -> dict[tuple[int, str], int]:
    """The values of the workers' grants of `names`, by (worker id, qualification name), in one statement per 500
    workers; a pair not granted is absent."""
    values: dict[tuple[int, str], int] = {}
    if not names:
        return values
    for start in range(0, len(worker_ids), 500):  # stay under SQLite's bound-parameter limit
        query = (
            GrantedQualification.select(GrantedQualification.worker, Qualification.name, GrantedQualification.value)
            .join(Qualification)
            .where(
                GrantedQualification.worker.in_(worker_ids[start : start + 500]) & Qualification.name.in_(list(names))
            )
        )
        values.update(((int(worker), str(name)), int(value)) for worker, name, value in query.tuples())
    return values


def revoke_qualification(worker: Worker | int, name: str) -> bool:
    """Remove a worker's grant of `name`; False when it was not granted."""
    qualification = Qualification.get_or_none(Qualification.name == name)
    if qualification is None:
        return False
    deleted = (
        GrantedQualification.delete()
        .where((GrantedQualification.worker == worker) & (GrantedQualification.qualification == qualification))
        .execute()
    )
    return bool(deleted)


def create_qualification(name: str, description: str = "") -> Qualification:
    """Create a qualification; an existing name is an error (grants create theirs on the fly)."""
    from mephisto_core.errors import MephistoError

    name = name.strip()
    if not name or len(name) > 200:
        raise MephistoError("a qualification name must have 1 to 200 characters")
    if Qualification.get_or_none(Qualification.name == name) is not None:
        raise MephistoError(f"qualification {name!r} already exists")
    qualification: Qualification = Qualification.create(name=name, description=description)
    return qualification


def find_worker(name: str, provider_type: str | None = None) -> Worker:
    """The worker with this provider id; `provider_type` picks one when several providers know the name."""
    from mephisto_core.errors import MephistoError, NotFound

    query = Worker.select().where(Worker.name == name)
    if provider_type is not None:
        query = query.where(Worker.provider_type == provider_type)
    found: list[Worker] = list(query)
    if not found:
        raise NotFound(f"no worker named {name!r}" + (f" for provider {provider_type!r}" if provider_type else ""))
    if len(found) > 1:
        providers = ", ".join(sorted(w.provider_type for w in found))
        raise MephistoError(f"several providers have a worker named {name!r} ({providers}); add --provider")
    return found[0]


def provider_types_in_use() -> list[str]:
    """The provider types this database has seen, in task runs or in workers (sorted)."""
    seen = {t for (t,) in TaskRun.select(TaskRun.provider_type).distinct().tuples()}
    seen |= {t for (t,) in Worker.select(Worker.provider_type).distinct().tuples()}
    return sorted(seen)


def find_or_add_worker(name: str, provider_type: str | None) -> tuple[Worker, bool]:
    """The worker with this provider id, or a new record for one who has not opened a task yet, so that they can
    be blocked or qualified in advance; `(worker, created)`.

    A new worker belongs to `provider_type`, or, when it is None, to the one provider type this database has
    seen; with none or several the caller must name it. Checking that the type is installed is the caller's job.
    """
    from mephisto_core.errors import MephistoError, NotFound

    try:
        existing: Worker | None = find_worker(name, provider_type)
    except NotFound:
        existing = None  # never seen: added below
    if existing is not None:
        return existing, False
    if not name.strip() or len(name) > 255:
        raise MephistoError(f"a worker id must have 1 to 255 characters, not {name!r}")
    if provider_type is None:
        in_use = provider_types_in_use()
        if len(in_use) != 1:
            seen = f"this database knows {', '.join(in_use)}" if in_use else "no task has run yet"
            raise MephistoError(
                f"no worker named {name!r} yet; to add them before they open a task, say whose worker id this "
                f"is with --provider ({seen})"
            )
        provider_type = in_use[0]
    worker: Worker = Worker.create(provider_type=provider_type, name=name)
    return worker, True
