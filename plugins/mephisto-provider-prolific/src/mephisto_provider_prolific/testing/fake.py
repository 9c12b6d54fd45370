"""`FakeProlific`: the fake API server, its participant-side helpers and what tests inspect."""

from __future__ import annotations

import contextlib
import copy
import functools
import re
import socket
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from decimal import Decimal
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

from mephisto_provider_prolific.testing._account import add_project, add_workspace
from mephisto_provider_prolific.testing._faults import BonusRequestsAtOnce, Injection, RecordedRequest
from mephisto_provider_prolific.testing._http import COMPLETION_PATH, SESSION_COOKIE, FakeProlificHandler
from mephisto_provider_prolific.testing._store import (
    JSON,
    Clock,
    Store,
    StudyStatus,
    Submission,
    SubmissionStatus,
    User,
    new_id,
)
from mephisto_provider_prolific.testing._studies import places_taken, refresh_status, study_json
from mephisto_provider_prolific.testing._submissions import (
    ParticipantRefused,
    end_submission,
    start_submission,
    submission_json,
    sweep_time_outs,
)

DEFAULT_API_KEY = "fake-prolific-api-token"


@dataclass(frozen=True)
class Visit:
    """A participant who took a place in a study: `url` is the study URL they were sent to."""

    study_id: str
    participant_id: str
    submission_id: str  # Prolific's session id ({{%SESSION_ID%}})
    url: str

    @property
    def session_id(self) -> str:
        return self.submission_id

    @property
    def cookies(self) -> dict[str, str]:
        """The cookie that tells the fake's completion page who this participant is (like Prolific's login)."""
        return {SESSION_COOKIE: self.submission_id}


@dataclass(frozen=True)
class CompletionResult:
    """What the participant's browser got from the completion URL, and the submission after it."""

    status_code: int
    page: str
    submission: JSON


