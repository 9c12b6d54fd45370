"""A worker page speaking the protocol by hand over a real WebSocket, and a real operator to run scenarios against."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from mephisto_core.operations.run.operator import Operator


class Page:
    """One worker page: requests numbered like mephisto-task.js's, answers matched by id, pushes read in order."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.next_id = 0

    @classmethod
    async def open(cls, base_url: str) -> Page:
        return cls(await connect("ws" + base_url[4:] + "ws"))

    async def request(self, **msg: Any) -> dict[str, Any]:
        self.next_id += 1
        await self.ws.send(json.dumps({**msg, "id": self.next_id}))
        while True:
            reply = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
            if reply.get("id") == self.next_id:
                return dict(reply)

    async def push(self) -> dict[str, Any]:
        return dict(json.loads(await asyncio.wait_for(self.ws.recv(), 10)))

    async def hello(self, worker: str, token: str | None) -> dict[str, Any]:
        return await self.request(type="hello", params={"worker_id": worker}, token=token)

    async def submit(self, key: str, answer: str, **extra: Any) -> dict[str, Any]:
        return await self.request(type="submit", submit_key=key, outputs={"answer": answer}, uploads=[], **extra)


def run_with_operator(database: Any, settings: Any, config: Any, scenario: Callable[[str], Awaitable[None]]) -> Any:
    """Run `config` on a real operator, await `scenario(worker_url)` once the link is served, stop it at once;
    returns the operator's stats."""

    async def main() -> Any:
        operator = Operator(settings, database)
        run = asyncio.create_task(operator.run(config))
        await asyncio.wait_for(operator.ready.wait(), 20)
        try:
            await scenario(operator.stats.worker_url)
        finally:
            operator.request_stop()
            operator.request_stop()
            await asyncio.wait_for(run, 20)
        return operator.stats

    return asyncio.run(main())
