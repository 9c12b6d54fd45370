"""`FakeMTurk`: a local Amazon Mechanical Turk requester endpoint for the real boto3 client."""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass
from decimal import Decimal
from types import TracebackType

from ._faults import Fault, FaultPlan, RateLimiter
from ._http import FakeMTurkServer
from ._questions import parse_answers
from ._records import (
    HIT,
    Account,
    Assignment,
    AssignmentState,
    Bonus,
    HITType,
    Notification,
    QualificationType,
    RequestRecord,
    Score,
    Worker,
)
from ._state import Clock, FakeState
from ._worker_side import Visit, WorkerActionRefused, accept, end_assignment, preview_url, submit

DEFAULT_ACCESS_KEY_ID = "AKIAFAKEMTURK0000000"
DEFAULT_SECRET_ACCESS_KEY = "fake-mturk-secret-key"


@dataclass(frozen=True)
class Snapshot:
    """A deep copy of the fake's state at one moment, for tests to assert on."""

    now: float
    balances: dict[str, Decimal]
    hit_types: dict[str, HITType]
    hits: dict[str, HIT]
    hit_statuses: dict[str, str]
    assignments: dict[str, Assignment]
    qualification_types: dict[str, QualificationType]
    scores: dict[tuple[str, str], Score]
    blocks: dict[tuple[str, str], str]
    bonuses: list[Bonus]
    notifications: list[Notification]
    requests: list[RequestRecord]


