"""One running episode: the world's task, its agents' inboxes, the transcript pump, and disconnect handling."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from mephisto_blueprint_live.world import AgentLeft, AgentTimedOut, EpisodeInterrupted, LiveAssignment, WorldAgent
from mephisto_core.abstractions import LiveAgent, LivePages

log = logging.getLogger(__name__)

WorldRun = Callable[[LiveAssignment], Awaitable[Any]]
_PAGE_KEYS = ("sender", "seq", "mine", "kind")


class Episode:
    """Runs `world(assignment)` for the members of one assignment and settles their units when it ends."""

    def __init__(self, pages: LivePages, members: list[LiveAgent], world: WorldRun, partner_wait: float) -> None:
        self.pages = pages
        self.world = world
        self.partner_wait = partner_wait
        members = sorted(members, key=lambda m: m.unit_index)
        self.assignment_id = members[0].assignment_id
        self.agents = {m.agent_id: WorldAgent(self, m.agent_id, m.worker_id, m.unit_index) for m in members}
        self.assignment = LiveAssignment(self.assignment_id, list(self.agents.values()), members[0].inputs)
        self._inbox: dict[int, asyncio.Queue[dict[str, Any]]] = {a: asyncio.Queue() for a in self.agents}
        self._history: dict[int, list[dict[str, Any]]] = {a: [] for a in self.agents}
        self._awaiting: set[int] = set()
        self._absent: dict[int, asyncio.Task[None]] = {}
        self._interrupted = asyncio.Event()
        self._interruption: EpisodeInterrupted | None = None
        self._outbox: asyncio.Queue[tuple[WorldAgent, dict[str, Any]] | None] = asyncio.Queue()
        self._store_lock = asyncio.Lock()
        self.task: asyncio.Task[None] | None = None
        self.outcome = ""

    def start(self, on_done: Callable[[Episode], None]) -> None:
        self.task = asyncio.create_task(self._run(), name=f"live-episode-{self.assignment_id}")
        self.task.add_done_callback(lambda _: on_done(self))
        names = [a.name for a in self.agents.values()]
        for agent in self.agents.values():
            self._push(agent, {"kind": "start", "you": agent.name, "agents": names})

    # ---- what pages send ----------------------------------------------------------------------------------

    async def receive(self, agent_id: int, data: Any) -> None:
        agent = self.agents[agent_id]
        if not isinstance(data, dict):
            return
        if data.get("kind") == "typing":
            for other in self.agents.values():
                if other is not agent:
                    self.pages.send(
                        other.agent_id, {"kind": "typing", "sender": agent.name, "typing": bool(data.get("typing"))}
                    )
            return
        payload = {k: v for k, v in data.items() if k not in _PAGE_KEYS}
        async with self._store_lock:
            stored = await self.pages.store_message(self.assignment_id, agent_id, payload)
        # Committed: the sender's page sees its own message only now (its acknowledgement).
        self._push(agent, {"kind": "message", "seq": stored.seq, "sender": agent.name, "data": payload})
        self._inbox[agent_id].put_nowait({**payload, "sender": agent.name, "seq": stored.seq})

    async def rejoin(self, agent_id: int) -> None:
        """A page of the agent is back: it gets the conversation so far; the others are told."""
        agent = self.agents[agent_id]
        waiting = self._absent.pop(agent_id, None)
        if waiting is not None:
            waiting.cancel()
            self._tell_others(agent, {"kind": "partner_back", "sender": agent.name})
        names = [a.name for a in self.agents.values()]
        self.pages.send(
            agent_id, {"kind": "history", "you": agent.name, "agents": names, "messages": self._history[agent_id]}
        )
        if agent_id in self._awaiting:
            self.pages.send(agent_id, {"kind": "turn", "yours": True})

    async def leave(self, agent_id: int) -> None:
        agent = self.agents[agent_id]
        if self.task is None or self.task.done() or agent_id in self._absent:
            return
        if self.partner_wait <= 0:
            self._interrupt(AgentLeft(agent, "left the conversation"))
            return
        self._tell_others(agent, {"kind": "partner_away", "sender": agent.name, "wait_seconds": self.partner_wait})
        self._absent[agent_id] = asyncio.create_task(self._give_up_on(agent))

    async def _give_up_on(self, agent: WorldAgent) -> None:
        await asyncio.sleep(self.partner_wait)
        self._absent.pop(agent.agent_id, None)
        self._interrupt(AgentLeft(agent, f"did not come back within {self.partner_wait:g} s"))

    def _interrupt(self, exc: EpisodeInterrupted) -> None:
        if self._interruption is None:
            self._interruption = exc
            self._interrupted.set()

    # ---- what the world calls -----------------------------------------------------------------------------

    def deliver(self, to: WorldAgent, message: dict[str, Any]) -> None:
        self._outbox.put_nowait((to, message))

    async def act(self, agent: WorldAgent, timeout: float | None) -> dict[str, Any]:
        if self._interruption is not None:
            raise self._interruption
        await self._outbox.join()  # what the world said before asking is on the page first
        self._awaiting.add(agent.agent_id)
        self.pages.send(agent.agent_id, {"kind": "turn", "yours": True})
        getting = asyncio.ensure_future(self._inbox[agent.agent_id].get())
        interrupted = asyncio.ensure_future(self._interrupted.wait())
        try:
            done, _ = await asyncio.wait({getting, interrupted}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            interrupted.cancel()
            self._awaiting.discard(agent.agent_id)
            if not getting.done():
                getting.cancel()
        if getting in done:
            self.pages.send(agent.agent_id, {"kind": "turn", "yours": False})
            return getting.result()
        if self._interruption is not None:
            raise self._interruption
        raise AgentTimedOut(agent, f"sent nothing within {timeout:g} s")

    # ---- running and settling -----------------------------------------------------------------------------

    async def _pump(self) -> None:
        """Store the world's own messages, then push every observed message, in the order the world made them."""
        while True:
            item = await self._outbox.get()
            try:
                if item is None:
                    return
                to, message = item
                if "seq" in message and "sender" in message:  # a worker's stored message, relayed
                    data = {k: v for k, v in message.items() if k not in _PAGE_KEYS}
                    frame = {"kind": "message", "seq": message["seq"], "sender": message["sender"], "data": data}
                else:
                    async with self._store_lock:
                        stored = await self.pages.store_message(self.assignment_id, None, message, to.agent_id)
                    frame = {"kind": "message", "seq": stored.seq, "sender": None, "data": message}
                self._push(to, frame)
            except Exception:
                log.exception("live episode %s: could not deliver a message", self.assignment_id)
            finally:
                self._outbox.task_done()

    async def _run(self) -> None:
        pump = asyncio.create_task(self._pump())
        culprit: WorldAgent | None = None
        try:
            await self.world(self.assignment)
            self.outcome = "completed"
        except asyncio.CancelledError:
            pump.cancel()  # the run ends: nothing more is stored or pushed
            raise
        except AgentLeft as exc:
            self.outcome, culprit = "partner_left", exc.agent
        except AgentTimedOut as exc:
            self.outcome, culprit = "partner_timed_out", exc.agent
        except Exception:
            log.exception("the world of live assignment %s failed; its workers keep their units", self.assignment_id)
            self.outcome = "world_error"
        self._outbox.put_nowait(None)
        await pump
        for task in self._absent.values():
            task.cancel()
        await self._settle(culprit)

    async def _settle(self, culprit: WorldAgent | None) -> None:
        transcript = [
            {
                "seq": line.seq,
                "sender": self._name(line.sender_agent_id),
                "to": self._name(line.recipient_agent_id),
                "data": line.data,
                "sent_at": line.sent_at,
            }
            for line in await self.pages.transcript(self.assignment_id)
        ]
        for agent in self.agents.values():
            if agent is culprit:
                status = "disconnected" if self.outcome == "partner_left" else "timed_out"
                await self.pages.release(agent.agent_id, status, offer_again=False)
                continue
            outputs = {**self.assignment.outputs.get(agent.agent_id, {}), "episode": self.outcome}
            outputs["transcript"] = transcript
            self.pages.send(agent.agent_id, {"kind": "episode_done", "outcome": self.outcome})
            if not await self.pages.complete(agent.agent_id, outputs):
                log.warning("live assignment %s: %s no longer held its unit", self.assignment_id, agent.name)

    def _name(self, agent_id: int | None) -> str | None:
        agent = self.agents.get(agent_id) if agent_id is not None else None
        return agent.name if agent is not None else None

    # ---- pages --------------------------------------------------------------------------------------------

    def _push(self, agent: WorldAgent, frame: dict[str, Any]) -> None:
        if frame.get("kind") == "message":
            self._history[agent.agent_id].append(frame)
        self.pages.send(agent.agent_id, frame)

    def _tell_others(self, agent: WorldAgent, frame: dict[str, Any]) -> None:
        for other in self.agents.values():
            if other is not agent:
                self.pages.send(other.agent_id, frame)

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
        for task in self._absent.values():
            task.cancel()
