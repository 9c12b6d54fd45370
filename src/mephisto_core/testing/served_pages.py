"""A task page as its build wrote it, from the page the router served: for tests that compare the two.

The router names a page's scripts and styles by version (`?v=`, router/page_versions.py) and adds the line that
opens its socket early (router/early_socket.py); `page_as_built` takes both out again.
"""

from __future__ import annotations

import re

from mephisto_core.router.early_socket import EARLY_SOCKET_LINE
from mephisto_core.router.page_versions import VERSION_PARAM

# A version is an entity tag's 24 hex digits; `&v=` after another parameter, `?v=` alone.
_FIRST_VERSION = re.compile(rb"\?" + VERSION_PARAM.encode() + rb"=[0-9a-f]{24}(?=[\"'])")
_LATER_VERSION = re.compile(rb"&" + VERSION_PARAM.encode() + rb"=[0-9a-f]{24}(?=[\"'])")


def page_as_built(served: bytes) -> bytes:
    """`served` without the router's version parameters and early-socket line."""
    return _LATER_VERSION.sub(b"", _FIRST_VERSION.sub(b"", EARLY_SOCKET_LINE.sub(b"", served)))
