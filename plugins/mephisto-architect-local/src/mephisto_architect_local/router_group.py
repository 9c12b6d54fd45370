"""Several router child processes on one port (`router_processes` > 1), started, watched and stopped as one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from mephisto_architect_local.subprocess_router import SubprocessRouter
from mephisto_core.router import Shard


class RouterGroup:
    """`count` routers sharing the worker port (SO_REUSEPORT), each with a channel port of its own.

    The first binds the port asked for (0: any free one) and the others then bind the port it got. When any of them
    dies the pages it held lose their sockets, and the run stops as it does when a lone router dies (launching
    again resumes it).
    """

    def __init__(self, count: int, port: int, make_router: Callable[[Shard, int], SubprocessRouter]) -> None:
        """`make_router(shard, port)` makes the (unstarted) router `shard` of the group, to bind `port`."""
        self.count = count
        self.port = port
        self._make_router = make_router
        self.routers: list[SubprocessRouter] = []

    @property
    def pids(self) -> list[int]:
        """The process ids of the routers running now."""
        return [router.pid for router in self.routers if router.pid is not None]

    async def start(self) -> tuple[str, list[str]]:
        """Start every router; return the worker URL and the channel URLs, router 0 first."""
        try:
            first = self._make_router(Shard(0, self.count), self.port)
            self.routers.append(first)
            url, first_channel = await first.start()
            port = int(url.rstrip("/").rsplit(":", 1)[1])
            others = [self._make_router(Shard(index, self.count), port) for index in range(1, self.count)]
            self.routers.extend(others)
            # Every start is awaited to its end (each stops its own child when it fails), then the first failure
            # is raised and the routers that did start are stopped.
            started = await asyncio.gather(*(router.start() for router in others), return_exceptions=True)
            failure = next((result for result in started if isinstance(result, BaseException)), None)
            if failure is not None:
                raise failure
        except BaseException:
            await self.stop()
            raise
        return url, [first_channel, *(result[1] for result in started if not isinstance(result, BaseException))]

    async def watch(self) -> str | None:
        """Wait until a router exits by itself and say how (None when `stop()` ended them all)."""
        watches = [asyncio.ensure_future(router.watch()) for router in self.routers]
        try:
            for finished in asyncio.as_completed(watches):
                reason = await finished
                if reason is not None:
                    return f"{reason} (one of {self.count} router processes on the port)"
            return None
        finally:
            for watch in watches:
                watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*watches, return_exceptions=True)

    async def stop(self) -> None:
        """Stop every router (each gets SIGTERM, then SIGKILL after its grace); a second call does nothing."""
        routers, self.routers = self.routers, []
        await asyncio.gather(*(router.stop() for router in routers))
