"""The worker-facing server: task pages over HTTP GET, worker WebSockets, and the operator channel.

See docs/protocol.md for the protocol it implements. `python -m mephisto_core.router` runs it alone.
"""

from mephisto_core.router.channel import LocalSession
from mephisto_core.router.probe import RouterInfo, probe_router
from mephisto_core.router.server import CHANNEL_PATH, WORKER_SOCKET_PATH, RouterServer
from mephisto_core.router.shards import Shard
from mephisto_core.router.versions import VERSION_PATH

__all__ = [
    "CHANNEL_PATH",
    "VERSION_PATH",
    "WORKER_SOCKET_PATH",
    "LocalSession",
    "RouterInfo",
    "RouterServer",
    "Shard",
    "probe_router",
]
