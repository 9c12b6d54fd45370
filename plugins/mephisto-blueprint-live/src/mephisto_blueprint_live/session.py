"""LiveRuntime: the waiting rooms and running episodes of one task run (the blueprint's `LiveSession`)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from mephisto_blueprint_live.args import LiveBlueprintArgs
from mephisto_blueprint_live.episode import Episode, WorldRun
from mephisto_blueprint_live.onboarding import OnboardingEpisode, OnboardingRun
from mephisto_core.abstractions import LiveAgent, LivePages, LiveSession

log = logging.getLogger(__name__)

ALREADY_STARTED = (
    "The conversation of this unit went on without it, so there is no place in it any more. You may take another."
)
ROOM_GIVEN_UP = (
    "Not enough workers arrived in time for this conversation. Your unit was given back; you may take another."
)


@dataclass
class _Room:
    """The workers of one assignment waiting for their partners."""

    members: dict[int, LiveAgent] = field(default_factory=dict)
    deadline: float = 0.0
    timer: asyncio.Task[None] | None = None


class LiveRuntime(LiveSession):
    """Groups the workers of each assignment in a waiting room, then runs the world for them."""

    def __init__(self, args: LiveBlueprintArgs, world: WorldRun, units_per_assignment: int, pages: LivePages) -> None:
        self.args = args
        self.world = world
        self.needed = units_per_assignment
        self.pages = pages
        self.rooms: dict[int, _Room] = {}
        self.episodes: dict[int, Episode] = {}  # by agent id
        #: assignments whose episode started: a unit of theirs given out again has no conversation to join
        self.started: set[int] = set()
        self.finished = 0  # episodes over (counted only: their history is let go)
        #: the task module's `onboarding(agent)`, when it has one
        self.onboarding_world: OnboardingRun | None = None
        self.onboardings: dict[int, OnboardingEpisode] = {}  # by onboarding attempt id, until graded and let go

    async def on_onboarding_join(self, onboarding_id: int) -> None:
        running = self.onboardings.get(onboarding_id)
        if running is not None:
            running.rejoin()
            return
        if self.onboarding_world is None:
            return
        episode = OnboardingEpisode(self.pages, onboarding_id, self.onboarding_world)
        self.onboardings[onboarding_id] = episode
        episode.start(self._onboarding_ended)

    async def on_onboarding_message(self, onboarding_id: int, data: Any) -> None:
        episode = self.onboardings.get(onboarding_id)
        if episode is not None:
            await episode.receive(data)

    def _onboarding_ended(self, episode: OnboardingEpisode) -> None:
        # A page reloading after the verdict holds no open attempt any more: the pool answers it (unit or refusal).
        self.onboardings.pop(episode.onboarding_id, None)

    async def on_join(self, agent: LiveAgent) -> None:
        episode = self.episodes.get(agent.agent_id)
        if episode is not None:
            await episode.rejoin(agent.agent_id)
            return
        if agent.assignment_id in self.started:
            # A unit the pool offered again (timed out or released mid-episode): nobody to talk to any more.
            self.pages.send(agent.agent_id, {"kind": "room_closed", "message": ALREADY_STARTED})
            await self.pages.release(agent.agent_id, "expired", offer_again=False)
            return
        room = self.rooms.setdefault(agent.assignment_id, _Room())
        room.members[agent.agent_id] = agent
        if len(room.members) >= self.needed:
            self._start(agent.assignment_id, room)
            return
        if room.timer is None:
            room.deadline = time.monotonic() + self.args.waiting_room_seconds
            room.timer = asyncio.create_task(self._give_up_room(agent.assignment_id, room))
        self._tell_room(room)

    async def on_message(self, agent: LiveAgent, data: Any) -> None:
        episode = self.episodes.get(agent.agent_id)
        sync = isinstance(data, dict) and data.get("kind") == "sync"
        if episode is not None:
            # `sync`: a page that just started listening asks for the conversation so far.
            await (episode.rejoin(agent.agent_id) if sync else episode.receive(agent.agent_id, data))
            return
        room = self.rooms.get(agent.assignment_id)
        if sync and room is not None and agent.agent_id in room.members:
            self._tell_room(room, only=agent.agent_id)
        # Before the episode starts there is no one to hear it: a page only sends once it has the turn.

    async def on_leave(self, agent_id: int) -> None:
        episode = self.episodes.get(agent_id)
        if episode is not None:
            await episode.leave(agent_id)
            return
        for assignment_id, room in list(self.rooms.items()):
            if room.members.pop(agent_id, None) is not None:
                # Its unit stays held for the grace period; a page back in time joins the room again.
                if not room.members and room.timer is not None:
                    room.timer.cancel()
                    del self.rooms[assignment_id]
                else:
                    self._tell_room(room)

    async def close(self) -> None:
        for room in self.rooms.values():
            if room.timer is not None:
                room.timer.cancel()
        for episode in set(self.episodes.values()):
            episode.cancel()
        for onboarding in list(self.onboardings.values()):
            onboarding.cancel()

    def _tell_room(self, room: _Room, only: int | None = None) -> None:
        left = max(0.0, room.deadline - time.monotonic())
        frame = {"kind": "waiting", "present": len(room.members), "needed": self.needed, "seconds_left": round(left)}
        for member in room.members if only is None else [only]:
            self.pages.send(member, frame)

    def _start(self, assignment_id: int, room: _Room) -> None:
        del self.rooms[assignment_id]
        self.started.add(assignment_id)
        if room.timer is not None and room.timer is not asyncio.current_task():
            room.timer.cancel()
        episode = Episode(self.pages, list(room.members.values()), self.world, self.args.partner_wait_seconds())
        for agent_id in room.members:
            self.episodes[agent_id] = episode
        episode.start(self._ended)

    def _ended(self, episode: Episode) -> None:
        for agent_id in episode.agents:
            self.episodes.pop(agent_id, None)
        self.finished += 1

    async def _give_up_room(self, assignment_id: int, room: _Room) -> None:
        await asyncio.sleep(self.args.waiting_room_seconds)
        if self.rooms.get(assignment_id) is not room:
            return
        if self.args.when_room_does_not_fill == "run_with_fewer" and room.members:
            self._start(assignment_id, room)
            await self.pages.withdraw_open_units(assignment_id)
            return
        del self.rooms[assignment_id]
        for agent_id in room.members:
            self.pages.send(agent_id, {"kind": "room_closed", "message": ROOM_GIVEN_UP})
            await self.pages.release(agent_id, "expired")
