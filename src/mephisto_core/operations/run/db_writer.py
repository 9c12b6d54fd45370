"""The one thread that touches the database for the operator, with group commit.

The event loop never blocks on the database: it hands a function to `DatabaseWriter.call` and awaits the result.
The writer thread runs queued functions back to back inside one transaction (each in its own savepoint, so one
failing job does not undo the others) and commits once for the whole batch. Results are released only after that
commit, which is what lets the operator acknowledge a submission only once it is durable.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sys
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import peewee as pw

from mephisto_core.data_model import Database
from mephisto_core.errors import DatabaseError
from mephisto_core.operations.run import metrics_hooks
from mephisto_core.operations.run.wal_checkpointer import WalCheckpointer

T = TypeVar("T")
log = logging.getLogger(__name__)

_STOP = object()
#: turns driver errors into peewee's (what execute_sql raises); a module name, out of reach of name mangling
_driver_errors = pw.__exception_wrapper__
# While the database keeps failing (a lock past the busy timeout, a full disk), every batch fails the same way:
# one log line this often says so, the callers report their own failures.
FAILURE_LOG_EVERY_SECONDS = 10.0
#: On PostgreSQL the writer thread gives up the GIL for every round trip (two per unit) and, when the answer is
#: there, waits for the event loop's thread to hand it back: up to the interpreter's switch interval (5 ms by
#: default) each time, while the database server idles. A shorter interval (process-wide, lowered only) cut that
#: wait: ~10-20 % more units/s at 100 workers on PostgreSQL, the operator's CPU per unit unchanged.
POSTGRES_SWITCH_INTERVAL_S = 0.0005
#: Group commit at moderate load. When jobs trickle in (a thousand workers thinking a second per unit), each batch
#: would hold one or two jobs and every commit writes its pages anew (SQLite's WAL frames of the unit's and the
#: agent's table and index pages; PostgreSQL's round trip). When the recent arrival rate says another job is due
#: within this long, the writer waits this long before taking the batch: 1,000 workers at 1 s think time, -20-25 %
#: of the server's CPU per unit for ~2 ms more latency. A lone worker (low rate) never waits, nor a busy writer
#: (its queue is not empty).
LINGER_S = 0.002
#: weight of the newest batch in the arrival-rate estimate
_RATE_WEIGHT = 0.2


#: what `DatabaseWriter.call_then` calls on the event loop once the job's batch committed: (succeeded, result or
#: the exception)
Done = Callable[[bool, Any], None]


class JobGroup(Protocol):
    """Jobs of one kind that the writer may run together: a few set-based statements for all instead of a few
    each (on PostgreSQL each statement is a round trip; on SQLite each costs its own work and savepoints).

    A batch's jobs of a group run together before its other jobs, in a savepoint of their own.
    """

    #: Every statement `run_together` sends leaves the database consistent on its own (reads, rows that are found
    #: or created, then one statement that does the jobs' work). On PostgreSQL a batch's jobs of this group then
    #: run outside a transaction, before its other jobs: each statement commits as it completes, so they take one
    #: round trip instead of two (their statement, then COMMIT), and their answers go out as soon as the statement
    #: is done, not after the other jobs' statements and commit.
    commits_per_statement: bool
    #: A batch's only job of this group runs together too, not the usual way: its usual way takes several more
    #: round trips than its statements together (on PostgreSQL an onboarding submission's seven against one).
    alone_together: bool

    def run_one(self, *args: Any) -> Any:
        """One job the usual way: in its own savepoint, in the batch's order."""

    def run_together(self, jobs: Sequence[tuple[Any, ...]]) -> list[tuple[Any] | None]:
        """Run as many of `jobs` (each one's args) as can be done together; per job, `(result,)` when done or
        None for a job to run the usual way afterwards (`run_one`).

        All or nothing: when it raises, every statement it sent is undone and each job runs the usual way, so it
        must change nothing outside the database before its last statement succeeded. (A group that
        `commits_per_statement` keeps what its earlier statements did: it raises `PartlyDone` with the answers of
        the jobs they did, and the others run the usual way.)
        """


