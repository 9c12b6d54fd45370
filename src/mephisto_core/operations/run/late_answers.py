"""Answers pages may not have read: a run whose last unit is stored waits for them before it ends.

A page recovers a lost answer by itself (docs/protocol.md). When its socket closes before the answer arrives, it
reconnects with a backoff, says hello with its token and resends. When the router channel goes down with the
answer in flight, it resends once the request is stale, or at once when a heartbeat shows the operator back.
Either takes seconds. A run used to end at the first tick after its last unit and take its router down with it,
so a page recovering the last `submitted` answer then found no server: its worker was never told the work was
stored, and on a paid platform could not submit the assignment there. So a finished run waits, for a bounded
time, while such a page may still come back.

Only `submitted` answers are tracked: nothing else can finish the run. An answer is known to be safe once the
page sends anything after it (a socket delivers in order), or once the router has read it (a channel round trip:
the router writes each answer to its page's socket as it reads it, and reports a socket that is lost before the
page closes it). So a run whose pages all answered back, or whose channel is healthy, ends at once.
"""

from __future__ import annotations

AgentKey = tuple[bool, int]  # (is_onboarding, agent id)

#: How long a page whose socket closed with a `submitted` answer maybe unread may take to come back:
#: mephisto-task.js reconnects after about 0.5, 1, 2, 4 and 8 s (with jitter).
RECONNECT_SECONDS = 16.0
#: How long after the router channel came back a page may take to resend a submission whose answer the loss
#: dropped: mephisto-task.js resends a request unanswered for 30 s, checked at each 5-s heartbeat.
RESEND_SECONDS = 40.0
#: The longest a finished run waits for pages, whatever happens meanwhile.
MAX_WAIT_SECONDS = 60.0
#: Closed pages remembered before the stale ones are dropped (each is of interest for RECONNECT_SECONDS).
_PRUNE_AT = 256


class UnreadAnswers:
    """Which pages may not have read their last `submitted` answer, and whether a finished run waits for them."""

    def __init__(self) -> None:
        #: connection -> when its last `submitted` answer was sent, until the page sends anything after it
        self._sent: dict[int, float] = {}
        #: agent -> when its page's socket closed with such an answer maybe unread
        self._left: dict[AgentKey, float] = {}
        #: when the router channel last came back after a loss (None: it never went down)
        self.channel_back_at: float | None = None
        #: answers sent up to then are known to have reached the router (`delivered_before`)
        self._delivered_before = float("-inf")

    def answered(self, conn: int, agent: AgentKey, socket_open: bool, now: float) -> None:
        """A `submitted` answer was sent to `conn` (which may have closed while the submission was stored)."""
        if socket_open:
            self._sent[conn] = now
        else:
            self._page_left_unread(agent, now)

    def heard_from(self, conn: int) -> None:
        """The page on `conn` sent something: it has read every answer sent to it before."""
        if self._sent:
            self._sent.pop(conn, None)

    def closed(self, conn: int, agent: AgentKey | None, now: float, *, page_left: bool) -> None:
        """The socket `conn` closed; `agent` is what it held. `page_left`: the page closed it itself, so it had
        what came before and does not come back for it (a lost connection, or one the router closed, may)."""
        sent = self._sent.pop(conn, None) if self._sent else None
        if sent is not None and agent is not None and not page_left:
            self._page_left_unread(agent, now)

    def _page_left_unread(self, agent: AgentKey, now: float) -> None:
        if len(self._left) >= _PRUNE_AT:
            self._left = {key: at for key, at in self._left.items() if now - at < RECONNECT_SECONDS}
        self._left[agent] = now

    def back(self, agent: AgentKey) -> None:
        """A page holds `agent` again (its hello with the token): it resends what it missed on that socket."""
        if self._left:
            self._left.pop(agent, None)

    def delivered_before(self, at: float) -> None:
        """Every answer sent before `at` has reached the router (a channel round trip begun then came back); the
        router hands each answer to its page's socket as it reads it."""
        self._delivered_before = max(self._delivered_before, at)

    def undelivered(self) -> bool:
        """Whether a round trip now could vouch for an answer a page has not spoken after: one sent since the
        channel's latest connection, not known to have reached the router."""
        back = self.channel_back_at
        return any(not self._reached(at) and (back is None or at > back) for at in self._sent.values())

    def _reached(self, at: float) -> bool:
        """Whether an answer sent at `at` is known to have reached the router. A round trip vouches only for
        its own connection: not for what was sent before the channel came back after a loss."""
        vouched = self._delivered_before
        back = self.channel_back_at
        return at <= vouched and (back is None or not at <= back < vouched)

    def channel_restored(self, now: float) -> None:
        """The router channel is up again after a loss (its `hello` after the first)."""
        self.channel_back_at = now

    def wait_reason(self, now: float, channel_down: bool) -> str | None:
        """Why a run whose every unit is done should still serve pages (None: nothing to wait for)."""
        coming = sum(1 for at in self._left.values() if now - at < RECONNECT_SECONDS)
        if coming:
            return f"{coming} page(s) closed before reading that their last submission was stored"
        back = self.channel_back_at
        owed = unsure = 0
        for at in self._sent.values():
            if self._reached(at):
                continue
            if back is None or at > back:
                unsure += 1
            elif now - back < RESEND_SECONDS and at > back - RESEND_SECONDS:
                # Sent before a loss that a keepalive may have taken that long to notice: maybe lost with it.
                owed += 1
        if owed:
            return f"{owed} page(s) may resend a submission whose answer the router channel lost"
        if unsure and channel_down:
            return f"the router channel is down, and {unsure} answer(s) go out when it is back"
        if unsure:
            return f"{unsure} answer(s) not yet known to have reached the router"
        return None
