"""The worker-facing server: task pages over HTTP GET, worker WebSockets, and the operator channel.

See docs/protocol.md for the protocol it implements. `python -m mephisto_core.router` runs it alone.
"""

from mephisto_core.router.channel import LocalSession
from mephisto_core.router.server import CHANNEL_PATH, WORKER_SOCKET_PATH, RouterServer

__all__ = ["CHANNEL_PATH", "WORKER_SOCKET_PATH", "LocalSession", "RouterServer"]
