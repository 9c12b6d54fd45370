"""What a router says about itself: its version, the protocol it speaks, and the build it serves.

`PROTOCOL_VERSION` counts incompatible changes of the operator channel and the page protocol (docs/protocol.md);
an operator or a probe refuses a router speaking another one. 2 added the build push and the version endpoint.
"""

from __future__ import annotations

from typing import Any

from mephisto_core import __version__

PROTOCOL_VERSION = 2
#: `GET` here answers `version_info` as JSON; no secret needed, nothing in it is sensitive.
VERSION_PATH = "/__mephisto/version"


def version_info(task_digest: str | None) -> dict[str, Any]:
    """The body of the version endpoint (and the version fields of the channel `hello`)."""
    return {"router_version": __version__, "protocol": PROTOCOL_VERSION, "task": task_digest}
