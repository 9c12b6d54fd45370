"""The `submitted` answers pages may not have read, handed to the router as the run ends.

A finished run waits a bounded time (late_answers.MAX_WAIT_SECONDS) for a page that may come back for its last
answer. A page that comes back later still, to a router that stays up (a standalone router, a public host), used
to be told only that the task ended: its submission was stored, but its worker was not told so and, on a paid
platform, could not submit the assignment there. So the run-over notice carries, for each such page, the answers
the operator would give it: its hello answered as "your unit, already submitted" (with the completion step), and
its resent submission acknowledged. The router answers the page with them (docs/protocol.md, "The end of a run").

An answer is kept until the page sends anything after it (it read it, since a socket delivers in order), or closes
its socket itself; a socket that is lost keeps it. Keeping one the page did read costs nothing but memory: what
it says is true. The newest `MAX_KEPT` are kept. Only the acknowledgement is kept on the way: the hello answers,
which hold each unit's data, are read from the database at the run's end (`WorkerPool.hello_answers`).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from mephisto_core.operations.run.replies import Assigned, Submitted

log = logging.getLogger(__name__)

#: At most this many pages' answers are kept (the newest): the run-over notice holds them all, unit data included.
MAX_KEPT = 1000


class LastAnswers:
    """Per agent, the answers its page gets should it come back after the run ended, while it may need them."""

    def __init__(self, max_kept: int = MAX_KEPT) -> None:
        self._max_kept = max_kept
        #: unit agent id -> its page's last `submitted` answer, oldest first
        self._by_agent: dict[int, Submitted] = {}
        #: connection -> the agent whose answer it was sent
        self._agent_of: dict[int, int] = {}
        self.dropped = 0

    def answered(self, conn: int, agent_id: int, submitted: Submitted, *, socket_open: bool) -> None:
        """A `submitted` answer went to `conn` (which may have closed meanwhile) for the unit agent `agent_id`.
        On every unit's way: the page's answers are made at the run's end (`handover`)."""
        by_agent = self._by_agent
        by_agent.pop(agent_id, None)  # newest last
        by_agent[agent_id] = submitted
        if socket_open:
            self._agent_of[conn] = agent_id
        if len(by_agent) > self._max_kept:
            del by_agent[next(iter(by_agent))]
            self.dropped += 1

    def read(self, conn: int) -> None:
        """The page on `conn` sent something, or closed its socket itself: it has what was sent to it."""
        if self._agent_of:
            agent = self._agent_of.pop(conn, None)
            if agent is not None:
                self._by_agent.pop(agent, None)

    def lost(self, conn: int) -> None:
        """The socket `conn` was lost: its page may come back for the answer, on another socket."""
        if self._agent_of:
            self._agent_of.pop(conn, None)

    def kept(self) -> list[int]:
        """The agents whose pages may come back for their last answer, oldest first."""
        return list(self._by_agent)

    def handover(self, hello_answers: dict[int, Assigned]) -> list[dict[str, Any]]:
        """What the run-over notice carries: each kept page's answers, given the hello answers of the `kept()`
        agents as they are now."""
        if self.dropped:
            # Pages resting on their thanks (no completion step) never show they read it: most of those were read.
            log.warning(
                "the router is handed the last answers of the newest %d pages that had not shown they read them; "
                "%d older ones were not kept, and such a page coming back after the run ended is told only that it "
                "ended",
                len(self._by_agent),
                self.dropped,
            )
        return [
            _page_answers(hello_answers[agent_id], submitted)
            for agent_id, submitted in self._by_agent.items()
            if agent_id in hello_answers
        ]


def _page_answers(assigned: Assigned, submitted: Submitted) -> dict[str, Any]:
    """A page's answers after the run ended: its hello (its unit, already submitted, where to go next) and its
    resent submission (the same `submit_key`) acknowledged; their ids are the page's requests'."""
    hello = replace(assigned, submitted=True, seconds_left=None, completion=submitted.completion)
    return {
        "token": assigned.token,
        "hello": hello.message(None),
        "submit_key": submitted.submit_key,
        "submitted": submitted.message(None),
    }
