"""The operator's channels to several routers that share one worker port (`mephisto_core.router.shards`).

Router k of n numbers its worker sockets k + 1, k + 1 + n, ...: an envelope for a socket goes down the channel of
the router that holds it, and one for no socket (`run_over`) goes down every channel. What the routers send comes
up each channel to the same handlers; each router's channel `hello` names its shard, so the operator reconciles
the sockets of that router alone (client_io).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from mephisto_core.abstractions.architect import EnvelopeHandler, UploadHandler
from mephisto_core.operations.run.channel import OperatorChannel
from mephisto_core.router.shards import Shard


class ShardedChannel:
    """One `RouterChannel` over the channels to routers 0..n-1 of a port, in that order."""

    def __init__(self, channels: Sequence[OperatorChannel]) -> None:
        if not channels:
            raise ValueError("a sharded channel needs at least one router channel")
        self._channels = list(channels)
        self._routing = Shard(0, len(self._channels))
        self.on_envelope: EnvelopeHandler = channels[0].on_envelope
        self.on_upload: UploadHandler = channels[0].on_upload

    @property
    def connected(self) -> bool:
        """Whether every router is reachable now (the pages of one that is not wait for it)."""
        return all(channel.connected for channel in self._channels)

    async def start(self, timeout: float = 10.0) -> None:
        """Open every channel; a router that cannot be reached within `timeout` fails the start, and the others
        are closed again."""
        results = await asyncio.gather(*(channel.start(timeout) for channel in self._channels), return_exceptions=True)
        failure = next((result for result in results if isinstance(result, BaseException)), None)
        if failure is not None:
            await self.stop()
            raise failure

    def send(self, envelope: dict[str, Any]) -> None:
        """Queue an envelope on the channel of the router holding its socket, or on every channel."""
        conn = envelope.get("conn")
        if type(conn) is int:
            self._channels[self._routing.owner_of(conn)].send(envelope)
            return
        for channel in self._channels:
            channel.send(envelope)

    async def delivered(self, timeout: float) -> bool:
        """True once every router has everything sent to it so far (see `OperatorChannel.delivered`)."""
        results = await asyncio.gather(*(channel.delivered(timeout) for channel in self._channels))
        return all(results)

    async def stop(self) -> None:
        """Close every channel for good."""
        await asyncio.gather(*(channel.stop() for channel in self._channels))
