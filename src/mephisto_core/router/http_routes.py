"""The router's plain HTTP answers: task pages and assets, the worker client library, health and version."""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import time
from collections.abc import Callable
from http import HTTPStatus
from importlib import resources

from mephisto_core.router.build_store import BuildStore
from mephisto_core.router.early_socket import with_early_socket
from mephisto_core.router.http_encoding import GZIP_MAX_BYTES, accepts_gzip, etag_matches
from mephisto_core.router.http_server import HttpRequest as Request
from mephisto_core.router.http_server import HttpResponse as Response
from mephisto_core.router.page_versions import (
    VERSIONED_CACHE_CONTROL,
    requested_version,
    version_of,
    versioned_page,
)
from mephisto_core.router.static_files import StaticFile, StaticFiles, StaticFileUnavailable, url_path_parts
from mephisto_core.router.versions import VERSION_PATH, version_info

log = logging.getLogger(__name__)

CLIENT_JS_PATH = "/mephisto-task.js"
HEALTH_PATH = "/_health"
ALLOWED_METHODS = ("GET", "HEAD")
ALLOW_HEADER = ", ".join(ALLOWED_METHODS)

# The client library carries these markers so it can learn the router's limits without a round trip
# (it refuses too-large files before sending them). Served untouched, it falls back to the defaults.
_UPLOAD_LIMIT_MARKER = b"__MEPHISTO_MAX_UPLOAD_BYTES__"
_MESSAGE_LIMIT_MARKER = b"__MEPHISTO_MAX_MESSAGE_BYTES__"

# Files served are kept in memory after their first read (a crowd opening the same task page would otherwise
# cost a thread hop and a file read each), with their gzipped copy, up to these sizes (a file's limit is the one
# for compressing it: larger files are read, and sent as they are, on every request).
CACHE_FILE_MAX_BYTES = GZIP_MAX_BYTES
CACHE_TOTAL_MAX_BYTES = 32 * 2**20

# What a standalone router shows while no operator has pushed a task to it: neutral, naming nobody.
NO_TASK_PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>No task here right now</title></head>
<body style="font-family: sans-serif; max-width: 36em; margin: 4em auto; line-height: 1.5">
<h1>No task is running here right now</h1>
<p>This address serves tasks only while one is running. Please try your link again later.</p>
</body></html>
"""


def load_client_js(max_upload_bytes: int, max_message_bytes: int) -> StaticFile:
    """The packaged `mephisto-task.js` with this router's limits filled in, ready to be sent. Blocking (reads a
    file and compresses it)."""
    source = resources.files("mephisto_core.router").joinpath("static/mephisto-task.js").read_bytes()
    source = source.replace(_UPLOAD_LIMIT_MARKER, str(max_upload_bytes).encode())
    source = source.replace(_MESSAGE_LIMIT_MARKER, str(max_message_bytes).encode())
    return StaticFile.of(source, "text/javascript; charset=utf-8", cacheable=True)


#: a file read (None: not found), and the files a page names that were read to version it, by their path parts
_Read = tuple[StaticFile | None, dict[tuple[str, ...], StaticFile]]

_date_cache: tuple[int, str] = (0, "")


def _http_date() -> str:
    """The `Date` header value, formatted once a second."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, email.utils.formatdate(now, usegmt=True))
    return _date_cache[1]


def build_response(
    status: HTTPStatus,
    body: bytes,
    content_type: str,
    *,
    cache_control: str = "no-store",
    extra_headers: tuple[tuple[str, str], ...] = (),
) -> Response:
    """An HTTP response with the headers every router answer carries."""
    headers = [
        ("Date", _http_date()),
        ("Content-Length", str(len(body))),
        ("Content-Type", content_type),
        ("X-Content-Type-Options", "nosniff"),
        # Providers show the page in a frame (MTurk ExternalQuestion), so any ancestor may frame it.
        ("Content-Security-Policy", "frame-ancestors *"),
        ("Cache-Control", cache_control),
    ]
    headers.extend(extra_headers)
    return Response(status.value, status.phrase, headers, body)


