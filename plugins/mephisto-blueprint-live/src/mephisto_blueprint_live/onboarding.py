"""Live onboarding: one worker alone with the task module's `async def onboarding(agent)` before their first unit.

The world talks to an `OnboardingAgent` exactly as to a `WorldAgent` (observe/act) and ends with
`agent.pass_onboarding()` or `agent.fail_onboarding(reason)`; the verdict and the conversation are submitted as the
onboarding attempt's outputs, graded by the blueprint's `validate_onboarding`, which grants or refuses the task's
onboarding qualification like any onboarding test.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from mephisto_blueprint_live.world import AgentTimedOut
from mephisto_core.abstractions import LivePages

log = logging.getLogger(__name__)

OnboardingRun = Callable[["OnboardingAgent"], Awaitable[Any]]
NAME = "Worker 1"
NO_VERDICT = "the onboarding ended without a verdict"
_PAGE_KEYS = ("sender", "seq", "mine", "kind")


class OnboardingAgent:
    """The worker being onboarded, as the onboarding world talks to them (the same observe/act as in an episode)."""

    def __init__(self, run: OnboardingEpisode, onboarding_id: int) -> None:
        self._run = run
        self.onboarding_id = onboarding_id
        self.name = NAME
        #: the verdict so far: None until pass_onboarding / fail_onboarding
        self.passed: bool | None = None
        self.reason = ""

    def observe(self, message: dict[str, Any]) -> None:
        """Show `message` (the task speaking, or a relayed message) on the worker's page."""
        if not isinstance(message, dict):
            raise TypeError(f"observe() takes a dict, not {type(message).__name__}")
        self._run.tell(message)

    async def act(self, timeout: float | None = None) -> dict[str, Any]:
        """Give the worker the turn and wait for their next message (with `sender` and `seq`).

        Raises AgentTimedOut after `timeout` seconds."""
        return await self._run.act(self, timeout)

    def pass_onboarding(self) -> None:
        """The worker passed: once `onboarding` returns they get the qualification and go on to a real unit."""
        self.passed, self.reason = True, ""

    def fail_onboarding(self, reason: str = "") -> None:
        """The worker failed: they are refused this task from now on; `reason` is shown on their page."""
        self.passed, self.reason = False, str(reason)

    def __repr__(self) -> str:
        return f"OnboardingAgent(onboarding_id={self.onboarding_id})"


class OnboardingEpisode:
    """Runs `world(agent)` for one onboarding attempt, keeps its conversation, and submits the verdict."""

    def __init__(self, pages: LivePages, onboarding_id: int, world: OnboardingRun) -> None:
        self.pages = pages
        self.onboarding_id = onboarding_id
        self.world = world
        self.agent = OnboardingAgent(self, onboarding_id)
        self.lines: list[dict[str, Any]] = []  # the conversation, stored as the attempt's `transcript` output
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._my_turn = False
        self.task: asyncio.Task[None] | None = None
        self.done: dict[str, Any] | None = None  # the final frame, once graded

    def start(self, on_done: Callable[[OnboardingEpisode], None]) -> None:
        self.task = asyncio.create_task(self._run(), name=f"live-onboarding-{self.onboarding_id}")
        self.task.add_done_callback(lambda _: on_done(self))
        self.pages.send_onboarding(self.onboarding_id, {"kind": "onboarding", "you": NAME})

    def _line(self, sender: str | None, data: dict[str, Any]) -> dict[str, Any]:
        line = {"seq": len(self.lines) + 1, "sender": sender, "data": data, "sent_at": datetime.now(UTC).isoformat()}
        self.lines.append(line)
        self.pages.send_onboarding(
            self.onboarding_id, {"kind": "message", "seq": line["seq"], "sender": sender, "data": data}
        )
        return line

    def tell(self, message: dict[str, Any]) -> None:
        if "seq" in message and "sender" in message:  # the worker's own message, relayed back: already shown
            return
        self._line(None, message)

    async def act(self, agent: OnboardingAgent, timeout: float | None) -> dict[str, Any]:
        self._my_turn = True
        self.pages.send_onboarding(self.onboarding_id, {"kind": "turn", "yours": True})
        try:
            message = await asyncio.wait_for(self._inbox.get(), timeout)
        except TimeoutError:
            raise AgentTimedOut(agent, f"sent nothing within {timeout:g} s") from None  # type: ignore[arg-type]
        finally:
            self._my_turn = False
        self.pages.send_onboarding(self.onboarding_id, {"kind": "turn", "yours": False})
        return message

    async def receive(self, data: Any) -> None:
        """What the page sent: `sync` (the conversation so far) or a message while it has the turn."""
        if not isinstance(data, dict) or data.get("kind") == "typing":
            return
        if data.get("kind") == "sync":
            self.rejoin()
            return
        if not self._my_turn or not self._inbox.empty():
            return  # not asked: nobody is listening
        payload = {k: v for k, v in data.items() if k not in _PAGE_KEYS}
        line = self._line(NAME, payload)
        self._inbox.put_nowait({**payload, "sender": NAME, "seq": line["seq"]})

    def rejoin(self) -> None:
        """A page is back: it gets the conversation so far, the turn if it has it, or the verdict."""
        self.pages.send_onboarding(
            self.onboarding_id, {"kind": "history", "you": NAME, "onboarding": True, "messages": self._frames()}
        )
        if self.done is not None:
            self.pages.send_onboarding(self.onboarding_id, self.done)
        elif self._my_turn:
            self.pages.send_onboarding(self.onboarding_id, {"kind": "turn", "yours": True})

    def _frames(self) -> list[dict[str, Any]]:
        return [{"kind": "message", "seq": ln["seq"], "sender": ln["sender"], "data": ln["data"]} for ln in self.lines]

    async def _run(self) -> None:
        try:
            await self.world(self.agent)
        except asyncio.CancelledError:
            raise
        except AgentTimedOut:
            self.agent.fail_onboarding(self.agent.reason or "no answer in time")
        except Exception:
            log.exception("the onboarding world of attempt %s failed; it is not graded", self.onboarding_id)
            self.done = {"kind": "onboarding_done", "passed": None, "message": "A problem on our side; try again."}
            self.pages.send_onboarding(self.onboarding_id, self.done)
            return
        passed = self.agent.passed is True
        reason = "" if passed else (self.agent.reason or NO_VERDICT)
        outputs = {"passed": passed, "reason": reason, "transcript": self.lines}
        graded = await self.pages.finish_onboarding(self.onboarding_id, outputs)
        if graded is None:
            log.warning("onboarding attempt %s was no longer open; its verdict is dropped", self.onboarding_id)
            return
        self.done = {"kind": "onboarding_done", "passed": graded, "message": reason}
        self.pages.send_onboarding(self.onboarding_id, self.done)

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
