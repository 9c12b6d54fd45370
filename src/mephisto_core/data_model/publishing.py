"""Publish intents: a unit offered at a platform is recorded before the platform call and resolved after it.

The operator writes one `pending` row per unit, with a fresh idempotency key, and commits it before it asks the
provider to publish; the provider's answer (its id for the unit) is written with the unit's move to `launched`.
A process killed between the two leaves the row `pending`, and the next start of the run asks the provider what
it published under the key (`CrowdProvider.find_published`): the result is recorded, or the unit is published
again under the same key, so a unit is never published twice nor lost (operations/run/publishing.py).
"""

from __future__ import annotations

from enum import StrEnum

import peewee as pw

from mephisto_core.data_model.models import BaseModel, TaskRun, Unit, utcnow


class IntentState(StrEnum):
    """Where a publish intent stands."""

    PENDING = "pending"  # recorded; the platform may or may not have published it
    PUBLISHED = "published"  # the platform has it; `provider_unit_id` says under which id
    ABANDONED = "abandoned"  # the platform has nothing under the key and the unit waits to be offered afresh


class PublishIntent(BaseModel):
    """One unit's offer at the platform under one idempotency key."""

    task_run = pw.ForeignKeyField(TaskRun, backref="publish_intents", on_delete="CASCADE")
    unit = pw.ForeignKeyField(Unit, backref="publish_intents", on_delete="CASCADE")
    idempotency_key = pw.CharField(unique=True)
    state = pw.CharField(default=IntentState.PENDING.value)
    #: the unit's status before the offer (`created` or `expired`), so a resolved intent moves it from there
    source_status = pw.CharField()
    provider_unit_id = pw.CharField(null=True)
    created_at = pw.DateTimeField(default=utcnow)
    resolved_at = pw.DateTimeField(null=True)

    class Meta:
        indexes = ((("task_run", "state"), False),)
