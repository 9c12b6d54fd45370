"""Granting and reading qualifications (a qualification row is created on first grant)."""

from __future__ import annotations

from mephisto_core.data_model.models import GrantedQualification, Qualification, Worker, utcnow

#: The global block: a worker holding it with a non-zero value is refused by every task, whatever the provider.
BLOCK_QUALIFICATION = "mephisto-blocked"


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
