"""A task page opens its WebSocket while its scripts still download.

The client library (`mephisto-task.js`) opens the page's socket when it runs, once it and the page's other scripts
have arrived: on a first visit over a slow connection, the socket's two round trips (TCP, then the upgrade) came
after the scripts' download. When the router reads a page that loads the client library (once), it adds a line
just before that script element which opens the same socket at once. The library takes it over when it runs
(`takeEarlySocket`), or closes it when it is not the one it would open. The router sends nothing on a socket
before the page's hello, so nothing can arrive before the library listens.
"""

from __future__ import annotations

import json
import re

_CLIENT_SCRIPT = re.compile(
    rb"""<script\b[^>]*\ssrc\s*=\s*(["'])((?:[^"'<>\s]*/)?mephisto-task\.js(?:\?[^"'<>\s]*)?)\1""", re.IGNORECASE
)
# The socket's address as the library works it out: `ws` next to the script, ws: or wss: as the page's scheme.
_OPEN = (
    '<script>try {{ var u = new URL("ws", new URL({src}, location.href)); '
    'u.protocol = u.protocol === "https:" ? "wss:" : "ws:"; u.search = ""; u.hash = ""; '
    "window.__mephistoEarlySocket = new WebSocket(u.href); }} "
    "catch (err) {{ /* mephisto-task.js opens its own */ }}</script>"
)


#: the line `with_early_socket` adds, whatever the client library's address (for tests that compare a served
#: page with its build)
EARLY_SOCKET_LINE = re.compile(re.escape(_OPEN.format(src="SRC").encode("ascii")).replace(b"SRC", b'"[^"<]*"'))


def with_early_socket(page: bytes) -> bytes:
    """`page` with the line that opens its socket just before the element that loads the client library (the
    browser has begun fetching the page's scripts by then), when it loads it; else `page` as it is."""
    client = _CLIENT_SCRIPT.search(page)
    if client is None:
        return page
    src = json.dumps(client.group(2).decode("ascii", "replace")).replace("<", "\\u003c")
    return page[: client.start()] + _OPEN.format(src=src).encode("ascii") + page[client.start() :]
