"""The code that changes unit and agent statuses (besides the worker pool's per-unit claim and submission,
written out by hand in `pool_sql` for speed, which follow the same rules).

Every change is a conditional UPDATE (`... WHERE status IN (allowed sources)`), so it is atomic against
concurrent writers in this or another process, and a change the lifecycle forbids raises IllegalTransition.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from mephisto_core.data_model.models import Agent, OnboardingAgent, Unit, utcnow
from mephisto_core.data_model.statuses import (
    AgentStatus,
    UnitStatus,
    agent_sources,
    check_agent_transition,
    check_unit_transition,
    unit_sources,
)
from mephisto_core.errors import IllegalTransition, NotFound


def set_unit_status(unit_id: int, target: UnitStatus, **fields: Any) -> None:
    """Move a unit to `target` (also writing `fields`), or raise IllegalTransition / NotFound."""
    updated = (
        Unit.update(status=target.value, updated_at=utcnow(), **fields)
        .where((Unit.id == unit_id) & (Unit.status.in_([s.value for s in unit_sources(target)])))
        .execute()
    )
    if updated == 0:
        current = Unit.select(Unit.status).where(Unit.id == unit_id).scalar()
        if current is None:
            raise NotFound(f"unit {unit_id} does not exist")
        check_unit_transition(current, target.value)  # raises with the allowed targets
        raise AssertionError("check_unit_transition accepted a transition the UPDATE refused")


def set_units_status(unit_ids: Collection[int], target: UnitStatus) -> None:
    """`set_unit_status` for several units in one statement. Raises IllegalTransition when any of them (or an id
    given twice) may not move to `target`, leaving the rows that moved to the caller's savepoint to undo;
    `set_unit_status` on each then says which and why."""
    _set_all_or_none(Unit, unit_ids, target.value, [s.value for s in unit_sources(target)])


def set_agents_status(agent_ids: Collection[int], target: AgentStatus) -> None:
    """`set_agent_status` for several agents in one statement, as `set_units_status`."""
    _set_all_or_none(Agent, agent_ids, target.value, [s.value for s in agent_sources(target)])


def _set_all_or_none(model: type[Unit] | type[Agent], ids: Collection[int], target: str, sources: list[str]) -> None:
    moved = (
        model.update(status=target, updated_at=utcnow())
        .where(model.id.in_(list(ids)) & model.status.in_(sources))
        .execute()
    )
    if moved != len(ids):  # the caller's savepoint undoes the rows that did move
        raise IllegalTransition(f"{len(ids) - moved} of {len(ids)} rows of {model.__name__} may not become {target!r}")


def try_set_unit_status(unit_id: int, source: UnitStatus, target: UnitStatus, **fields: Any) -> bool:
    """Move a unit from exactly `source` to `target`; False if it was no longer in `source` (lost a race)."""
    check_unit_transition(source.value, target.value)
    updated = (
        Unit.update(status=target.value, updated_at=utcnow(), **fields)
        .where((Unit.id == unit_id) & (Unit.status == source.value))
        .execute()
    )
    return bool(updated)


def set_agent_status(agent_id: int, target: AgentStatus, *, onboarding: bool = False, **fields: Any) -> None:
    """Move an agent (or onboarding agent) to `target`, or raise IllegalTransition / NotFound."""
    model = OnboardingAgent if onboarding else Agent
    extra = {} if onboarding else {"updated_at": utcnow()}
    updated = (
        model.update(status=target.value, **extra, **fields)
        .where((model.id == agent_id) & (model.status.in_([s.value for s in agent_sources(target)])))
        .execute()
    )
    if updated == 0:
        current = model.select(model.status).where(model.id == agent_id).scalar()
        if current is None:
            raise NotFound(f"agent {agent_id} does not exist")
        check_agent_transition(current, target.value)
        raise AssertionError("check_agent_transition accepted a transition the UPDATE refused")


def try_set_agent_status(agent_id: int, source: AgentStatus, target: AgentStatus, **fields: Any) -> bool:
    """Move an agent from exactly `source` to `target`; False if it was no longer in `source`."""
    check_agent_transition(source.value, target.value)
    updated = (
        Agent.update(status=target.value, updated_at=utcnow(), **fields)
        .where((Agent.id == agent_id) & (Agent.status == source.value))
        .execute()
    )
    return bool(updated)


def move_units(unit_ids: list[int], source: UnitStatus, target: UnitStatus, **fields: Any) -> int:
    """Move every listed unit that is in `source` to `target`; returns how many moved."""
    check_unit_transition(source.value, target.value)
    moved = 0
    for start in range(0, len(unit_ids), 500):  # stay under SQLite's bound-parameter limit
        chunk = unit_ids[start : start + 500]
        moved += (
            Unit.update(status=target.value, updated_at=utcnow(), **fields)
            .where(Unit.id.in_(chunk) & (Unit.status == source.value))
            .execute()
        )
    return moved


def move_run_units(run_id: int, sources: Collection[UnitStatus], target: UnitStatus, **fields: Any) -> int:
    """Move every unit of run `run_id` that is in one of `sources` to `target` in one statement; how many moved.

    For whole-run changes (withdrawing every unclaimed unit, offering every created one): one UPDATE on the
    (task_run, status) index, where `move_units` would send the ids back in chunks.
    """
    for source in sources:
        check_unit_transition(source.value, target.value)
    return int(
        Unit.update(status=target.value, updated_at=utcnow(), **fields)
        .where((Unit.task_run == run_id) & Unit.status.in_([s.value for s in sources]))
        .execute()
    )
