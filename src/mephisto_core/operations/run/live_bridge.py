"""LiveBridge: the operator's side of the live seam (`LivePages`), over the client IO handler and the writer thread.

It keeps operator.py and client_io.py small: pushing to an agent's pages, storing transcript lines, and ending a
live agent's unit all go through here.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from mephisto_core.abstractions.live import LiveAgent, LivePages, StoredLiveMessage
from mephisto_core.data_model import Agent, AgentStatus, Assignment, Unit, UnitStatus
from mephisto_core.data_model.live_messages import append_live_message, live_transcript
from mephisto_core.data_model.transitions import try_set_agent_status, try_set_unit_status
from mephisto_core.data_model.withdrawn_units import withdraw_for_good
from mephisto_core.operations.run import platform_grants
from mephisto_core.operations.run.replies import Submitted

if TYPE_CHECKING:
    from mephisto_core.data_model.live_messages import LiveMessage
    from mephisto_core.operations.run.client_io import ClientIOHandler
    from mephisto_core.operations.run.db_writer import DatabaseWriter
    from mephisto_core.operations.run.worker_pool import WorkerPool

_RELEASE_STATUSES = {
    s.value: s for s in (AgentStatus.DISCONNECTED, AgentStatus.TIMED_OUT, AgentStatus.EXPIRED, AgentStatus.RETURNED)
}


def live_agent(agent_id: int) -> LiveAgent | None:
    """The agent with its unit and assignment, while it is in task (runs on the writer thread)."""
    row = (
        Agent.select(Agent.id, Agent.unit, Unit.assignment, Unit.unit_index, Agent.worker, Assignment.inputs)
        .join(Unit, on=(Agent.unit == Unit.id))
        .join(Assignment, on=(Unit.assignment == Assignment.id))
        .where((Agent.id == agent_id) & (Agent.status == AgentStatus.IN_TASK.value))
        .tuples()
        .first()
    )
    if row is None:
        return None
    agent, unit, assignment, unit_index, worker, inputs = row
    return LiveAgent(int(agent), int(unit), int(assignment), int(unit_index), int(worker), inputs)


def _withdraw_agent(agent_id: int, status: AgentStatus) -> bool:
    """End an in-task agent with `status` and withdraw its unit (`expired`) instead of offering it again."""
    agent = Agent.get_or_none(Agent.id == agent_id)
    if agent is None or not try_set_agent_status(agent_id, AgentStatus.IN_TASK, status):
        return False
    if try_set_unit_status(agent.unit_id, UnitStatus.ASSIGNED, UnitStatus.EXPIRED):
        withdraw_for_good(agent.unit_id, f"the live episode went on without agent {agent_id} ({status.value})")
    return True


def _withdraw_open_units(assignment_id: int) -> list[Unit]:
    """Expire and record for good the assignment's offered, unclaimed units; those that moved."""
    units = list(Unit.select().where((Unit.assignment == assignment_id) & (Unit.status == UnitStatus.LAUNCHED.value)))
    moved = [u for u in units if try_set_unit_status(u.id, UnitStatus.LAUNCHED, UnitStatus.EXPIRED)]
    for unit in moved:
        withdraw_for_good(unit.id, "its live episode started without it")
    return moved


def _stored(message: LiveMessage) -> StoredLiveMessage:
    sent_at = message.sent_at.isoformat()
    return StoredLiveMessage(message.seq, message.sender_id, message.recipient_id, message.data, sent_at)


class LiveBridge(LivePages):
    """`LivePages` for one run: pushes go through `io`, database work through `writer`."""

    def __init__(self, io: ClientIOHandler, pool: WorkerPool, writer: DatabaseWriter) -> None:
        self.io = io
        self.pool = pool
        self.writer = writer

    def send(self, agent_id: int, data: Any) -> None:
        self.io.push_live((False, agent_id), data)

    def is_connected(self, agent_id: int) -> bool:
        return self.io.has_page((False, agent_id))

    async def store_message(
        self, assignment_id: int, sender_agent_id: int | None, data: Any, recipient_agent_id: int | None = None
    ) -> StoredLiveMessage:
        message = await self.writer.call(append_live_message, assignment_id, sender_agent_id, data, recipient_agent_id)
        return _stored(message)

    async def transcript(self, assignment_id: int) -> list[StoredLiveMessage]:
        return [_stored(m) for m in await self.writer.call(live_transcript, assignment_id)]

    async def complete(self, agent_id: int, outputs: dict[str, Any]) -> bool:
        # The server submits for the worker: a fresh key, so this is stored once; no uploads.
        key = f"live-{agent_id}-{secrets.token_urlsafe(9)}"
        result = await self.writer.call(self.pool.submit, agent_id, False, key, outputs, [])
        if isinstance(result, Submitted):
            self.io.push_status((False, agent_id), AgentStatus.COMPLETED.value)
            return True
        return False

    async def withdraw_open_units(self, assignment_id: int) -> int:
        units = await self.writer.call(_withdraw_open_units, assignment_id)
        provider = self.pool.ctx.provider
        if units and provider.publishes_units and self.io.calls is not None:
            # Off the writer thread, after the commit: a platform that is slow delays nobody's page.
            await self.io.calls.call(provider.expire_units, units)
        return len(units)

    async def release(self, agent_id: int, status: str, offer_again: bool = True) -> bool:
        if status not in _RELEASE_STATUSES:
            raise ValueError(f"release status must be one of {sorted(_RELEASE_STATUSES)}, not {status!r}")
        if offer_again:
            released = bool(await self.writer.call(self.pool.release_agent, agent_id, _RELEASE_STATUSES[status]))
        else:
            released = await self.writer.call(_withdraw_agent, agent_id, _RELEASE_STATUSES[status])
        if released:
            self.io.push_status((False, agent_id), status)
            self.io.forget_agent((False, agent_id))
        return released

    def send_onboarding(self, onboarding_id: int, data: Any) -> None:
        self.io.push_live((True, onboarding_id), data)

    async def finish_onboarding(self, onboarding_id: int, outputs: dict[str, Any]) -> bool | None:
        key = f"live-onboarding-{onboarding_id}-{secrets.token_urlsafe(9)}"
        result = await self.writer.call(self.pool.submit, onboarding_id, True, key, outputs, [])
        if not isinstance(result, Submitted):
            return None
        if result.platform_grants and self.io.calls is not None:
            await platform_grants.push(self.io.calls, self.writer, result.platform_grants)
        return result.next == "onboarding_passed"