def file_response(request: Request, found: StaticFile) -> Response:
    """A file's answer to a GET: gzipped when the file has a compressed copy and the client accepts gzip, and
    `304 Not Modified` (no body) when the client's copy is current.

    Pages (HTML) are never stored by the browser (`no-store`). Everything else may be, and is checked with the
    server before each use (`no-cache` and an entity tag): a relaunch with changed files, or an upgraded router's
    client library, reaches every page at once, and an unchanged file costs a 304 instead of its bytes. A request
    that names the file's current version, as pages do (page_versions), may be kept for good.
    """
    headers: list[tuple[str, str]] = []
    if found.gzipped is not None:
        headers.append(("Vary", "Accept-Encoding"))  # for caches between the router and the browser
    if not found.cacheable:
        cache_control = "no-store"
    else:
        # Asked for by the version a page names it by (page_versions): kept without asking again.
        current = requested_version(request.path) == version_of(found.etag)
        cache_control = VERSIONED_CACHE_CONTROL if current else "no-cache"
        headers.append(("ETag", found.etag))
        if etag_matches(request.get("If-None-Match"), found.etag):
            not_modified = [("Date", _http_date()), ("Cache-Control", cache_control), *headers]
            return Response(HTTPStatus.NOT_MODIFIED.value, HTTPStatus.NOT_MODIFIED.phrase, not_modified, b"")
    body = found.body
    if found.gzipped is not None and accepts_gzip(request.get("Accept-Encoding")):
        body = found.gzipped
        headers.append(("Content-Encoding", "gzip"))
    return build_response(
        HTTPStatus.OK, body, found.content_type, cache_control=cache_control, extra_headers=tuple(headers)
    )


def text_response(status: HTTPStatus, text: str, extra_headers: tuple[tuple[str, str], ...] = ()) -> Response:
    """A short plain-text answer (errors)."""
    return build_response(status, text.encode(), "text/plain; charset=utf-8", extra_headers=extra_headers)


