"""Many platform calls of a command or a request made at once, each outcome recorded as its call returns.

A reviewer's bulk verdict, bonus or grant waits for the platform once per unit or worker, 0.1-0.3 s a call on
MTurk: one after the other, 500 units took minutes. `call_all` keeps up to
`CALLS_AT_ONCE` calls in flight, each on a thread of its own, and records outcomes on the caller's thread (the one
that holds the database connection): those whose calls finished together in one write transaction, each in a
savepoint of its own, so that one failing record undoes only its own writes. Given `record_together`, the
successful ones are first written together in one savepoint (a few statements for all: each is a round trip to
a database on another machine), and one by one only when that fails, so the one at fault is found and refused alone.
Given `together`, jobs that one platform call can do together (Prolific's bulk approval, its bulk bonus) are asked
in one call per group instead of one each, and their outcomes recorded as if each had been asked alone.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from mephisto_core.data_model import Database
from mephisto_core.data_model.kept_connections import released_after
from mephisto_core.operations.provider_calls import REVIEW_CALLS_AT_ONCE

J = TypeVar("J")
R = TypeVar("R")

#: calls in flight at once; each goes through `provider_calls.call_blocking`, whose pool has as many threads. A
#: platform that throttles is answered by the provider's client (boto3's adaptive retries slow down for MTurk).
CALLS_AT_ONCE = REVIEW_CALLS_AT_ONCE
#: jobs asked in one call at most (`Together`): a platform's bulk endpoint takes hundreds (Prolific's bulk message
#: 4,000), and a call of this many still answers well within a provider call's timeout.
JOBS_PER_CALL = 500


@dataclass(frozen=True)
class Together(Generic[J, R]):
    """Jobs one call can do together: `key(job)` names the group a job can join (None: asked alone), and
    `call(jobs)` asks for jobs of one group at once, returning per job, in order, its result or the exception
    that stopped it (an exception raised stops every job of the call)."""

    key: Callable[[J], Hashable | None]
    call: Callable[[Sequence[J]], Sequence[R | Exception]]
    most: int = JOBS_PER_CALL


@dataclass(frozen=True)
class _Answer(Generic[R]):
    """One job's call as it ended: its result, or the exception that stopped it."""

    result: R | None = None
    error: BaseException | None = None


def call_all(
    database: Database,
    jobs: Sequence[J],
    call: Callable[[J], R],
    record: Callable[[J, R], None],
    record_failure: Callable[[J, Exception], None] | None = None,
    at_once: int = CALLS_AT_ONCE,
    record_together: Callable[[Sequence[tuple[J, R]]], None] | None = None,
    together: Together[J, R] | None = None,
) -> list[Exception | None]:
    """`call(job)` for each of `jobs`, at most `at_once` at a time; once it returns, `record(job, result)` on this
    thread inside a write transaction, or `record_failure(job, error)` when it raised. `record_together(pairs)`,
    when given, records several successful `(job, result)` pairs as `record` would one by one. `together`, when
    given, asks the jobs of each of its groups in one call (`Together`), up to `at_once` calls at a time.

    Returns per job, in order, None when its call and its record went through, else the exception that stopped
    it: its call's (whatever `record_failure` did), or its record's, whose writes are then undone. A transaction
    that fails to commit gives its error to each of its jobs. Interrupted (Ctrl-C), calls not started are
    dropped and calls under way finish unrecorded, as one call interrupted while waiting is.
    """
    outcomes: list[Exception | None] = [None] * len(jobs)
    if not jobs:
        return outcomes
    calls = _calls(jobs, together)
    pool = ThreadPoolExecutor(max_workers=max(1, min(at_once, len(calls))), thread_name_prefix="mephisto-calls")
    try:
        pending = {pool.submit(released_after, _ask, jobs, one_call, call, together) for one_call in calls}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            pending -= done
            finished = sorted((pair for future in done for pair in future.result()), key=lambda pair: pair[0])
            try:
                with database.write():
                    alone = _recorded_together(database, jobs, finished, record_together, outcomes)
                    for index, answer in alone:
                        outcomes[index] = _record(database, jobs[index], answer, record, record_failure)
            except Exception as exc:  # the commit failed: nothing of these jobs' records is stored
                for index, _answer in finished:
                    outcomes[index] = exc
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return outcomes


