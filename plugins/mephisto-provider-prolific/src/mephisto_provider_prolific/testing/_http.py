"""The HTTP face of the fake: a request handler for the API under /api/v1/ and the completion page."""

from __future__ import annotations

import json
import logging
import socket
import time
import traceback
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from mephisto_provider_prolific.testing._faults import RecordedRequest, retry_after_header
from mephisto_provider_prolific.testing._request import ApiRequest, ApiResponse
from mephisto_provider_prolific.testing._routes import resolve
from mephisto_provider_prolific.testing._store import ApiError
from mephisto_provider_prolific.testing._submissions import (
    ParticipantRefused,
    complete_submission,
    find_completing_submission,
    sweep_time_outs,
)

if TYPE_CHECKING:
    from mephisto_provider_prolific.testing.fake import FakeProlific

API_PREFIX = "/api/v1/"
COMPLETION_PATH = "/submissions/complete"
SESSION_COOKIE = "prolific_session"
log = logging.getLogger(__name__)


class FakeProlificHandler(BaseHTTPRequestHandler):
    """Serves one connection; `fake` is set on a per-server subclass."""

    protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects of an API
    fake: FakeProlific

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: without NODELAY, Nagle + delayed ACK cost ~40 ms a call
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.fake._connection_opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.fake._connection_closed(self.connection)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("fake prolific: " + format, *args)

    def _handle(self) -> None:
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        raw = self._read_body()
        if raw is None:
            return
        if url.path == COMPLETION_PATH or url.path == COMPLETION_PATH + "/":
            self._complete(query)
        elif url.path.startswith(API_PREFIX):
            self._api(url.path[len(API_PREFIX) :], query, raw)
        else:
            self._send(404, ApiError(404, f"Nothing at {url.path}; the API lives under {API_PREFIX}.").body())

    def _read_body(self) -> bytes | None:
        """The request body by its Content-Length; None (after answering 411 / 400) when it cannot be read."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True  # the unread chunks would corrupt the next request on this connection
            self._send(411, ApiError(411, "Send the body with a Content-Length, not chunked.").body())
            return None
        declared = self.headers.get("Content-Length") or "0"
        if not declared.isdigit():
            self.close_connection = True
            self._send(400, ApiError(400, f"Invalid Content-Length {declared!r}.").body())
            return None
        length = int(declared)
        return self.rfile.read(length) if length else b""

    def _api(self, path: str, query: dict[str, str], raw: bytes) -> None:
        try:
            body: Any = json.loads(raw) if raw.strip() else None
            bad_json = None
        except ValueError as error:
            body, bad_json = raw.decode("utf-8", "replace"), str(error)
        record = RecordedRequest(self.command, path, query, body, self.headers.get("Authorization"))
        fake = self.fake
        with fake._bonus_requests.counted(self.command, path):
            if fake.latency:
                time.sleep(fake.latency)
            self._answer(record, path, query, body, bad_json)

    def _answer(
        self, record: RecordedRequest, path: str, query: dict[str, str], body: Any, bad_json: str | None
    ) -> None:
        fake = self.fake
        fake._record(record)
        injection = fake._take_injection(self.command, path)
        if injection is not None:
            record.injected = True
            if injection.drop:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            headers = {}
            if injection.retry_after is not None:
                headers["Retry-After"] = retry_after_header(injection.retry_after)
            detail = "Request was throttled." if injection.status == 429 else "Injected failure."
            record.status = injection.status
            self._send(injection.status, ApiError(injection.status, detail).body(), headers)
            return
        response = self._dispatch(path, query, body, bad_json)
        record.status = response.status
        self._send(response.status, response.body, response.headers)

    def _dispatch(self, path: str, query: dict[str, str], body: Any, bad_json: str | None) -> ApiResponse:
        fake = self.fake
        try:
            if self.headers.get("Authorization") not in {f"Token {key}" for key in fake.api_keys}:
                raise ApiError(401, "Invalid token. Send the header 'Authorization: Token <your API token>'.")
            if bad_json is not None:
                raise ApiError(400, f"JSON parse error - {bad_json}")
            handler, params = resolve(self.command, path)
            request = ApiRequest(self.command, path, params, query, body, fake.base_url)
            with fake.store.lock:
                sweep_time_outs(fake.store)
                return handler(fake.store, request)
        except ApiError as error:
            return ApiResponse(error.status, error.body(), error.headers)
        except Exception as error:  # a bug in the fake: answer 500 and keep it for the test to see
            fake.server_errors.append(traceback.format_exc())
            return ApiResponse(500, ApiError(500, f"Fake Prolific failed: {error!r}").body())

    def _complete(self, query: dict[str, str]) -> None:
        """The participant's browser arrives at Prolific's completion URL with `?cc=CODE`."""
        code = query.get("cc", "")
        cookie = SimpleCookie(self.headers.get("Cookie") or "")
        session = query.get("session_id") or (cookie[SESSION_COOKIE].value if SESSION_COOKIE in cookie else None)
        store = self.fake.store
        try:
            if not code:
                raise ParticipantRefused("the completion URL needs ?cc=<completion code>")
            with store.lock:
                submission = find_completing_submission(store, code, session)
                complete_submission(store, submission, code)
                status = submission.status
        except ParticipantRefused as refusal:
            self.fake._note_completion(code, session, f"refused: {refusal}")
            self._send_html(400, f"<h1>This completion code was not accepted</h1><p>{_escape(str(refusal))}</p>")
            return
        except ApiError as error:
            self._send_html(error.status, f"<h1>Not found</h1><p>{_escape(str(error.detail))}</p>")
            return
        self.fake._note_completion(code, submission.id, status)
        self._send_html(200, f"<h1>Submission completed</h1><p id='status'>{_escape(status)}</p>")

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        payload = b"" if body is None or status == 204 else json.dumps(body).encode()
        self.send_response(status)
        if payload:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _send_html(self, status: int, html: str) -> None:
        payload = f"<!doctype html><html><body>{html}</body></html>".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
