"""The conversation of the chat template: the workers take turns, each speaking TURNS times."""

from __future__ import annotations

from mephisto_blueprint_live import LiveAssignment

TURNS = 2  # messages per worker
TURN_SECONDS = 300  # how long a worker may take to answer


async def run(assignment: LiveAssignment) -> None:
    agents = assignment.agents
    for agent in agents:
        agent.observe({"text": f"Welcome, {agent.name}! You will each write {TURNS} messages, taking turns."})
    for _ in range(TURNS):
        for speaker in agents:
            message = await speaker.act(timeout=TURN_SECONDS)
            for listener in agents:
                if listener is not speaker:
                    listener.observe(message)
    assignment.complete({agent: {"turns": TURNS} for agent in agents})
