"""The live seam: how a blueprint takes part while workers work (chat, model-in-the-loop, several workers at once).

A blueprint that answers `Blueprint.live_session(pages)` with a `LiveSession` receives, on the operator's event
loop, every in-task agent's page arriving (`on_join`, also after a reconnect), every `live` message a page sends
(`on_message`) and every agent whose last page closed (`on_leave`). It talks back through the `LivePages` the core
gives it: push a message to an agent's pages, store transcript lines durably, end an agent's unit with outputs
(stored as its submission) or release it. Blueprints without a session answer `live` messages with `unsupported`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LiveAgent:
    """An in-task agent whose page is connected: who it is and which unit of which assignment it holds."""

    agent_id: int
    unit_id: int
    assignment_id: int
    unit_index: int
    worker_id: int
    #: the assignment's inputs (the data row)
    inputs: dict[str, Any]


@dataclass(frozen=True)
class StoredLiveMessage:
    """One transcript line of an assignment, as committed."""

    seq: int
    sender_agent_id: int | None  # None: the task (the world) said it
    recipient_agent_id: int | None  # the only agent it was shown to; None: everyone in the assignment
    data: Any
    sent_at: str  # ISO 8601, UTC


class LivePages(ABC):
    """What the core offers a live session (implemented by the operator; a session never builds one).

    Abstract: the operator's implementation must provide every method, so a missing one fails when it is built.
    """

    @abstractmethod
    def send(self, agent_id: int, data: Any) -> None:
        """Push `{"type": "live", "data": data}` to every page holding the agent (dropped if none is connected)."""

    @abstractmethod
    def is_connected(self, agent_id: int) -> bool:
        """Whether a page holding the agent is connected right now."""

    @abstractmethod
    async def store_message(
        self, assignment_id: int, sender_agent_id: int | None, data: Any, recipient_agent_id: int | None = None
    ) -> StoredLiveMessage:
        """Append a transcript line to the assignment and return it once committed (its `seq` counts from 1)."""

    @abstractmethod
    async def transcript(self, assignment_id: int) -> list[StoredLiveMessage]:
        """Every committed transcript line of the assignment, in order."""

    @abstractmethod
    async def complete(self, agent_id: int, outputs: dict[str, Any]) -> bool:
        """Store `outputs` as the agent's submission (its unit becomes completed); False when it no longer holds its
        unit (timed out, released). Its pages are told with a `status` push of `completed`."""

    @abstractmethod
    async def release(self, agent_id: int, status: str, offer_again: bool = True) -> bool:
        """End the agent's attempt with `status` (`disconnected`, `timed_out`, `expired` or `returned`); its pages
        get a `status` push. Its unit is offered again, or with `offer_again=False` withdrawn for good (`expired` and
        recorded in `withdrawn_unit`, never offered again: an episode that went on without this worker has no place
        for a newcomer). False when it was not in task any more."""

    @abstractmethod
    async def withdraw_open_units(self, assignment_id: int) -> int:
        """Withdraw for good the assignment's units nobody holds yet (offered, not claimed), here and at the
        platform: an episode started without them. Returns how many were withdrawn."""

    @abstractmethod
    def send_onboarding(self, onboarding_id: int, data: Any) -> None:
        """Push `{"type": "live", "data": data}` to every page holding the onboarding attempt `onboarding_id`."""

    @abstractmethod
    async def finish_onboarding(self, onboarding_id: int, outputs: dict[str, Any]) -> bool | None:
        """Submit `outputs` for an onboarding attempt as its page would: the blueprint's `validate_onboarding`
        (or the task's onboarding rule) grades it and the onboarding qualification is granted or refused. Returns
        whether it passed; None when the attempt was no longer open (abandoned, already graded)."""


class LiveSession:
    """Base of a blueprint's live runtime for one task run; every method runs on the operator's event loop.

    Methods must not block: database work goes through `LivePages`' coroutines, which run on the writer thread.
    """

    async def on_join(self, agent: LiveAgent) -> None:
        """A page holding an in-task agent said hello (its first page, another tab, or after a reconnect)."""

    async def on_message(self, agent: LiveAgent, data: Any) -> None:
        """The agent's page sent `mephisto.sendMessage(data)`."""

    async def on_leave(self, agent_id: int) -> None:
        """The agent's last page closed (it may come back with `on_join` within the grace period)."""

    async def on_onboarding_join(self, onboarding_id: int) -> None:
        """A page holding an open onboarding attempt said hello (first page, another tab, or after a reconnect)."""

    async def on_onboarding_message(self, onboarding_id: int, data: Any) -> None:
        """A page holding the onboarding attempt sent `mephisto.sendMessage(data)`."""

    async def close(self) -> None:
        """The run ends: stop every episode (no more pushes or stores will succeed)."""
