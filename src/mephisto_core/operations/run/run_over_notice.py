"""Telling the router that the run is over, even when its channel is down at that moment.

A run whose every unit is done tells its router `{"event": "run_over"}`, so that pages coming after the operator
left are told the run ended instead of waiting for an operator (docs/protocol.md). The router forgets the fact
whenever an operator channel opens, a reconnect of this very operator included; and an envelope queued while the
channel is down is dropped when the operator stops. So the notice is sent until the router confirms it read it
(a channel round trip), again on each new connection, for a bounded time: a router restarting as the run ends
still hears it, and a router that is gone does not hold the operator's exit up for long.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from mephisto_core.operations.run.channel import RouterChannel
from mephisto_core.router.run_over import RUN_OVER_EVENT

log = logging.getLogger(__name__)

#: How long a finished run keeps trying to tell a router it cannot reach that the run is over.
DELIVERY_SECONDS = 10.0
#: How often a channel that is down is looked at again (it reconnects by itself, with a backoff from 0.2 s).
RECHECK_SECONDS = 0.1


async def tell_router_the_run_is_over(
    channel: RouterChannel, answers: list[dict[str, Any]] | None = None, patience: float = DELIVERY_SECONDS
) -> bool:
    """Send the run-over notice until the router confirms it; False (and a warning) when `patience` ran out.

    `answers`: what pages that may not have read their last answer get if they come back (last_answers.py).
    """
    deadline = time.monotonic() + patience
    notice: dict[str, Any] = {"event": RUN_OVER_EVENT}
    if answers:
        notice["answers"] = answers
    while True:
        channel.send(notice)
        if await channel.delivered(max(0.0, deadline - time.monotonic())):
            return True
        # Down, or a connection that came up and went: the next one must be told again, as its opening
        # ended the flag on the router.
        await asyncio.sleep(RECHECK_SECONDS)
        while not channel.connected and time.monotonic() < deadline:
            await asyncio.sleep(RECHECK_SECONDS)
        if time.monotonic() >= deadline:
            log.warning(
                "could not tell the router that the run is over (no answer within %.0f s): pages that open the "
                "task link from now on wait for an operator instead of being told the task ended%s",
                patience,
                f", and {len(answers)} page(s) that may come back for the answer to their last submission are not "
                "told it was stored"
                if answers
                else "",
            )
            return False
