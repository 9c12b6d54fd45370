"""What a task module's world sees: the assignment, its agents, and how an episode can be interrupted.

    async def run(assignment):
        first, second = assignment.agents
        first.observe({"text": "You start."})
        message = await first.act(timeout=120)     # {"sender": "Worker 1", "seq": 3, "text": "..."}
        second.observe(message)                    # relays the stored message to the other page
        assignment.complete({first: {"rating": 5}, second: {}})

`act` raises `AgentTimedOut` when the worker says nothing in time and `AgentLeft` when a worker's page went away
(per `on_partner_disconnect`); a world that does not catch them ends its episode, and the blueprint settles who is
paid (see the README).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mephisto_blueprint_live.episode import Episode


class EpisodeInterrupted(Exception):
    """An episode cannot go on because of `agent`."""

    def __init__(self, agent: WorldAgent, reason: str) -> None:
        super().__init__(f"{agent.name}: {reason}")
        self.agent = agent
        self.reason = reason


class AgentTimedOut(EpisodeInterrupted):
    """The worker sent nothing within the `act` timeout."""


class AgentLeft(EpisodeInterrupted):
    """The worker's page went away (and, with `wait:SECONDS`, did not come back in time)."""


class WorldAgent:
    """One worker of the assignment, as the world talks to it."""

    def __init__(self, episode: Episode, agent_id: int, worker_id: int, index: int) -> None:
        self._episode = episode
        self.agent_id = agent_id
        self.worker_id = worker_id
        #: the unit index of the worker's unit (0-based); also the order of `assignment.agents`
        self.index = index
        #: how the chat page names this worker to everyone
        self.name = f"Worker {index + 1}"

    def observe(self, message: dict[str, Any]) -> None:
        """Show `message` on this worker's page: a message from `act` is relayed as its sender's, anything else is
        the task speaking (stored in the transcript with no sender). Returns at once; order is kept."""
        if not isinstance(message, dict):
            raise TypeError(f"observe() takes a dict, not {type(message).__name__}")
        self._episode.deliver(self, message)

    async def act(self, timeout: float | None = None) -> dict[str, Any]:
        """Give this worker the turn and wait for their next message (stored before it is returned).

        Returns the page's message with `sender` (this worker's name) and `seq` (its place in the transcript).
        Raises AgentTimedOut after `timeout` seconds, AgentLeft when a worker of the episode left.
        """
        return await self._episode.act(self, timeout)

    def __repr__(self) -> str:
        return f"WorldAgent({self.name}, agent_id={self.agent_id})"


class LiveAssignment:
    """The assignment a world runs: its agents (in unit order) and its data row."""

    def __init__(self, assignment_id: int, agents: list[WorldAgent], task_data: dict[str, Any]) -> None:
        self.assignment_id = assignment_id
        self.agents = agents
        self.task_data = task_data
        self.outputs: dict[int, dict[str, Any]] = {}

    def complete(self, outputs: dict[WorldAgent, dict[str, Any]] | None = None) -> None:
        """Record each worker's outputs (stored with their unit, beside the transcript, when `run` returns)."""
        for agent, value in (outputs or {}).items():
            if not isinstance(agent, WorldAgent) or not isinstance(value, dict):
                raise TypeError("complete() takes {agent: dict of outputs}")
            self.outputs[agent.agent_id] = value
