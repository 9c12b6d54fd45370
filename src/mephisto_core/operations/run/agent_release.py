"""Ending attempts: a page gone past its grace period, a unit past its time, abandoned onboarding tests.

A mixin of `WorkerPool`, kept apart so registration and submission read on their own; like every pool method these
run on the database writer thread.
"""

from __future__ import annotations

import datetime as dt
import logging

from mephisto_core.data_model import Agent, AgentStatus, OnboardingAgent, Unit, UnitStatus
from mephisto_core.data_model.models import utcnow
from mephisto_core.data_model.operator_leases import timed_out_here
from mephisto_core.data_model.transitions import try_set_agent_status, try_set_unit_status
from mephisto_core.operations.run.run_context import RunContext

log = logging.getLogger(__name__)


class AgentReleases:
    """Ends in-task agents and offers their units again (the release half of `WorkerPool`)."""

    ctx: RunContext

    def release_agent(self, agent_id: int, status: AgentStatus) -> bool:
        """End an in-task agent (disconnected, timed out, returned) and offer its unit again."""
        agent = Agent.get_or_none(Agent.id == agent_id)
        if agent is None or not try_set_agent_status(agent_id, AgentStatus.IN_TASK, status):
            return False
        unit_index = Unit.select(Unit.unit_index).where(Unit.id == agent.unit_id).scalar()
        if unit_index < 0:  # a gold unit was made for this worker alone: withdraw it rather than offer it
            relaunched = try_set_unit_status(agent.unit_id, UnitStatus.ASSIGNED, UnitStatus.EXPIRED)
        else:
            relaunched = try_set_unit_status(
                agent.unit_id, UnitStatus.ASSIGNED, UnitStatus.LAUNCHED, worker=None, agent_id=None
            )
        if not relaunched:
            log.warning("unit %s of released agent %s was not assigned", agent.unit_id, agent_id)
        elif unit_index >= 0:
            self.ctx.offered()
        return True

    def release_onboarding(self, agent_id: int) -> bool:
        """End an abandoned onboarding attempt; the worker may start onboarding again later."""
        return bool(
            OnboardingAgent.update(status=AgentStatus.DISCONNECTED.value)
            .where((OnboardingAgent.id == agent_id) & (OnboardingAgent.status == AgentStatus.IN_TASK.value))
            .execute()
        )

    def agents_past_deadline(self, holder: str | None = None, joined: bool = False) -> list[int]:
        """In-task agents of this run that have had their unit longer than `assignment_duration_seconds`.

        `holder`: the process ("host:pid") asking, on a run several processes may serve (operator leases); it
        gets only the agents it is to time out (`operator_leases.timed_out_here`). None: every agent of the run.
        """
        limit = utcnow() - dt.timedelta(seconds=self.ctx.config.task.assignment_duration_seconds)
        where = (
            (Agent.task_run == self.ctx.run) & (Agent.status == AgentStatus.IN_TASK.value) & (Agent.started_at < limit)
        )
        if holder is not None:
            where &= timed_out_here(holder, joined)
        return [agent_id for (agent_id,) in Agent.select(Agent.id).where(where).tuples()]

    def _in_task_agents_of(self, worker_id: int) -> list[int]:
        query = Agent.select(Agent.id).where(
            (Agent.task_run == self.ctx.run) & (Agent.worker == worker_id) & (Agent.status == AgentStatus.IN_TASK.value)
        )
        return [agent_id for (agent_id,) in query.tuples()]

    def in_task_agents(self) -> list[int]:
        """Every in-task agent of this run (used after a restart to watch them for a reconnect)."""
        query = Agent.select(Agent.id).where(
            (Agent.task_run == self.ctx.run) & (Agent.status == AgentStatus.IN_TASK.value)
        )
        return [agent_id for (agent_id,) in query.tuples()]