class PartlyDone(Exception):
    """Raised by `run_together` of a group that `commits_per_statement`, on PostgreSQL, when a statement failed
    after earlier ones had committed: `results` (as `run_together` returns them) holds the answers of the jobs
    those statements did, which are delivered; the other jobs run the usual way. `cause`: the failure."""

    def __init__(self, results: list[tuple[Any] | None], cause: Exception) -> None:
        super().__init__(str(cause))
        self.results = results
        self.cause = cause


@dataclass(slots=True)
class _Job:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    future: asyncio.Future[Any] | Done  # an awaiting caller's future, or a callback
    loop: asyncio.AbstractEventLoop
    group: JobGroup | None = None


_Outcome = tuple[asyncio.Future[Any] | Done, bool, Any]  # (future or callback, succeeded, result or exception)


class DatabaseWriter:
    """Runs database work on one thread, batching up to `max_batch` jobs per commit."""

    def __init__(self, database: Database, max_batch: int = 256) -> None:
        self.database = database
        self.max_batch = max_batch
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="mephisto-db-writer", daemon=True)
        self.batches = 0
        self.jobs_done = 0
        self._failures_unlogged = 0
        self._failure_logged_at = -FAILURE_LOG_EVERY_SECONDS
        self._arrivals = ArrivalRate()
        #: SQLite: copies the log into the database off this thread (the writer's commits do not checkpoint)
        self.checkpointer = WalCheckpointer(database) if database.is_sqlite else None

    def start(self) -> None:
        if not self.database.is_sqlite and sys.getswitchinterval() > POSTGRES_SWITCH_INTERVAL_S:
            sys.setswitchinterval(POSTGRES_SWITCH_INTERVAL_S)
        if self.checkpointer is not None:
            self.checkpointer.start()
        self._thread.start()

    def stop(self) -> None:
        """Finish queued jobs, then stop the thread (and the checkpointer)."""
        if self._thread.is_alive():
            self._jobs.put(_STOP)
            self._thread.join()
        if self.checkpointer is not None:
            self.checkpointer.stop()

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on the writer thread and return its result once committed.

        A caller cancelled before its job started never runs it; once started, the job runs to its commit.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put(_Job(fn, args, future, loop))
        return await future

    def call_then(self, fn: Callable[..., Any], args: tuple[Any, ...], done: Done) -> None:
        """Run `fn(*args)` on the writer thread; once committed, `done(succeeded, result or exception)` runs on
        the calling event loop, with the other results of its batch.

        The hot path's way (a worker's hello and submit): no task and no future per request. The job always runs;
        an exception `done` raises is logged.
        """
        self._jobs.put(_Job(fn, args, done, asyncio.get_running_loop()))

    def call_grouped_then(
        self, group: JobGroup, args: tuple[Any, ...], done: Done, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        """`call_then(group.run_one, args, done)`, which the writer may run with the batch's other jobs of `group`
        (`JobGroup.run_together`). `loop`: the running loop, when the caller has it at hand (asking asyncio for it
        costs a system call)."""
        self._jobs.put(_Job(group.run_one, args, done, loop or asyncio.get_running_loop(), group))

    def _run(self) -> None:
        if self.checkpointer is not None:
            self._leave_checkpoints_to(self.checkpointer)
        if self.database.is_sqlite:
            self._keep_sub_journals_in_memory()
        stopping = False
        while not stopping:
            first = self._jobs.get()
            if first is _STOP:
                break
            batch = [first]
            if self._jobs.empty() and self._arrivals.expects_more_within(LINGER_S):
                time.sleep(LINGER_S)
            while len(batch) < self.max_batch:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is _STOP:
                    stopping = True
                    break
                batch.append(job)
            self._arrivals.took(len(batch), time.perf_counter())
            self._run_batch(batch)
            if self.checkpointer is not None and self.checkpointer.catch_up_due():
                self.checkpointer.catch_up()  # between two transactions: the next one starts the log over

    def _leave_checkpoints_to(self, checkpointer: WalCheckpointer) -> None:
        """This thread's connection stops checkpointing inside its commits; `checkpointer` does it instead. Should
        the pragma fail, SQLite's own checkpoints stay on and the checkpointer merely finds less to do."""
        try:
            self.database.db.execute_sql("PRAGMA wal_autocheckpoint = 0")
        except pw.DatabaseError as exc:
            log.warning("the database writer checkpoints its own commits: %s", exc)

    def _keep_sub_journals_in_memory(self) -> None:
        """SQLite keeps the original of every page a savepoint changes (the writer's job savepoints) in a
        sub-journal. Once a transaction's passes 64 KiB it goes to an unlinked temporary file, written one page per
        call: as many writes as the log itself got, at 1,000 workers with 1 s think time. On this thread's
        connection only: `temp_store = MEMORY` also keeps sorts in memory without bound, which the writer's small
        statements never need but an export over a large database would (other connections keep the default)."""
        try:
            self.database.db.execute_sql("PRAGMA temp_store = MEMORY")
        except pw.DatabaseError as exc:
            log.warning("the database writer's savepoints write a temporary file: %s", exc)

    def _run_batch(self, batch: list[_Job]) -> None:
        tried_outside = False
        if not self.database.is_sqlite and (groups := _groups_of(batch, standing=True)):
            # Their answers go out after their one round trip, not after the rest of the batch's transaction.
            batch = self._run_outside_transaction(groups, batch)
            if not batch:
                return
            tried_outside = True  # what is left runs the usual way
        outcomes: list[tuple[_Job, bool, Any]] = []
        started = time.perf_counter()
        deferred = _defer_begin(self.database) if not self.database.is_sqlite else None
        try:
            with self.database.write():
                savepoints: _JobSavepoints | _PostgresSavepoints = (
                    _JobSavepoints(self.database) if deferred is None else _PostgresSavepoints(self.database, deferred)
                )
                for job in _run_groups(batch, savepoints, outcomes, skip_standing=tried_outside):
                    if not (isinstance(job.future, asyncio.Future) and job.future.cancelled()):
                        outcomes.append((job, *savepoints.run(job)))
        except Exception as exc:
            # The transaction failed (its BEGIN, a statement outside the savepoints, or the COMMIT): nothing of
            # this batch is durable, so every caller gets the error, those of jobs done in a group too.
            error = _first_cause(exc)
            self._log_failed_batch(len(batch), error)
            self._deliver([(job, False, error) for job in batch])
            return
        finally:
            if deferred is not None:
                deferred.clear()
        if self.checkpointer is not None:
            self.checkpointer.committed()
        self.batches += 1
        self.jobs_done += len(outcomes)
        metrics_hooks.observe_db_write(time.perf_counter() - started, len(outcomes))
        self._deliver(outcomes)

    def _run_outside_transaction(self, by_group: list[list[_Job]], batch: list[_Job]) -> list[_Job]:
        """PostgreSQL, the batch's jobs of groups that `commits_per_statement`: each group's jobs run together, each
        statement committing on its own, and are delivered at once. Returns the batch's other jobs and those the
        groups left (or all of a group whose statement failed), in the batch's order, to run the usual way in a
        transaction."""
        started = time.perf_counter()
        _nothing_deferred(self.database)  # the same cursor as in a transaction, with no BEGIN to send
        outcomes: list[tuple[_Job, bool, Any]] = []
        for jobs in by_group:
            group = jobs[0].group
            assert group is not None
            try:
                with _driver_errors:
                    results = group.run_together([job.args for job in jobs])
            except PartlyDone as partly:  # what committed before the failure is answered; the rest as below
                _GROUP_FAILURES.report(len(jobs), group, partly.cause)
                results = partly.results
            except Exception as exc:  # nothing of the failed statement stayed: each job runs the usual way
                _GROUP_FAILURES.report(len(jobs), group, exc)
                continue
            pairs = zip(jobs, results, strict=True)
            outcomes += [(job, True, result[0]) for job, result in pairs if result is not None]
        if not outcomes:
            return batch
        self.batches += 1
        self.jobs_done += len(outcomes)
        metrics_hooks.observe_db_write(time.perf_counter() - started, len(outcomes))
        self._deliver(outcomes)
        done = {id(job) for job, _, _ in outcomes}
        return [job for job in batch if id(job) not in done]

    def _log_failed_batch(self, jobs: int, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._failure_logged_at < FAILURE_LOG_EVERY_SECONDS:
            self._failures_unlogged += 1
            return
        more = (
            f" ({self._failures_unlogged} more failed batches since the last report)" if self._failures_unlogged else ""
        )
        log.error("database transaction failed, nothing of its %d jobs was stored: %s%s", jobs, exc, more)
        self._failure_logged_at = now
        self._failures_unlogged = 0

    @staticmethod
    def _deliver(outcomes: list[tuple[_Job, bool, Any]]) -> None:
        """Hand the results to their event loops: one wake-up per loop per batch, not one per job."""
        by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        for job, ok, value in outcomes:
            by_loop.setdefault(job.loop, []).append((job.future, ok, value))
        for loop, results in by_loop.items():
            if not loop.is_closed():  # a closed loop has nobody left waiting
                loop.call_soon_threadsafe(_resolve, results)


class ArrivalRate:
    """The writer's estimate of how fast jobs arrive: an exponentially weighted average over its batches.

    Each batch takes the jobs that arrived since the one before was taken, so jobs over that interval is the rate
    (the interval includes the time the writer sat idle waiting, so a lone worker's rate stays low).
    """

    __slots__ = ("_last_taken", "per_second")

    def __init__(self) -> None:
        self.per_second = 0.0
        self._last_taken: float | None = None

    def took(self, jobs: int, now: float) -> None:
        """A batch of `jobs` was taken at `now` (seconds, `time.perf_counter`)."""
        if self._last_taken is not None and now > self._last_taken:
            rate = jobs / (now - self._last_taken)
            self.per_second += _RATE_WEIGHT * (rate - self.per_second)
        self._last_taken = now

    def expects_more_within(self, seconds: float) -> bool:
        """Whether at this rate at least one more job arrives within `seconds`."""
        return self.per_second * seconds >= 1.0


def _groups_of(batch: list[_Job], standing: bool | None = None) -> list[list[_Job]]:
    """The batch's jobs of each group with two or more of them, or one of a group that runs it `alone_together`
    (callers' callbacks, not futures), in the batch's order; with `standing`, only the groups whose
    `commits_per_statement` is that."""
    by_group: dict[int, tuple[JobGroup, list[_Job]]] = {}
    for job in batch:
        group = job.group
        if group is None or isinstance(job.future, asyncio.Future):
            continue
        if standing is None or group.commits_per_statement == standing:
            by_group.setdefault(id(group), (group, []))[1].append(job)
    return [jobs for group, jobs in by_group.values() if len(jobs) >= 2 or group.alone_together]


def _run_groups(
    batch: list[_Job],
    savepoints: _JobSavepoints | _PostgresSavepoints,
    outcomes: list[tuple[_Job, bool, Any]],
    skip_standing: bool = False,
) -> list[_Job]:
    """Run the batch's jobs of each group with two or more of them together (`JobGroup.run_together`); returns
    the jobs left to run one by one, in the batch's order. `skip_standing`: the groups that
    `commits_per_statement` already ran outside the transaction, and their jobs here go the usual way."""
    done: set[int] = set()
    for jobs in _groups_of(batch, standing=False if skip_standing else None):
        group = jobs[0].group
        assert group is not None
        together = _Job(group.run_together, ([job.args for job in jobs],), _ignore, jobs[0].loop)
        ok, results = savepoints.run(together)
        if not ok:  # undone; each runs the usual way (a key used twice in the batch, say)
            _GROUP_FAILURES.report(len(jobs), group, results)
            continue
        for job, result in zip(jobs, results, strict=True):
            if result is not None:
                outcomes.append((job, True, result[0]))
                done.add(id(job))
    return [job for job in batch if id(job) not in done] if done else batch


class _GroupFailures:
    """Says when a group's shared statement failed and its jobs ran one by one: a warning at most every
    FAILURE_LOG_EVERY_SECONDS with the count since the last one (each failure on its own at DEBUG). Rare by
    design (a key used twice in one batch); a steady stream means the shared statements are broken and every
    hello and submission takes the slow way."""

    def __init__(self) -> None:
        self._unlogged = 0
        self._logged_at = -FAILURE_LOG_EVERY_SECONDS

    def report(self, jobs: int, group: JobGroup, error: Exception) -> None:
        log.debug("%d jobs of %r ran one by one: %s", jobs, group, error)
        self._unlogged += 1
        now = time.monotonic()
        if now - self._logged_at >= FAILURE_LOG_EVERY_SECONDS:
            log.warning(
                "%d batches of %r ran one by one after their shared statement failed: %s", self._unlogged, group, error
            )
            self._logged_at, self._unlogged = now, 0


_GROUP_FAILURES = _GroupFailures()


def _ignore(ok: bool, result: Any) -> None:
    """The callback of a group's pseudo-job, which is never delivered."""


def _first_cause(exc: Exception) -> Exception:
    """The error that broke the transaction, not the failed rollback it led to.

    When SQLite hits a full disk (or I/O error) it rolls the transaction back by itself; peewee's own rollback
    then fails with "cannot rollback - no transaction is active", which would hide "database or disk is full".
    """
    if "no transaction is active" in str(exc) and isinstance(exc.__context__, Exception):
        return exc.__context__
    return exc


class _JobSavepoints:
    """SQLite: runs the jobs of one transaction each in a savepoint, so that a failed job undoes only its own
    writes. Plain statements on the driver's connection rather than peewee's atomic(): jobs run one after the
    other, so one fixed name does, and a savepoint costs two cheap statements per job.
    """

    def __init__(self, database: Database) -> None:
        self._connection = database.db.connection()

    def _execute(self, sql: str) -> None:
        with _driver_errors:  # as peewee's own errors, like those of execute_sql
            self._connection.execute(sql)

    def run(self, job: _Job) -> tuple[bool, Any]:
        """(True, result) or (False, the exception), with the job's writes kept or undone accordingly."""
        self._execute('SAVEPOINT "job"')
        try:
            result = job.fn(*job.args)
            self._execute('RELEASE SAVEPOINT "job"')
        except Exception as exc:  # handed to the awaiting caller, which decides what to do
            self._execute('ROLLBACK TO SAVEPOINT "job"')
            self._execute('RELEASE SAVEPOINT "job"')
            return False, exc
        return True, result


class _Deferred:
    """What the writer's PostgreSQL connection still has to send ahead of the next statement of the batch."""

    __slots__ = ("begin", "defer_begin", "savepoint")

    def __init__(self) -> None:
        self.defer_begin = False  # the next BEGIN is held back rather than sent on its own
        self.begin = False  # a held-back BEGIN is waiting
        self.savepoint: str | None = None  # a job's RELEASE / SAVEPOINT statements waiting

    def take(self) -> str:
        prefix = ("BEGIN; " if self.begin else "") + (self.savepoint or "")
        self.begin, self.savepoint = False, None
        return prefix

    def clear(self) -> None:
        self.defer_begin = self.begin = False
        self.savepoint = None


#: the deferred statements of each writer connection to PostgreSQL (the writer thread's own connection)
_DEFERRED: weakref.WeakKeyDictionary[Any, _Deferred] = weakref.WeakKeyDictionary()
_deferring_cursor: type | None = None


def _defer_begin(database: Database) -> _Deferred:
    """Make the writer's PostgreSQL connection hold the batch's BEGIN back until its first statement."""
    deferred = _nothing_deferred(database)
    deferred.defer_begin = True
    return deferred


def _nothing_deferred(database: Database) -> _Deferred:
    """The writer's PostgreSQL connection with its deferring cursor and nothing held back (yet)."""
    global _deferring_cursor
    connection = database.db.connection()
    if _deferring_cursor is None:
        _deferring_cursor = _make_deferring_cursor()
    if connection.cursor_factory is not _deferring_cursor:
        connection.cursor_factory = _deferring_cursor
    deferred = _DEFERRED.get(connection)
    if deferred is None:
        deferred = _DEFERRED[connection] = _Deferred()
    deferred.clear()
    return deferred


def _make_deferring_cursor(base: type | None = None) -> type:
    """A psycopg2 cursor that sends the connection's deferred statements in the same round trip as the next one.

    psycopg2 sends a statement (its parameters interpolated on the client) as one simple query, which may hold
    several statements: PostgreSQL runs them in order and the cursor sees the last one's result.
    """
    from psycopg2.extensions import cursor

    parent = cursor if base is None else base  # tests pass a cursor of their own that counts round trips

    class DeferringCursor(parent):  # type: ignore[misc,valid-type]
        def execute(self, query: Any, vars: Any = None) -> Any:
            deferred = _DEFERRED.get(self.connection)
            if deferred is not None:
                if deferred.defer_begin and query == "BEGIN":
                    deferred.defer_begin, deferred.begin = False, True
                    return None
                if deferred.begin and query in ("COMMIT", "ROLLBACK"):
                    # The batch sent no statement (its jobs only read what this process holds in memory): the
                    # server has no transaction to end, and the round trip is saved.
                    deferred.clear()
                    return None
                if deferred.begin or deferred.savepoint:
                    prefix = deferred.take()
                    if isinstance(query, str):
                        query = prefix + query
                    else:  # composed SQL: the deferred statements go first, on their own
                        super().execute(prefix)
            return super().execute(query, vars)

        def executemany(self, query: Any, vars_list: Any) -> Any:
            self._send_deferred()
            return super().executemany(query, vars_list)

        def copy_expert(self, sql: Any, file: Any, size: int = 8192) -> Any:
            self._send_deferred()
            return super().copy_expert(sql, file, size)

        def _send_deferred(self) -> None:
            """What cannot ride with the statement (several statements, a COPY) goes first, on its own."""
            deferred = _DEFERRED.get(self.connection)
            if deferred is not None and (deferred.begin or deferred.savepoint):
                super().execute(deferred.take())

    return DeferringCursor


class _PostgresSavepoints:
    """PostgreSQL: each job in its own savepoint too, without a round trip of its own.

    Every statement is a round trip here, so the batch's BEGIN and each job's `RELEASE SAVEPOINT` (of the job
    before) and `SAVEPOINT` travel with the job's first statement (`_make_deferring_cursor`). A job that sends no
    statement costs nothing; one that fails after sending some is rolled back to its own savepoint, which then
    stays for the next job to release. Each job's savepoint has its own name: if a failed round trip never
    created it, `ROLLBACK TO` it fails and with it the whole batch (nobody is told that something is stored),
    rather than rolling back to the job before's savepoint and undoing that job's writes.
    """

    def __init__(self, database: Database, deferred: _Deferred) -> None:
        self._execute = database.db.execute_sql
        self._connection = database.db.connection()
        self._deferred = deferred
        self._open: str | None = None  # the savepoint of the last job that sent a statement
        self._count = 0

    def run(self, job: _Job) -> tuple[bool, Any]:
        """(True, result) or (False, the exception), with the job's writes kept or undone accordingly."""
        self._count += 1
        name = f'"job{self._count}"'
        release = f"RELEASE SAVEPOINT {self._open}; " if self._open is not None else ""
        self._deferred.savepoint = f"{release}SAVEPOINT {name}; "
        try:
            result = job.fn(*job.args)
            _raise_if_statement_failed(self._connection)
        except Exception as exc:  # handed to the awaiting caller, which decides what to do
            if self._sent():
                self._execute(f"ROLLBACK TO SAVEPOINT {name}")
                self._open = name
            return False, exc
        if self._sent():
            self._open = name
        return True, result

    def _sent(self) -> bool:
        """Whether the job's savepoint went out (with its first statement); a job without statements: no."""
        if self._deferred.savepoint is None:
            return True
        self._deferred.savepoint = None
        return False


def _raise_if_statement_failed(connection: Any) -> None:
    """PostgreSQL ignores every statement after a failed one until a rollback: a job that caught the failure
    and returned normally did not do what it reports, so its caller gets an error instead."""
    from psycopg2.extensions import TRANSACTION_STATUS_INERROR

    if connection.info.transaction_status == TRANSACTION_STATUS_INERROR:
        raise DatabaseError("a statement of this job failed inside the transaction; nothing of it was stored")


def _resolve(results: list[_Outcome]) -> None:
    for future, ok, value in results:
        if not isinstance(future, asyncio.Future):
            try:
                future(ok, value)
            except Exception:  # one answer's failure must not keep the batch's other answers back
                log.exception("handling the result of a database job failed")
        elif future.done():  # the caller was cancelled while its job ran
            continue
        elif ok:
            future.set_result(value)
        else:
            future.set_exception(value)