class FakeMTurk:
    """An MTurk requester service on 127.0.0.1 speaking AWS JSON 1.1, with the workers' side.

    Use it as a context manager; it starts with one account (`DEFAULT_ACCESS_KEY_ID`, $10,000)::

        with FakeMTurk() as fake:
            client = boto3.client("mturk", **fake.client_kwargs())
            hit = client.create_hit(...)["HIT"]
            visit = fake.accept(hit["HITId"], "A1WORKER")   # visit.url opens the task page

    Time is the wall clock plus whatever `advance` added, so lifetimes, assignment durations and
    auto-approval happen without sleeping. `require_https=True` refuses http ExternalURLs as
    MTurk does (off by default so tests can serve task pages on http://127.0.0.1).
    `rate_limit` (requests per second per access key) throttles callers that go faster.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        balance: Decimal | str = Decimal("10000.00"),
        require_https: bool = False,
        rate_limit: float | None = None,
    ) -> None:
        self.clock = Clock()
        self.state = FakeState(self.clock)
        self.require_https = require_https
        self.faults = FaultPlan()
        self.rate_limiter = RateLimiter(rate_limit) if rate_limit is not None else None
        self.latency = 0.0
        """Seconds every requester call waits before it runs (a slow platform)."""
        self.internal_errors: list[str] = []
        """Exceptions the fake raised while answering (its own bugs); tests may assert it stays empty."""
        self._host, self._port = host, port
        self._server: FakeMTurkServer | None = None
        self._thread: threading.Thread | None = None
        self.add_account(DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, balance)

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> FakeMTurk:
        """Listen and serve in a background thread (idempotent)."""
        if self._server is None:
            self._server = FakeMTurkServer((self._host, self._port), self)
            # A short poll interval lets stop() return quickly (tests start many fakes).
            self._thread = threading.Thread(
                target=self._server.serve_forever, args=(0.05,), name="fake-mturk", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeMTurk:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        """The base URL to give boto3 as `endpoint_url` (also MTurk's `turkSubmitTo`)."""
        if self._server is None:
            raise RuntimeError("FakeMTurk is not started; use it as a context manager or call start()")
        host, port = self._server.socket.getsockname()[:2]
        return f"http://{host}:{port}"

    base_url = endpoint_url

    @property
    def submit_url(self) -> str:
        """Where task pages post their answers: `<turkSubmitTo>/mturk/externalSubmit`."""
        return f"{self.endpoint_url}/mturk/externalSubmit"

    def client_kwargs(
        self, access_key_id: str = DEFAULT_ACCESS_KEY_ID, secret_access_key: str | None = None
    ) -> dict[str, str]:
        """Keyword arguments for `boto3.client("mturk", ...)` reaching this fake as one account."""
        with self.state.lock:
            account = self.state.accounts.get(access_key_id)
        secret = secret_access_key or (account.secret_access_key if account else "")
        return {
            "endpoint_url": self.endpoint_url,
            "region_name": "us-east-1",
            "aws_access_key_id": access_key_id,
            "aws_secret_access_key": secret,
        }

    # -- requester accounts, clock and failures ---------------------------------------------

    def add_account(
        self, access_key_id: str, secret_access_key: str, balance: Decimal | str = Decimal("10000.00")
    ) -> None:
        """Register (or reset) a requester account the fake accepts signatures from."""
        with self.state.lock:
            self.state.accounts[access_key_id] = Account(access_key_id, secret_access_key, Decimal(balance))

    def set_balance(self, balance: Decimal | str, access_key_id: str = DEFAULT_ACCESS_KEY_ID) -> None:
        """Set an account's prepaid balance."""
        with self.state.lock:
            self.state.accounts[access_key_id].balance = Decimal(balance)

    def balance(self, access_key_id: str = DEFAULT_ACCESS_KEY_ID) -> Decimal:
        """An account's prepaid balance after everything due by now (auto-approvals) is paid."""
        with self.state.lock:
            self.state.tick()
            return self.state.accounts[access_key_id].balance

    def advance(self, seconds: float) -> None:
        """Move the fake's clock forward: expiries, abandonment and auto-approval follow."""
        self.clock.advance(seconds)
        with self.state.lock:
            self.state.tick()

    def now(self) -> float:
        """The fake's current time in epoch seconds."""
        return self.clock.now()

    def fail_next(
        self, operation: str, times: int = 1, kind: str = "throttle", delay: float = 1.0, calls: str = "any"
    ) -> None:
        """Make the next `times` calls of `operation` fail.

        kind: "throttle" (400 ThrottlingException), "service" (500 ServiceFault), "drop" (the
        connection closes before the call runs), "drop_after" (the call runs, then the connection
        closes before the answer: the client cannot tell it worked) or "slow" (the call runs after
        `delay` seconds, for testing a client's timeouts).
        calls: "any" call, only a UniqueRequestToken's "first" call, or only "repeats" of a token
        already sent (a client's retries), so concurrent first calls and retries cannot take each
        other's faults.
        """
        from ._operations import implemented_operations

        if operation not in implemented_operations():
            raise ValueError(f"the fake MTurk does not implement {operation!r}")
        self.faults.add(operation, Fault(kind, delay if kind == "slow" else 0.0, calls), times)

    def set_latency(self, seconds: float) -> None:
        """Make every requester call wait `seconds` before it runs (0 to stop)."""
        if seconds < 0:
            raise ValueError(f"latency cannot be negative: {seconds}")
        self.latency = seconds

    def set_rate_limit(self, per_second: float | None) -> None:
        """Throttle callers going faster than `per_second` requests per second per access key (None: never)."""
        self.rate_limiter = RateLimiter(per_second) if per_second is not None else None

    # -- the workers' side ------------------------------------------------------------------

    def set_worker(
        self,
        worker_id: str,
        *,
        locale: dict[str, str] | str | None = None,
        approved_count: int | None = None,
        approval_rate: int | None = None,
        adult: bool | None = None,
        masters: bool | None = None,
    ) -> None:
        """Set what MTurk's system qualifications say about a worker (defaults: US, 1000, 100%)."""
        with self.state.lock:
            worker: Worker = self.state.worker(worker_id)
            if locale is not None:
                worker.locale = {"Country": locale} if isinstance(locale, str) else dict(locale)
            if approved_count is not None:
                worker.approved_count = approved_count
            if approval_rate is not None:
                worker.approval_rate = approval_rate
            if adult is not None:
                worker.adult = adult
            if masters is not None:
                worker.masters = masters

    def accept(self, hit_id: str, worker_id: str) -> Visit:
        """The worker accepts the HIT; raises WorkerActionRefused when MTurk would not let them."""
        with self.state.lock:
            return accept(self.state, hit_id, worker_id, self.endpoint_url)

    def preview_url(self, hit_id: str) -> str:
        """The ExternalURL as a previewing worker opens it (assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE)."""
        with self.state.lock:
            return preview_url(self.state, hit_id, self.endpoint_url)

    def return_assignment(self, assignment_id: str) -> None:
        """The worker returns the accepted assignment; the HIT gets the slot back."""
        with self.state.lock:
            end_assignment(self.state, assignment_id, AssignmentState.RETURNED)

    def abandon(self, assignment_id: str) -> None:
        """The worker walks away; same as letting the assignment's duration run out."""
        with self.state.lock:
            end_assignment(self.state, assignment_id, AssignmentState.ABANDONED)

    def submit(self, assignment_id: str, answers: dict[str, str] | list[tuple[str, str]]) -> None:
        """Submit answers without a browser, as a post to externalSubmit would."""
        fields = list(answers.items()) if isinstance(answers, dict) else list(answers)
        with self.state.lock:
            submit(self.state, assignment_id, fields)

    # -- inspection -------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """A consistent deep copy of everything, after applying what time has done."""
        with self.state.lock:
            now = self.state.tick()
            state = self.state
            return Snapshot(
                now=now,
                balances={key: account.balance for key, account in state.accounts.items()},
                hit_types=copy.deepcopy(state.hit_types),
                hits=copy.deepcopy(state.hits),
                hit_statuses={hit_id: state.hit_status(hit, now) for hit_id, hit in state.hits.items()},
                assignments=copy.deepcopy(state.assignments),
                qualification_types=copy.deepcopy(state.qualification_types),
                scores=copy.deepcopy(state.scores),
                blocks=dict(state.blocks),
                bonuses=copy.deepcopy(state.bonuses),
                notifications=copy.deepcopy(state.notifications),
                requests=copy.deepcopy(state.requests),
            )

    def requests(self, operation: str | None = None) -> list[RequestRecord]:
        """The calls received so far (optionally of one operation), oldest first."""
        with self.state.lock:
            records = [r for r in self.state.requests if operation is None or r.operation == operation]
            return copy.deepcopy(records)

    def hit_status(self, hit_id: str) -> str:
        """The HIT's current status as GetHIT would report it."""
        with self.state.lock:
            now = self.state.tick()
            return self.state.hit_status(self.state.hits[hit_id], now)

    def answers(self, assignment_id: str) -> list[tuple[str, str]]:
        """The (field, value) pairs a submitted assignment's Answer XML holds."""
        with self.state.lock:
            answer = self.state.assignments[assignment_id].answer
        if answer is None:
            raise WorkerActionRefused(f"assignment {assignment_id} has no answer yet")
        return parse_answers(answer)

    def assignment(self, assignment_id: str) -> Assignment:
        """A copy of one assignment, whatever its state (accepted ones included)."""
        with self.state.lock:
            self.state.tick()
            return copy.deepcopy(self.state.assignments[assignment_id])

    def is_blocked(self, worker_id: str, access_key_id: str = DEFAULT_ACCESS_KEY_ID) -> bool:
        """Whether the account has blocked the worker."""
        with self.state.lock:
            return (access_key_id, worker_id) in self.state.blocks

    def qualification_score(self, type_id: str, worker_id: str) -> int | None:
        """The worker's granted score for the type, or None (never granted or revoked)."""
        with self.state.lock:
            score = self.state.scores.get((type_id, worker_id))
            return score.value if score is not None and score.status == "Granted" else None
