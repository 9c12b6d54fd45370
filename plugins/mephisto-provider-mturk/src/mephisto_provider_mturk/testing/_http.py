"""The HTTP side: the AWS JSON 1.1 requester endpoint (POST /) and MTurk's externalSubmit."""

from __future__ import annotations

import json
import time
import uuid
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ._auth import authenticate
from ._control import CONTROL_PREFIX, run_control
from ._errors import MTurkFault, service_fault, throttled
from ._model import TARGET_PREFIX, operation_model, validate_input, validate_output
from ._operations import Call, handler_for
from ._records import RequestRecord
from ._worker_side import HTML_QUESTION_PATH, WorkerActionRefused, html_question_page, submit

JSON_TYPE = "application/x-amz-json-1.1"
SUBMIT_PATH = "/mturk/externalSubmit"


class FakeMTurkServer(ThreadingHTTPServer):
    """A threaded HTTP server holding the fake's state for its handlers."""

    daemon_threads = True
    # Tests start and stop many servers; a port in TIME_WAIT must not block the next one.
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], owner: Any) -> None:
        super().__init__(address, _Handler)
        self.owner = owner  # the FakeMTurk: state, faults, options, base_url


class _Handler(BaseHTTPRequestHandler):
    server: FakeMTurkServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without this, Nagle's algorithm and the
    # client's delayed ACK add ~40 ms to every keep-alive request.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests read the request log instead of stderr."""

    # -- plumbing ---------------------------------------------------------------------------

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _drop(self) -> None:
        """Close the connection without an answer, as a lost response looks to the client."""
        self.close_connection = True
        self.wfile.flush()
        self.connection.shutdown(2)

    # -- routes -----------------------------------------------------------------------------

    def do_POST(self) -> None:
        """The requester API (POST /) or a worker's form post (POST /mturk/externalSubmit)."""
        body = self._body()
        path = urlsplit(self.path).path
        if path == SUBMIT_PATH:
            content_type = self.headers.get("Content-Type", "")
            if not content_type.startswith("application/x-www-form-urlencoded"):
                self._submit_page(400, "externalSubmit takes a form-encoded body.")
                return
            self._external_submit(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        elif path == "/":
            self._api(body)
        elif path.startswith(CONTROL_PREFIX):
            self._control(path, body)
        else:
            self._send(404, b"Not Found", "text/plain")

    def do_GET(self) -> None:
        """MTurk also takes externalSubmit as a GET with the fields in the query string."""
        parts = urlsplit(self.path)
        if parts.path == SUBMIT_PATH:
            self._external_submit(parse_qsl(parts.query, keep_blank_values=True))
        elif parts.path.startswith(CONTROL_PREFIX):
            self._control(parts.path, b"")
        elif parts.path.startswith(HTML_QUESTION_PATH):
            with self.server.owner.state.lock:
                html = html_question_page(self.server.owner.state, parts.path.removeprefix(HTML_QUESTION_PATH))
            if html is None:
                self._send(404, b"No such HIT", "text/plain")
            else:
                self._send(200, html.encode(), "text/html; charset=utf-8")
        else:
            self._send(404, b"Not Found", "text/plain")

    # -- the requester API ------------------------------------------------------------------

    def _api(self, body: bytes) -> None:
        fake = self.server.owner
        target = self.headers.get("X-Amz-Target", "")
        name = target.removeprefix(TARGET_PREFIX + ".")
        record = RequestRecord(operation=name, params={}, access_key_id=None, time=fake.clock.now())
        try:
            result = self._dispatch(fake, target, name, body, record)
        except MTurkFault as fault:
            record.error = fault.error_type
            with fake.state.lock:
                fake.state.requests.append(record)
            self._send(fault.status, json.dumps(fault.body()).encode(), JSON_TYPE)
            return
        except _Dropped:
            return
        except Exception as bug:  # a bug in the fake: answer 500 and keep it for the test to see
            record.error = "InternalFailure"
            with fake.state.lock:
                fake.state.requests.append(record)
                fake.internal_errors.append(f"{name}: {bug!r}")
            failure = {"__type": "InternalFailure", "message": f"fake MTurk failed: {bug!r}"}
            self._send(500, json.dumps(failure).encode(), JSON_TYPE)
            return
        with fake.state.lock:
            fake.state.requests.append(record)
        self._send(200, json.dumps(result).encode(), JSON_TYPE)

    def _dispatch(self, fake: Any, target: str, name: str, body: bytes, record: RequestRecord) -> dict[str, Any]:
        if not target.startswith(TARGET_PREFIX + "."):
            raise MTurkFault(f"Unknown target {target!r}", error_type="UnknownOperationException")
        host = self.headers.get("Host", "")
        with fake.state.lock:
            accounts = dict(fake.state.accounts)
        headers = {key.lower(): value for key, value in self.headers.items()}
        record.access_key_id = authenticate(accounts, "POST", f"http://{host}{self.path}", headers, body)
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            raise MTurkFault("The request body is not valid JSON.", error_type="SerializationException") from None
        record.params = params if isinstance(params, dict) else {}
        model = operation_model(name)
        handler = handler_for(name)
        if handler is None:
            raise MTurkFault(f"The fake MTurk does not implement {name}.", error_type="UnknownOperationException")
        if fake.rate_limiter is not None and not fake.rate_limiter.allow(record.access_key_id):
            raise throttled()
        token = record.params.get("UniqueRequestToken")
        fault = fake.faults.take(name, token if isinstance(token, str) else None)
        kind = fault.kind if fault is not None else None
        delay = fake.latency + (fault.delay if fault is not None else 0.0)
        if delay:
            time.sleep(delay)  # outside the state lock: a slow call holds up no other caller
        if kind == "throttle":
            raise throttled()
        if kind == "service":
            raise service_fault()
        if kind == "drop":
            record.error = "ConnectionDropped"
            with fake.state.lock:
                fake.state.requests.append(record)
            self._drop()
            raise _Dropped
        validate_input(model, params)
        with fake.state.lock:
            now = fake.state.tick()
            call = Call(fake.state, record.access_key_id, params, now, fake.require_https)
            result = handler(call)
            validate_output(model, result)
        if kind == "drop_after":
            record.error = "AnswerDropped"  # the call took effect; only its answer is lost
            with fake.state.lock:
                fake.state.requests.append(record)
            self._drop()
            raise _Dropped
        return result

    def _control(self, path: str, body: bytes) -> None:
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            params = None
        if not isinstance(params, dict):
            status, answer = 400, {"error": "control requests take a JSON object"}
        else:
            status, answer = run_control(self.server.owner, path, params)
        self._send(status, json.dumps(answer).encode(), "application/json")

    # -- the worker's submit ----------------------------------------------------------------

    def _external_submit(self, fields: list[tuple[str, str]]) -> None:
        fake = self.server.owner
        ids = [value for key, value in fields if key == "assignmentId"]
        if not ids or not ids[0] or ids[0] == "ASSIGNMENT_ID_NOT_AVAILABLE":
            self._submit_page(400, "There is no assignmentId: accept the HIT before submitting.")
            return
        answers = [(key, value) for key, value in fields if key != "assignmentId"]
        try:
            with fake.state.lock:
                submit(fake.state, ids[0], answers)
        except WorkerActionRefused as refused:
            self._submit_page(400, f"Your work could not be submitted: {refused}.")
            return
        self._submit_page(200, "Your work has been submitted. Thank you!")

    def _submit_page(self, status: int, message: str) -> None:
        page = (
            "<!doctype html><html><head><title>Amazon Mechanical Turk (fake)</title></head>"
            f'<body><p id="mturk-submit-result">{escape(message)}</p></body></html>'
        )
        self._send(status, page.encode(), "text/html; charset=utf-8")


class _Dropped(Exception):
    """The connection was closed on purpose; nothing more to send."""
