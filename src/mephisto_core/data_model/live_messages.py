"""Live transcripts: every message of a live episode, stored per assignment as it happens.

A worker's message is committed here before anyone sees it (its sender's page gets it back only then), so an
acknowledged message survives a crash, and review and export read the conversation from one place.
"""

from __future__ import annotations

from typing import Any

import peewee as pw

from mephisto_core.data_model.models import Agent, Assignment, BaseModel, JSONField, utcnow


class LiveMessage(BaseModel):
    """One transcript line of an assignment: who said it (an agent, or the task when null) and what."""

    assignment = pw.ForeignKeyField(Assignment, backref="live_messages", on_delete="CASCADE")
    seq = pw.IntegerField()
    sender = pw.ForeignKeyField(Agent, null=True, backref="live_messages", on_delete="SET NULL")
    #: the one agent the line was shown to, when the task spoke to one worker only (null: everyone heard it)
    recipient = pw.ForeignKeyField(Agent, null=True, backref="live_messages_received", on_delete="SET NULL")
    data = JSONField()
    sent_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("assignment", "seq"), True),)


def append_live_message(
    assignment_id: int, sender_agent_id: int | None, data: Any, recipient_agent_id: int | None = None
) -> LiveMessage:
    """Add the assignment's next transcript line (call inside a write transaction: the seq is read then used)."""
    last = LiveMessage.select(pw.fn.MAX(LiveMessage.seq)).where(LiveMessage.assignment == assignment_id).scalar()
    message: LiveMessage = LiveMessage.create(
        assignment=assignment_id,
        seq=int(last or 0) + 1,
        sender=sender_agent_id,
        recipient=recipient_agent_id,
        data=data,
    )
    return message


def live_transcript(assignment_id: int) -> list[LiveMessage]:
    """The assignment's transcript lines in order."""
    return list(LiveMessage.select().where(LiveMessage.assignment == assignment_id).order_by(LiveMessage.seq))
