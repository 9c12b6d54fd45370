"""Units a task withdrew for good: `expired` and never offered again, in this run or a resumed one.

A unit withdrawn by a stop is offered again later (`TaskLauncher.launch_available`); some cannot be: the unit of a
worker who left a live conversation that went on without them has no conversation left to join. Recording it
here keeps the launcher from offering it again, and lets the run end when everything else is done.
"""

from __future__ import annotations

import peewee as pw

from mephisto_core.data_model.models import BaseModel, Unit, utcnow


class WithdrawnUnit(BaseModel):
    """One unit withdrawn for good, and why."""

    unit = pw.ForeignKeyField(Unit, unique=True, backref="withdrawn_for_good", on_delete="CASCADE")
    reason = pw.CharField()
    created_at = pw.DateTimeField(default=utcnow)


def withdraw_for_good(unit_id: int, reason: str) -> None:
    """Record that `unit_id` is never to be offered again (call in the transaction that expires it)."""
    WithdrawnUnit.insert(unit=unit_id, reason=reason).on_conflict_ignore().execute()


def withdrawn_for_good() -> pw.Select:
    """A sub-select of the ids of units withdrawn for good (for `Unit.id.not_in(...)`)."""
    return WithdrawnUnit.select(WithdrawnUnit.unit)
