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
import functools
import logging
import time
from typing import Any

from mephisto_core.operations.run.channel import RouterChannel
from mephisto_core.router.run_over import RUN_OVER_EVENT

log = logging.getLogger(__name__)

#: How long a finished run keeps trying to tell a router it cannot reach that the run is over.
DELIVERY_SECONDS = 10.0
#: The same when pages are owed the answer to their last submission (last_answers.py): a router restarting as the
#: run ends (a deploy, a reboot of its machine) is waited for longer, since a launch that lingers costs the
#: researcher a minute at most, and an answer the router never gets may cost a worker their pay.
DELIVERY_SECONDS_WITH_ANSWERS = 60.0
#: How often a channel that is down is looked at again (it reconnects by itself, with a backoff from 0.2 s).
RECHECK_SECONDS = 0.1
#: When pages are owed answers, a router that has not confirmed the notice within this long is said to be silent,
#: while the operator goes on trying: whether its channel is down, or up and the router does not answer (hung).
SILENCE_WARNING_SECONDS = 2.0


async def tell_router_the_run_is_over(
    channel: RouterChannel, answers: list[dict[str, Any]] | None = None, patience: float | None = None
) -> bool:
    """Send the run-over notice until the router confirms it; False (and a warning) when `patience` ran out
    (by default DELIVERY_SECONDS, or DELIVERY_SECONDS_WITH_ANSWERS when there are `answers`).

    `answers`: what pages that may not have read their last answer get if they come back (last_answers.py). With
    them, a router that has not confirmed within SILENCE_WARNING_SECONDS is warned about at once, not only when the
    patience ran out (a router that is up but hung kept the operator silent for the whole minute).
    """
    if patience is None:
        patience = DELIVERY_SECONDS_WITH_ANSWERS if answers else DELIVERY_SECONDS
    deadline = time.monotonic() + patience
    notice: dict[str, Any] = {"event": RUN_OVER_EVENT}
    silence = None
    if answers:
        notice["answers"] = answers
        silence = asyncio.get_running_loop().call_later(
            min(SILENCE_WARNING_SECONDS, patience / 2),
            functools.partial(
                log.warning,
                "the router does not answer as the run ends: trying for up to %.0f s to tell it the run is over and "
                "hand it the answers %d page(s) may come back for",
                patience,
                len(answers),
            ),
        )
    try:
        return await _deliver(channel, notice, deadline, patience)
    finally:
        if silence is not None:
            silence.cancel()


async def _deliver(channel: RouterChannel, notice: dict[str, Any], deadline: float, patience: float) -> bool:
    """Send `notice` until the router confirms it (True) or `deadline` passes (False, with a warning)."""
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
            answers = notice.get("answers")
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
