"""The router's plain HTTP answers: task pages and assets, the worker client library, the health check."""

from __future__ import annotations

import asyncio
import email.utils
import json
from collections.abc import Callable
from http import HTTPStatus
from importlib import resources

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from mephisto_core.router.static_files import StaticFile, StaticFiles

CLIENT_JS_PATH = "/mephisto-task.js"
HEALTH_PATH = "/_health"

# The client library carries these markers so it can learn the router's limits without a round trip
# (it refuses too-large files before sending them). Served untouched, it falls back to the defaults.
_UPLOAD_LIMIT_MARKER = b"__MEPHISTO_MAX_UPLOAD_BYTES__"
_MESSAGE_LIMIT_MARKER = b"__MEPHISTO_MAX_MESSAGE_BYTES__"


def load_client_js(max_upload_bytes: int, max_message_bytes: int) -> bytes:
    """The packaged `mephisto-task.js` with this router's limits filled in. Blocking (reads a file)."""
    source = resources.files("mephisto_core.router").joinpath("static/mephisto-task.js").read_bytes()
    source = source.replace(_UPLOAD_LIMIT_MARKER, str(max_upload_bytes).encode())
    return source.replace(_MESSAGE_LIMIT_MARKER, str(max_message_bytes).encode())


def build_response(
    status: HTTPStatus,
    body: bytes,
    content_type: str,
    *,
    cacheable: bool = False,
    extra_headers: tuple[tuple[str, str], ...] = (),
) -> Response:
    """An HTTP response with the headers every router answer carries."""
    headers = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            # websockets answers one request per connection; saying so keeps clients from waiting.
            ("Connection", "close"),
            ("Content-Length", str(len(body))),
            ("Content-Type", content_type),
            ("X-Content-Type-Options", "nosniff"),
            # Providers show the page in a frame (MTurk ExternalQuestion), so any ancestor may frame it.
            ("Content-Security-Policy", "frame-ancestors *"),
        ]
    )
    if not cacheable:
        headers["Cache-Control"] = "no-store"
    for name, value in extra_headers:
        headers[name] = value
    return Response(status.value, status.phrase, headers, body)


def text_response(status: HTTPStatus, text: str, extra_headers: tuple[tuple[str, str], ...] = ()) -> Response:
    """A short plain-text answer (errors)."""
    return build_response(status, text.encode(), "text/plain; charset=utf-8", extra_headers=extra_headers)


class HttpRoutes:
    """Answers every non-WebSocket request: GET of files, the client library and `/_health`; 405 otherwise."""

    def __init__(self, static: StaticFiles, client_js: bytes, operator_connected: Callable[[], bool]) -> None:
        self._static = static
        self._client_js = client_js
        self._operator_connected = operator_connected

    async def respond(self, request: Request) -> Response:
        """The response to one plain HTTP request."""
        if request.method != "GET":
            return text_response(
                HTTPStatus.METHOD_NOT_ALLOWED,
                f"The router answers only GET requests, not {request.method[:20]}.\n",
                extra_headers=(("Allow", "GET"),),
            )
        path = request.path.split("?", 1)[0]
        if path == CLIENT_JS_PATH:
            # Not cacheable: a router upgrade must reach pages that are already open in other tabs.
            return build_response(HTTPStatus.OK, self._client_js, "text/javascript; charset=utf-8")
        if path == HEALTH_PATH:
            body = json.dumps({"status": "ok", "operator_connected": self._operator_connected()})
            return build_response(HTTPStatus.OK, body.encode(), "application/json")
        found: StaticFile | None = await asyncio.to_thread(self._static.lookup, request.path)
        if found is None:
            return text_response(HTTPStatus.NOT_FOUND, "Not found.\n")
        return build_response(HTTPStatus.OK, found.body, found.content_type, cacheable=found.cacheable)