class HttpRoutes:
    """Answers every non-WebSocket request: GET/HEAD of files, the client library, `/_health` and the version;
    405 otherwise. Files come from the build `builds` serves at the time of the request (503 while none)."""

    def __init__(
        self,
        builds: BuildStore,
        client_js: StaticFile,
        operator_connected: Callable[[], bool],
        run_over: Callable[[], bool],
    ) -> None:
        self._builds = builds
        self._client_js = client_js
        self._operator_connected = operator_connected
        self._run_over = run_over
        # Keyed by the path without its query (each worker's link has its own), found files only: a miss is
        # not cached, so unknown paths cannot fill it. Emptied when another build is served (`_cache_of`).
        self._cache: dict[tuple[str, ...], StaticFile] = {}
        self._cache_bytes = 0
        self._cache_of: StaticFiles | None = None
        # The reads under way: a burst of pages asking for a file not yet cached shares one read, not one each.
        self._reading: dict[tuple[StaticFiles, tuple[str, ...]], asyncio.Future[_Read]] = {}

    def respond_now(self, request: Request, *, has_body: bool = False) -> Response | None:
        """The answer `respond` would give, when it needs no file read (None then: await `respond`)."""
        if request.method in ALLOWED_METHODS and not has_body:
            answer = self._respond_from_memory(request)
            if answer is None:
                return None
            return self._for_method(request, answer)
        return None

    def _for_method(self, request: Request, answer: Response) -> Response:
        if request.method == "HEAD":
            # The same headers (Content-Length included: what GET would send), without the body.
            return Response(answer.status_code, answer.reason_phrase, answer.headers, b"")
        return answer

    def _respond_from_memory(self, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path in (CLIENT_JS_PATH, HEALTH_PATH, VERSION_PATH):
            return None  # answered by `respond` (cheap, and rare)
        build = self._builds.current
        if build is None or self._cache_of is not build.static:
            return None
        parts = url_path_parts(request.path)
        found = self._cache.get(parts) if parts is not None else None
        if found is None:
            return None
        return file_response(request, found)

    async def warm(self) -> None:
        """Read the served build's task page (`/`) into memory now, with the scripts and styles it names (read to
        version them), before any worker asks for them.

        Otherwise every page of a launch's opening burst that comes before that first read ends waits for it, and
        the read runs in a worker thread that the burst itself keeps from the CPU (docs/performance.md). A page that
        cannot be read now is read on request as before.
        """
        build = self._builds.current
        if build is not None:
            await self._static_file(build.static, "/")

    async def respond(self, request: Request, *, has_body: bool = False) -> Response:
        """The response to one plain HTTP request; `has_body` says the request announced a body.

        HEAD is answered as GET would be, headers only (RFC 9110 asks every general-purpose server for both);
        any other method is 405 with an `Allow` header. No route reads a body: a GET or HEAD with one is 400.
        """
        if request.method not in ALLOWED_METHODS:
            return text_response(
                HTTPStatus.METHOD_NOT_ALLOWED,
                f"The router answers only GET and HEAD requests, not {request.method[:20]}.\n",
                extra_headers=(("Allow", ALLOW_HEADER),),
            )
        if has_body:
            answer = text_response(HTTPStatus.BAD_REQUEST, f"A {request.method} request carries no body.\n")
        else:
            answer = await self._respond_to_get(request)
        return self._for_method(request, answer)

    async def _respond_to_get(self, request: Request) -> Response:
        path = request.path.split("?", 1)[0]
        if path == CLIENT_JS_PATH:
            # Checked before each use (no-cache): a router upgrade must reach pages that are already open in other
            # tabs.
            return file_response(request, self._client_js)
        if path == HEALTH_PATH:
            health = {"status": "ok", "operator_connected": self._operator_connected(), "run_over": self._run_over()}
            body = json.dumps(health)
            return build_response(HTTPStatus.OK, body.encode(), "application/json")
        if path == VERSION_PATH:
            body = json.dumps(version_info(self._builds.digest))
            return build_response(HTTPStatus.OK, body.encode(), "application/json")
        build = self._builds.current
        if build is None:
            return build_response(
                HTTPStatus.SERVICE_UNAVAILABLE,
                NO_TASK_PAGE,
                "text/html; charset=utf-8",
                extra_headers=(("Retry-After", "30"),),
            )
        found = await self._static_file(build.static, request.path)
        if isinstance(found, Response):
            return found
        if found is None:
            return text_response(HTTPStatus.NOT_FOUND, "Not found.\n")
        return file_response(request, found)

    async def _static_file(self, static: StaticFiles, target: str) -> StaticFile | Response | None:
        parts = url_path_parts(target)
        if parts is None:
            return None
        if self._cache_of is not static:  # another build is served now: forget the old one's files
            self._cache.clear()
            self._cache_bytes = 0
            self._cache_of = static
        cached = self._cache.get(parts)
        if cached is not None:
            return cached
        try:
            found, named = await asyncio.shield(self._read(static, parts, target))
        except StaticFileUnavailable as exc:
            log.error("%s", exc)
            return text_response(
                HTTPStatus.SERVICE_UNAVAILABLE,
                "The server is busy; please reload this page in a few seconds.\n",
                extra_headers=(("Retry-After", "5"),),
            )
        if self._cache_of is not static:
            return found  # the build changed during the read: answer it, but never cache it as the new build's
        if found is not None:
            self._keep(parts, found)  # each sharer of a read comes here
        for named_parts, file in named.items():  # the files a page names, read to version it
            self._keep(named_parts, file)
        return found

    def _keep(self, parts: tuple[str, ...], found: StaticFile) -> None:
        """Keep a file of the served build in memory, if it fits and is not kept already."""
        size = found.memory_bytes
        fits = size <= CACHE_FILE_MAX_BYTES and self._cache_bytes + size <= CACHE_TOTAL_MAX_BYTES
        if fits and parts not in self._cache:
            self._cache[parts] = found
            self._cache_bytes += size

    def _lookup(self, static: StaticFiles, target: str) -> _Read:
        """`static.lookup(target)`, a page's references given their files' versions and its socket opened early
        (early_socket), with the files the page names that were read for it (kept in memory like any file read).
        Blocking (worker thread)."""
        found = static.lookup(target)
        named: dict[tuple[str, ...], StaticFile] = {}
        if found is None or found.cacheable or not found.content_type.startswith("text/html"):
            return found, named

        versions: dict[str, str | None] = {CLIENT_JS_PATH: version_of(self._client_js.etag)}

        def version(path: str) -> str | None:
            if path not in versions:  # each file read once, however often the page names it
                parts = url_path_parts(path)
                try:
                    # A file too large to keep in memory is read for every request anyway; not read here too.
                    file = static.lookup(path, max_bytes=CACHE_FILE_MAX_BYTES) if parts is not None else None
                except StaticFileUnavailable:
                    file = None  # left as it is: revalidated as before
                if file is not None and file.cacheable and parts is not None:
                    named[parts] = file
                    versions[path] = version_of(file.etag)
                else:
                    versions[path] = None
            return versions[path]

        page_path = target.split("?", 1)[0].split("#", 1)[0]
        body = with_early_socket(versioned_page(found.body, page_path, version))
        page = found if body == found.body else StaticFile.of(body, found.content_type, cacheable=False)
        return page, named

    def _read(self, static: StaticFiles, parts: tuple[str, ...], target: str) -> asyncio.Future[_Read]:
        """The read of `parts` from `static` in a worker thread: the one under way, or a new one."""
        key = (static, parts)
        reading = self._reading.get(key)
        if reading is None:
            reading = asyncio.ensure_future(asyncio.to_thread(self._lookup, static, target))
            self._reading[key] = reading
            reading.add_done_callback(lambda _done: self._reading.pop(key, None))
        return reading
