"""The review app's HTTP server: token check, static page, JSON API, file downloads.

Standard-library `ThreadingHTTPServer`: one local user, a handful of requests at a time. Every request must
carry the session token, as `Authorization: Bearer TOKEN` (what the page sends on API calls) or, for GET only,
as `?token=TOKEN` (the printed link, asset and download links). No cookies are used, so another site cannot
make the browser act with the reviewer's rights (no CSRF).
"""

from __future__ import annotations

import html
import json
import logging
import math
import shutil
import socket
import threading
from datetime import UTC, date, datetime
from decimal import Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import peewee as pw

from mephisto_core.errors import IllegalTransition, MephistoError, NotFound, ProviderError
from mephisto_core.review_app.app import ReviewApp
from mephisto_core.review_app.files import RecordedFile
from mephisto_core.review_app.routes import Request, check_params, find_route
from mephisto_core.review_app.validation import ApiError, bad_request

log = logging.getLogger(__name__)

MAX_BODY = 256 * 1024
LINGER_SECONDS = 0.5  # how long a refused request's unread body is drained before the connection closes
LINGER_MAX_BYTES = 4 * MAX_BODY
_STATIC_TYPES = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "quality.js": "text/javascript; charset=utf-8",  # the quality and live panel (review_app/quality_panel.py)
}
# Inline styles are allowed for the blueprint's review fragment (shown in a script-less sandboxed frame that
# inherits this policy); scripts only ever come from the app's own file.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "media-src 'self'; connect-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
REFUSAL_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Access refused - Mephisto review</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto; line-height: 1.5">
<h1>Access refused</h1>
<p>This address needs the access token that <code>mephisto review</code> printed when it started.
Open the whole link it printed (it ends in <code>?token=...</code>).</p>
</body></html>
"""


class ReviewServer:
    """The review app served on `host:port` (port 0 picks a free one)."""

    def __init__(self, app: ReviewApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        server_class = _HTTPServer6 if ":" in host else _HTTPServer
        self.httpd = server_class((host, port), _Handler)
        self.httpd.app = app
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """`http://HOST:PORT` without the token."""
        host, port = self.httpd.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else str(host)
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"

    @property
    def url(self) -> str:
        """The link to open: the page with the session token."""
        return f"{self.base_url}/?token={quote(self.app.token, safe='')}"

    def serve_forever(self) -> None:
        """Serve in this thread until `shutdown()` (from another thread) or KeyboardInterrupt."""
        self.httpd.serve_forever(poll_interval=0.2)

    def start(self) -> None:
        """Serve in a background thread (tests, embedding)."""
        self._thread = threading.Thread(target=self.serve_forever, name="review-server", daemon=True)
        self._thread.start()

    def __enter__(self) -> ReviewServer:
        """Serve in a background thread until the `with` block ends."""
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    def shutdown(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(10)
            self._thread = None
        self.httpd.server_close()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    app: ReviewApp


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "mephisto-review"
    # An answer goes out as two writes, its head and its body. On a connection the browser keeps alive, Nagle's
    # algorithm held the body until the head's ACK, which the browser delays: 40 ms or more added to every call.
    disable_nagle_algorithm = True

    def version_string(self) -> str:
        return self.server_version  # no Python version in the Server header

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # ---- dispatch -------------------------------------------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        app = self.server.app
        url = urlsplit(self.path)
        pairs = parse_qsl(url.query, keep_blank_values=True)
        raw_body = self._read_body() if method != "GET" else b""
        if raw_body is None:
            return  # already answered (too large)
        presented = self._bearer_token()
        if presented is None and method == "GET":
            presented = next((value for key, value in pairs if key == "token"), None)
        if not app.token_matches(presented):
            self._refuse(url.path)
            return
        if not url.path.startswith("/api/"):
            self._route(method, url.path, pairs, raw_body)  # the page and its assets: no database, so they load
            return  # while it is away, and the page can say so
        database = app.database.db
        try:
            database.connect(reuse_if_open=True)
        except pw.DatabaseError as exc:
            log.warning("review app: cannot reach the database: %s", exc)
            self._send_error(503, f"cannot reach the database: {_one_line(exc)}; try again when it is back")
            return
        try:
            self._route(method, url.path, pairs, raw_body)
        finally:
            # Each request runs in a thread of its own. Closing hands the connection back: `mephisto review`
            # keeps it for the next request on PostgreSQL (`kept_connections`) and SQLite's cost nothing to open.
            if not database.in_transaction():
                database.close()

    def _route(self, method: str, path: str, pairs: list[tuple[str, str]], raw_body: bytes) -> None:
        app = self.server.app
        try:
            if path in ("/", "/index.html"):
                self._send_page(method)
            elif path.startswith("/static/"):
                self._send_static(method, path.removeprefix("/static/"))
            elif path.startswith("/api/"):
                route, parts = find_route(method, path)
                params = _single_params(pairs)
                check_params(route, params)
                body = _json_body(raw_body, self.headers.get("Content-Type", "")) if method == "POST" else {}
                result = route.handler(app, Request(method, path, parts, params, body))
                if isinstance(result, RecordedFile):
                    self._send_file(result)
                else:
                    self._send_json(HTTPStatus.OK, result)
            else:
                raise ApiError(404, f"nothing at {path}; open / with the token")
        except ApiError as exc:
            self._send_error(exc.status, exc.message, allow=exc.allow)
        except MephistoError as exc:
            self._send_error(_status_of(exc), str(exc), kind=_kind_of(exc))
        except (pw.OperationalError, pw.InterfaceError) as exc:  # the server went away, or a lock timed out
            log.warning("review app: the database failed on %s %s: %s", method, path, exc)
            self._send_error(503, f"the database failed: {_one_line(exc)}; try again")
        except Exception as exc:  # an unexpected bug: answer 500 with its type, keep serving, log the trace
            log.exception("review app failed on %s %s", method, path)
            self._send_error(500, f"internal error: {type(exc).__name__}: {exc}")

    # ---- reading ------------------------------------------------------------------------------------------

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding"):
            # Chunked bodies are not read here; unread bytes would corrupt the next request on this connection.
            self._refuse_unread_body(411, "send the request body with a Content-Length, not chunked")
            return None
        length_text = self.headers.get("Content-Length", "0") or "0"
        if not length_text.isdigit():
            self._refuse_unread_body(400, "Content-Length must be a number of bytes")
            return None
        length = int(length_text)
        if length > MAX_BODY:
            self._refuse_unread_body(413, f"the request body is {length} bytes; at most {MAX_BODY} are accepted")
            return None
        return self.rfile.read(length) if length else b""

    def _refuse_unread_body(self, status: int, message: str) -> None:
        """Answer without reading the body, then close the connection gracefully.

        The unread bytes make the connection unusable. Closing at once would make the kernel reset it while the
        client is still sending, and the client would see a broken pipe instead of this answer: so stop writing,
        then read and drop what is still coming for a moment (bounded in bytes and time) before closing.
        """
        self.close_connection = True
        self._send_error(status, message)
        self.wfile.flush()
        try:
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(LINGER_SECONDS)
            drained = 0
            while drained < LINGER_MAX_BYTES:
                chunk = self.connection.recv(65536)
                if not chunk:
                    break
                drained += len(chunk)
        except OSError as exc:  # the client closed or reset first, or went quiet: either way we are done
            log.debug("lingering close ended early: %s", exc)

    def _bearer_token(self) -> str | None:
        header = self.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value.strip() else None

    # ---- writing ------------------------------------------------------------------------------------------

    def _refuse(self, path: str) -> None:
        message = "missing or wrong access token: open the link `mephisto review` printed"
        if path.startswith("/api/"):
            self._send_error(403, message, kind="forbidden")
        else:
            self._send(
                403, REFUSAL_PAGE.encode("utf-8"), "text/html; charset=utf-8", {"Content-Security-Policy": PAGE_CSP}
            )

    def _send_page(self, method: str) -> None:
        if method != "GET":
            raise ApiError(405, f"{method} is not allowed on /; use GET", allow="GET")
        template = (resources.files("mephisto_core.review_app") / "static" / "index.html").read_text("utf-8")
        page = template.replace("__TOKEN__", html.escape(quote(self.server.app.token, safe=""), quote=True))
        self._send(200, page.encode("utf-8"), "text/html; charset=utf-8", {"Content-Security-Policy": PAGE_CSP})

    def _send_static(self, method: str, name: str) -> None:
        if name not in _STATIC_TYPES:
            raise ApiError(404, f"no static file {name!r}")
        if method != "GET":
            raise ApiError(405, f"{method} is not allowed on static files; use GET", allow="GET")
        data = (resources.files("mephisto_core.review_app") / "static" / name).read_bytes()
        self._send(200, data, _STATIC_TYPES[name])

    def _send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        try:
            text = json.dumps(payload, default=_json_default, ensure_ascii=False, allow_nan=False)
        except ValueError:
            # A NaN or Infinity stored by an older version: `NaN` is not JSON and the page could not read the
            # answer at all. Send it as text; the page shows the stored values from `shown` anyway.
            log.warning("a review answer holds a number that is not finite; it is sent as text")
            text = json.dumps(_finite(payload), default=_json_default, ensure_ascii=False, allow_nan=False)
        body = text.encode("utf-8")
        self._send(status, body, "application/json; charset=utf-8", headers)

    def _send_error(self, status: int, message: str, *, kind: str | None = None, allow: str | None = None) -> None:
        payload: dict[str, Any] = {"error": message}
        if kind is not None:
            payload["kind"] = kind
        self._send_json(status, payload, {"Allow": allow} if allow else None)

    def _send_file(self, stored: RecordedFile) -> None:
        self.send_response(200)
        self._common_headers()
        self.send_header("Content-Type", stored.content_type)
        self.send_header("Content-Length", str(stored.size))
        self.send_header("Content-Disposition", _attachment(stored.name))
        # Should a worker's upload be HTML, it must not run as a page of this origin (which holds the token).
        self.send_header("Content-Security-Policy", "sandbox; default-src 'none'")
        self.end_headers()
        with stored.path.open("rb") as fh:
            shutil.copyfileobj(fh, self.wfile)

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self._common_headers()
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _common_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Frame-Options", "DENY")

    # ---- logging: never the query string, which holds the token ---------------------------------------------

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = urlsplit(self.path).path if hasattr(self, "path") else "?"
        log.debug("%s %s -> %s", getattr(self, "command", "?"), path, code)

    def log_error(self, format: str, *args: Any) -> None:
        log.info("review server: " + format, *args)


def _single_params(pairs: list[tuple[str, str]]) -> dict[str, str]:
    params: dict[str, str] = {}
    for key, value in pairs:
        if key in params:
            raise bad_request(f"query parameter {key!r} is given twice; give it once")
        params[key] = value
    return params


def _json_body(raw: bytes, content_type: str) -> dict[str, Any]:
    if raw and content_type.split(";")[0].strip().lower() != "application/json":
        raise ApiError(415, f"send the request body as application/json, not {content_type or 'no type'!r}")
    if not raw:
        return {}
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad_request(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise bad_request(f"the request body must be a JSON object, got {type(body).__name__}")
    return body


def _one_line(exc: Exception) -> str:
    """The driver's message on one line (psycopg2 spreads its hints over tab-indented lines)."""
    return " ".join(str(exc).split())


def _status_of(exc: MephistoError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, IllegalTransition):
        return 409
    return 400  # a provider refusal or a request the review actions refuse: the message says which


def _kind_of(exc: MephistoError) -> str:
    if isinstance(exc, NotFound):
        return "not_found"
    if isinstance(exc, IllegalTransition):
        return "conflict"
    if isinstance(exc, ProviderError):
        return "provider"
    return "refused"


def _finite(value: Any) -> Any:
    """`value` with every NaN or infinity replaced by its name as a string."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value).replace("inf", "Infinity").replace("nan", "NaN")
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _json_default(value: object) -> Any:
    if isinstance(value, datetime):
        # The database stores naive UTC; say so, so the page shows local time correctly.
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _attachment(name: str) -> str:
    fallback = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "._- ") else "_" for ch in name) or "file"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