@dataclass(frozen=True)
class _Call:
    """One call to make: its jobs' indices, asked together (`Together.call`) or a job alone."""

    indices: list[int]
    together: bool


def _calls(jobs: Sequence[J], together: Together[J, Any] | None) -> list[_Call]:
    """The calls to make, in the order of their first job: a job alone, or up to `together.most` jobs of one
    group."""
    if together is None:
        return [_Call([index], False) for index in range(len(jobs))]
    calls: list[_Call] = []
    open_groups: dict[Hashable, list[int]] = {}
    for index, job in enumerate(jobs):
        key = together.key(job)
        if key is None:
            calls.append(_Call([index], False))
            continue
        group = open_groups.get(key)
        if group is None or len(group) >= together.most:
            group = open_groups[key] = []
            calls.append(_Call(group, True))
        group.append(index)
    return calls


def _ask(
    jobs: Sequence[J], one_call: _Call, call: Callable[[J], R], together: Together[J, R] | None
) -> list[tuple[int, _Answer[R]]]:
    """Ask for the jobs of one call (`_calls`); each job's answer, by index. Never raises: what stopped the call
    is each of its jobs' error."""
    indices = one_call.indices
    if together is None or not one_call.together:
        index = indices[0]
        try:
            return [(index, _Answer(call(jobs[index])))]
        except BaseException as exc:  # a KeyboardInterrupt too: `_record` raises it on the caller's thread
            return [(index, _Answer(error=exc))]
    try:
        results = list(together.call([jobs[index] for index in indices]))
        if len(results) != len(indices):
            raise RuntimeError(f"a call for {len(indices)} jobs together answered for {len(results)}")
    except BaseException as exc:
        return [(index, _Answer(error=exc)) for index in indices]
    return [
        (index, _Answer(error=result) if isinstance(result, Exception) else _Answer(result))
        for index, result in zip(indices, results, strict=True)
    ]


def _recorded_together(
    database: Database,
    jobs: Sequence[J],
    finished: list[tuple[int, _Answer[R]]],
    record_together: Callable[[Sequence[tuple[J, R]]], None] | None,
    outcomes: list[Exception | None],
) -> list[tuple[int, _Answer[R]]]:
    """Record the successful calls of `finished` together in one savepoint; the ones left to record alone: the
    failed calls, and all of them when there is no `record_together`, one call alone, or the records together
    failed (their writes undone with the savepoint; each alone then finds the one at fault)."""
    succeeded = [(index, answer) for index, answer in finished if answer.error is None]
    if record_together is None or len(succeeded) < 2:
        return finished
    try:
        with database.db.atomic():
            record_together([(jobs[index], answer.result) for index, answer in succeeded])  # type: ignore[misc]
    except Exception:  # not lost: each record alone meets the failure again and reports it
        return finished
    for index, _answer in succeeded:
        outcomes[index] = None
    return [(index, answer) for index, answer in finished if answer.error is not None]


def _record(
    database: Database,
    job: J,
    answer: _Answer[R],
    record: Callable[[J, R], None],
    record_failure: Callable[[J, Exception], None] | None,
) -> Exception | None:
    """Record one finished call in a savepoint of its own; the exception that stopped the job, or None."""
    error = answer.error
    if error is not None and not isinstance(error, Exception):  # a KeyboardInterrupt or SystemExit in the call
        raise error
    try:
        with database.db.atomic():
            if error is None:
                record(job, answer.result)  # type: ignore[arg-type]  # no error: the call's result
            elif record_failure is not None:
                record_failure(job, error)
    except Exception as exc:
        return error or exc
    return error
