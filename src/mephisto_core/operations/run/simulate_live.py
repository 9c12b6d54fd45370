"""How a simulated worker takes part in a live task: it answers each turn it is given until its unit is settled.

Used by `SimulatedWorker` when the blueprint's `SimulatedAnswer` says `live=True`: instead of submitting, the bot
sends `{"kind": "message", "text": ...}` each time a `turn` push gives it the floor (the chat page's frames,
docs/protocol.md), and stops when its unit is completed by the task or taken away.
"""

from __future__ import annotations

import asyncio
import json
import random

from websockets.asyncio.client import ClientConnection

from mephisto_core.abstractions import SimulatedAnswer

#: how long a bot waits for anything from the task before it gives its unit up as lost (the room's own limit
#: and the operator's timers normally settle it first)
IDLE_SECONDS = 600.0
_LOST = frozenset({"timed_out", "disconnected", "expired", "returned"})


async def talk_live(ws: ClientConnection, answer: SimulatedAnswer, rng: random.Random, think_seconds: float) -> bool:
    """Chat on `ws` until the unit is settled; True when it was completed (stored), False when it was lost."""
    text = str(answer.outputs.get("text", "simulated message"))
    said = 0
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=IDLE_SECONDS))
        if frame.get("type") == "status":
            if frame.get("status") == "completed":
                return True
            if frame.get("status") in _LOST:
                return False
            continue
        data = frame.get("data") if frame.get("type") == "live" else None
        if isinstance(data, dict) and data.get("kind") == "onboarding_done":
            return False  # a live onboarding conversation was graded: no unit is stored; the next hello gets one
        if isinstance(data, dict) and data.get("kind") == "turn" and data.get("yours") is True:
            if think_seconds:
                await asyncio.sleep(think_seconds * (0.5 + rng.random()))
            said += 1
            await ws.send(json.dumps({"type": "live", "data": {"kind": "message", "text": f"{text} ({said})"}}))