class FakeProlific:
    """A local Prolific API on 127.0.0.1 (port 0 by default) served from a background thread.

    Use as a context manager; point the real httpx client at `base_url` with the header
    `Authorization: Token <api_key>`. A default workspace ("My Workspace") and project ("Project") exist, as in a
    new Prolific account, with `balance_cents` to spend. Service fees on rewards and bonuses are `fee_rate` of
    the amount plus `vat_rate` of the fee (guessed rates). `pay_twice=True` makes a second pay of the same bulk
    bonus pay again, as Prolific documents; by default the fake refuses it with a 400.
    """

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        balance_cents: int = 1_000_000,
        fee_rate: Decimal = Decimal("0.3333"),
        vat_rate: Decimal = Decimal("0.2"),
        pay_twice: bool = False,
        page_size: int = 100,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.api_keys = {api_key}
        self.api_key = api_key
        self.clock = Clock()
        user = User(id=new_id(), email="researcher@example.com")
        self.store = Store(user, self.clock, fee_rate, vat_rate, pay_twice, page_size)
        workspace = add_workspace(self.store, "My Workspace", balance_cents=balance_cents)
        self.default_workspace_id = workspace.id
        self.default_project_id = add_project(self.store, workspace, "Project").id
        self.server_errors: list[str] = []
        self._requests: list[RecordedRequest] = []
        self._injections: list[Injection] = []
        self.latency = 0.0
        self._bonus_requests = BonusRequestsAtOnce()
        self._completions: list[tuple[str, str | None, str]] = []
        self._log_lock = threading.Lock()
        self._host, self._port = host, port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    # --- life cycle -----------------------------------------------------------------------------------------

    def open(self) -> FakeProlific:
        """Start serving (idempotent); `close` stops."""
        if self._server is None:
            handler = type("BoundFakeProlificHandler", (FakeProlificHandler,), {"fake": self})
            self._server = ThreadingHTTPServer((self._host, self._port), handler)
            self._server.daemon_threads = True
            # a short poll interval keeps close() (and so every test's teardown) quick
            serve = functools.partial(self._server.serve_forever, poll_interval=0.02)
            self._thread = threading.Thread(target=serve, name="fake-prolific", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, and end kept-alive connections too: a client sees Prolific gone, not a lingering server."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = None
        with self._log_lock:
            connections, self._connections = list(self._connections), set()
        for connection in connections:
            with contextlib.suppress(OSError):  # the client may have closed it already
                connection.shutdown(socket.SHUT_RDWR)

    def _connection_opened(self, connection: socket.socket) -> None:
        with self._log_lock:
            self._connections.add(connection)

    def _connection_closed(self, connection: socket.socket) -> None:
        with self._log_lock:
            self._connections.discard(connection)

    def __enter__(self) -> FakeProlific:
        return self.open()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @property
    def origin(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeProlific is not serving: use it as a context manager or call open()")
        port = self._server.server_address[1]
        return f"http://{self._host}:{port}"

    @property
    def base_url(self) -> str:
        """The API root, e.g. http://127.0.0.1:PORT/api/v1/ (Prolific's is https://api.prolific.com/api/v1/)."""
        return f"{self.origin}/api/v1/"

    @property
    def completion_url(self) -> str:
        """Where participants are sent when done (`?cc=CODE`), like https://app.prolific.com/submissions/complete."""
        return f"{self.origin}{COMPLETION_PATH}"

    @property
    def bonus_requests_at_once(self) -> int:
        """The most bonus requests (set up, pay) answered at the same moment so far (Prolific supports one)."""
        return self._bonus_requests.most

    @property
    def user_id(self) -> str:
        return self.store.user.id

    def approve_in_background(self, reads: int) -> None:
        """Bulk approvals from now on show (their submissions APPROVED) only after `reads` more reads of
        submissions (a listing page or one submission), as Prolific answers a bulk approval "in progress"; 0: at
        once (the default)."""
        if reads < 0:
            raise ValueError(f"reads must be 0 or more, got {reads}")
        with self.store.lock:
            self.store.approval_lag_reads = reads

    # --- failure injection ------------------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path_pattern: str | re.Pattern[str],
        status: int = 429,
        retry_after: float | None = 1,
        times: int = 1,
        *,
        drop: bool = False,
    ) -> None:
        """Answer the next `times` calls of `method` ("*" for any) whose path matches with `status`.

        `path_pattern` is a glob on the path under /api/v1/ (e.g. "studies/*/transition/"; `*` also crosses
        slashes) or a compiled regex searched in it. The answer has Prolific's error body and, unless
        retry_after is None, a `Retry-After` header in whole seconds (rounded up); `drop=True` closes the
        connection without any answer instead. The first matching injection is used; failed calls change nothing.
        """
        if times < 1:
            raise ValueError(f"times must be at least 1, got {times}")
        if not drop and not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error (400-599), got {status}")
        with self._log_lock:
            self._injections.append(Injection(method.upper(), path_pattern, status, retry_after, times, drop))

    def _take_injection(self, method: str, path: str) -> Injection | None:
        with self._log_lock:
            for injection in self._injections:
                if injection.matches(method, path):
                    injection.times -= 1
                    if injection.times == 0:
                        self._injections.remove(injection)
                    return injection
        return None

    def _note_completion(self, code: str, session: str | None, outcome: str) -> None:
        with self._log_lock:
            self._completions.append((code, session, outcome))

    def _record(self, record: RecordedRequest) -> None:
        with self._log_lock:
            self._requests.append(record)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every API call received so far, oldest first."""
        with self._log_lock:
            return list(self._requests)

    def requests_to(self, method: str, path_pattern: str | re.Pattern[str]) -> list[RecordedRequest]:
        """The calls of `method` ("*" for any) whose path matches the glob or regex."""
        probe = Injection(method.upper(), path_pattern, 0, None, 1, False)
        return [r for r in self.requests if probe.matches(r.method, r.path)]

    # --- the participant's side -------------------------------------------------------------------------------

    @staticmethod
    def new_participant_id() -> str:
        """A fresh participant id shaped like Prolific's."""
        return new_id()

    def start(self, study_id: str, participant_id: str) -> Visit:
        """The participant takes a place: an ACTIVE submission, and the study URL with PID, study and session.

        Raises `ParticipantRefused` when Prolific would not let them in (study not ACTIVE, full, not eligible
        through the participant-group allow / block lists, or already taken part).
        """
        with self.store.lock:
            sweep_time_outs(self.store)
            submission, url = start_submission(self.store, study_id, participant_id)
        return Visit(study_id, participant_id, submission.id, url)

    def complete(self, visit: Visit, code: str) -> CompletionResult:
        """The participant's browser opens `completion_url?cc=CODE` (a real HTTP GET carrying their cookie)."""
        request = urllib.request.Request(
            f"{self.completion_url}?{urlencode({'cc': code})}",
            headers={"Cookie": f"{SESSION_COOKIE}={visit.submission_id}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                status, page = answer.status, answer.read().decode()
        except urllib.error.HTTPError as refused:
            status, page = refused.code, refused.read().decode()
        return CompletionResult(status, page, self.submission(visit.submission_id))

    def browser_cookies(self, visit: Visit) -> list[dict[str, str]]:
        """The participant's cookie for a browser (Playwright's `context.add_cookies`), so a redirect to
        `completion_url` from their page is known to be theirs."""
        return [{"name": SESSION_COOKIE, "value": visit.submission_id, "url": self.origin}]

    def add_approved_submissions(self, study_id: str, count: int) -> list[str]:
        """`count` new participants take a place each and are approved at once: a study's past, for a test or a
        benchmark of a large study (much quicker than `start` and `complete` one by one). Their submission ids."""
        with self.store.lock:
            study = self.store.study(study_id)
            free = int(study.data["total_available_places"]) - places_taken(self.store, study)
            if study.status != StudyStatus.ACTIVE or count > free:
                raise ParticipantRefused(f"study {study_id} is {study.status} with {free} free places, not {count}")
            now = self.clock.now()
            added = [
                Submission(new_id(), study_id, new_id(), now, SubmissionStatus.APPROVED, now) for _ in range(count)
            ]
            self.store.submissions.update((submission.id, submission) for submission in added)
            refresh_status(self.store, study)
        return [submission.id for submission in added]

    def return_submission(self, visit: Visit) -> JSON:
        """The participant returns the study (RETURNED): they will not be paid and the place is free again."""
        with self.store.lock:
            end_submission(self.store, self.store.submission(visit.submission_id), SubmissionStatus.RETURNED)
        return self.submission(visit.submission_id)

    def time_out(self, visit: Visit) -> JSON:
        """The participant's time runs out now (TIMED-OUT); `advance` past maximum_allowed_time does the same."""
        with self.store.lock:
            end_submission(self.store, self.store.submission(visit.submission_id), SubmissionStatus.TIMED_OUT)
        return self.submission(visit.submission_id)

    def advance(self, seconds: float) -> None:
        """Move the fake's clock forward; ACTIVE submissions past their study's maximum_allowed_time time out."""
        self.clock.advance(seconds)
        with self.store.lock:
            sweep_time_outs(self.store)

    # --- inspection and set-up --------------------------------------------------------------------------------

    def study(self, study_id: str) -> JSON:
        with self.store.lock:
            return study_json(self.store, self.store.study(study_id))

    def studies(self) -> list[JSON]:
        with self.store.lock:
            return [study_json(self.store, s) for s in self.store.studies.values()]

    def submission(self, submission_id: str) -> JSON:
        with self.store.lock:
            return submission_json(self.store, self.store.submission(submission_id))

    def submissions(self, study_id: str | None = None) -> list[JSON]:
        with self.store.lock:
            return [
                submission_json(self.store, s)
                for s in self.store.submissions.values()
                if study_id is None or s.study_id == study_id
            ]

    def bulk_bonuses(self) -> list[JSON]:
        """Every bulk bonus set up, with `times_paid` (0: set up but never paid)."""
        with self.store.lock:
            return [dict(b.to_json(), times_paid=b.times_paid) for b in self.store.bonuses.values()]

    def bonuses_paid(self) -> list[JSON]:
        """One entry per bonus actually paid to a participant (a bulk bonus paid twice appears twice)."""
        with self.store.lock:
            return [
                {"study_id": b.study_id, "participant_id": pid, "submission_id": sid, "amount": cents}
                for b in self.store.bonuses.values()
                for _ in range(b.times_paid)
                for pid, sid, cents in b.rows
            ]

    def messages(self) -> list[JSON]:
        with self.store.lock:
            return [m.to_json() for m in self.store.messages]

    def participant_groups(self, *, include_deleted: bool = False) -> list[JSON]:
        with self.store.lock:
            return [g.to_json() for g in self.store.groups.values() if include_deleted or not g.is_deleted]

    def group_members(self, group_id: str) -> list[str]:
        with self.store.lock:
            return list(self.store.group(group_id).members)

    def completions(self) -> list[tuple[str, str | None, str]]:
        """Each arrival at the completion URL: (code, submission id or None, resulting status or refusal)."""
        with self._log_lock:
            return list(self._completions)

    def balance_cents(self, workspace_id: str | None = None) -> int:
        with self.store.lock:
            return self.store.workspace(workspace_id or self.default_workspace_id).balance_cents

    def set_latency(self, seconds: float) -> None:
        """Make every API call wait `seconds` before it is answered (0 to stop), as a platform across the internet
        answers in tenths of a second."""
        if seconds < 0:
            raise ValueError(f"latency cannot be negative: {seconds}")
        self.latency = seconds

    def set_balance(self, cents: int, workspace_id: str | None = None) -> None:
        with self.store.lock:
            self.store.workspace(workspace_id or self.default_workspace_id).balance_cents = cents

    def snapshot(self) -> dict[str, Any]:
        """A deep copy of everything, for a test's failure message."""
        return copy.deepcopy(
            {
                "studies": self.studies(),
                "submissions": self.submissions(),
                "bulk_bonuses": self.bulk_bonuses(),
                "messages": self.messages(),
                "groups": self.participant_groups(include_deleted=True),
            }
        )
