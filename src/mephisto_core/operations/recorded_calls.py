"""Many platform calls of a command or a request made at once, each outcome recorded as its call returns.

A reviewer's bulk verdict, bonus or grant waits for the platform once per unit or worker, 0.1-0.3 s a call on
MTurk: one after the other, 500 units took minutes. `call_all` keeps up to
`CALLS_AT_ONCE` calls in flight, each on a thread of its own, and records outcomes on the caller's thread (the one
that holds the database connection): those whose calls finished together in one write transaction, each in a
savepoint of its own, so that one failing record undoes only its own writes. Given `record_together`, the
successful ones are first written together in one savepoint (a few statements for all: each is a round trip to
a database on another machine), and one by one only when that fails, so the one at fault is found and refused alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

from mephisto_core.data_model import Database
from mephisto_core.data_model.kept_connections import released_after
from mephisto_core.operations.provider_calls import REVIEW_CALLS_AT_ONCE

J = TypeVar("J")
R = TypeVar("R")

#: calls in flight at once; each goes through `provider_calls.call_blocking`, whose pool has as many threads. A
#: platform that throttles is answered by the provider's client (boto3's adaptive retries slow down for MTurk).
CALLS_AT_ONCE = REVIEW_CALLS_AT_ONCE


def call_all(
    database: Database,
    jobs: Sequence[J],
    call: Callable[[J], R],
    record: Callable[[J, R], None],
    record_failure: Callable[[J, Exception], None] | None = None,
    at_once: int = CALLS_AT_ONCE,
    record_together: Callable[[Sequence[tuple[J, R]]], None] | None = None,
) -> list[Exception | None]:
    """`call(job)` for each of `jobs`, at most `at_once` at a time; once it returns, `record(job, result)` on this
    thread inside a write transaction, or `record_failure(job, error)` when it raised. `record_together(pairs)`,
    when given, records several successful `(job, result)` pairs as `record` would one by one.

    Returns per job, in order, None when its call and its record went through, else the exception that stopped
    it: its call's (whatever `record_failure` did), or its record's, whose writes are then undone. A transaction
    that fails to commit gives its error to each of its jobs. Interrupted (Ctrl-C), calls not started are
    dropped and calls under way finish unrecorded, as one call interrupted while waiting is.
    """
    outcomes: list[Exception | None] = [None] * len(jobs)
    if not jobs:
        return outcomes
    pool = ThreadPoolExecutor(max_workers=max(1, min(at_once, len(jobs))), thread_name_prefix="mephisto-calls")
    try:
        pending = {pool.submit(released_after, call, job): index for index, job in enumerate(jobs)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            finished = sorted(((pending.pop(future), future) for future in done), key=lambda pair: pair[0])
            try:
                with database.write():
                    alone = _recorded_together(database, jobs, finished, record_together, outcomes)
                    for index, future in alone:
                        outcomes[index] = _record(database, jobs[index], future, record, record_failure)
            except Exception as exc:  # the commit failed: nothing of these jobs' records is stored
                for index, _future in finished:
                    outcomes[index] = exc
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return outcomes


def _recorded_together(
    database: Database,
    jobs: Sequence[J],
    finished: list[tuple[int, Future[R]]],
    record_together: Callable[[Sequence[tuple[J, R]]], None] | None,
    outcomes: list[Exception | None],
) -> list[tuple[int, Future[R]]]:
    """Record the successful calls of `finished` together in one savepoint; the ones left to record alone: the
    failed calls, and all of them when there is no `record_together`, one call alone, or the records together
    failed (their writes undone with the savepoint; each alone then finds the one at fault)."""
    succeeded = [(index, future) for index, future in finished if future.exception() is None]
    if record_together is None or len(succeeded) < 2:
        return finished
    try:
        with database.db.atomic():
            record_together([(jobs[index], future.result()) for index, future in succeeded])
    except Exception:  # not lost: each record alone meets the failure again and reports it
        return finished
    for index, _future in succeeded:
        outcomes[index] = None
    return [(index, future) for index, future in finished if future.exception() is not None]


def _record(
    database: Database,
    job: J,
    future: Future[R],
    record: Callable[[J, R], None],
    record_failure: Callable[[J, Exception], None] | None,
) -> Exception | None:
    """Record one finished call in a savepoint of its own; the exception that stopped the job, or None."""
    error = future.exception()
    if error is not None and not isinstance(error, Exception):  # a KeyboardInterrupt or SystemExit in the call
        raise error
    try:
        with database.db.atomic():
            if error is None:
                record(job, future.result())
            elif record_failure is not None:
                record_failure(job, error)
    except Exception as exc:
        return error or exc
    return error
