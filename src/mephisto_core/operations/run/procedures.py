"""Remote procedure calls from task pages: `call` -> `call_result` or `error` (docs/protocol.md).

A call is recorded in the database before its function runs and completed with the answer after, both on the
writer thread; the function itself runs off the event loop (a sync function on this module's own bounded
threads, an async one as its own task), under the task file's timeout. The per-worker rate limit is counted on
the writer thread, where every call passes in order.

Resend safety: the page resends a call with the same `call_key` until it is answered. A resend while the call
runs waits for the same run; a resend after it ended is answered from the stored row; a resend of a call whose
process died mid-run (a row without an answer) runs the function again on the same row.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, replace
from typing import Any

from mephisto_core.data_model import Agent, AgentStatus, Assignment, Worker
from mephisto_core.data_model.models import utcnow
from mephisto_core.data_model.procedure_calls import ProcedureCall
from mephisto_core.operations.run.db_writer import DatabaseWriter
from mephisto_core.operations.run.procedure_registry import Procedure, ProcedureRegistry
from mephisto_core.operations.run.replies import Failure
from mephisto_core.procedures import CallInfo, ProcedureError

log = logging.getLogger(__name__)

#: sync procedures running at once; one stuck past its timeout keeps its (daemon) thread, and its slot, until it
#: returns, so a procedure that never returns makes later calls time out rather than pile up threads
MAX_THREADS = 8
#: an answer larger than this is refused (a page's own frames are limited to 1 MiB as well)
MAX_RESULT_BYTES = 1024 * 1024
_WINDOW_SECONDS = 60.0

_NO_PROCEDURES = "This task has no remote procedures ([task.procedures] in its task file)."
_FAILED = "The task's {name!r} procedure failed. Please try again, or tell the researcher if it keeps failing."
_TIMED_OUT = "The task's {name!r} procedure took longer than {seconds:g} s and was given up. Please try again."


@dataclass(frozen=True)
class _Started:
    row_id: int
    info: CallInfo
    started_at: dt.datetime


@dataclass(frozen=True)
class _Answer:
    """What a call ended with: a result, or an error code with the words shown to the worker."""

    result: Any = None
    code: str | None = None
    shown: str | None = None
    #: what the researcher sees (log, database, review): the exception and its trace
    detail: str | None = None

    def message(self, request_id: int | None, call_key: str) -> dict[str, Any]:
        if self.code is not None:
            return Failure(self.code, self.shown or self.code).message(request_id) | {"call_key": call_key}
        return {"type": "call_result", "id": request_id, "call_key": call_key, "result": self.result}


class ProcedureService:
    """Answers the `call` messages of one run."""

    def __init__(self, registry: ProcedureRegistry | None, writer: DatabaseWriter, run_id: int) -> None:
        self.registry = registry
        self.writer = writer
        self.run_id = run_id
        self._slots: asyncio.Semaphore | None = None
        self._running: dict[tuple[int, str], asyncio.Future[_Answer]] = {}
        #: start times (monotonic) of each worker's recent calls; touched on the writer thread only
        self._recent: dict[int, deque[float]] = {}
        #: who each attempt that called is; touched on the writer thread only
        self._callers: dict[int, CallInfo] = {}
        self.calls_answered = 0

    async def handle(self, agent_id: int, request_id: int | None, msg: dict[str, Any]) -> dict[str, Any]:
        """The answer to one `call` message of the page holding `agent_id`."""
        key, name, args = msg.get("call_key"), msg.get("name"), msg.get("args")
        if not (isinstance(key, str) and 8 <= len(key) <= 128):
            return Failure("bad_message", "call.call_key must be a string of 8 to 128 characters").message(request_id)
        if not isinstance(name, str):
            return Failure("bad_message", "call.name must be a string").message(request_id)
        if self.registry is None:
            return Failure("unsupported", _NO_PROCEDURES).message(request_id)
        procedure = self.registry.procedures.get(name)
        if procedure is None:
            known = ", ".join(self.registry.names())
            return Failure("unknown_procedure", f"No procedure {name[:64]!r}; this task has: {known}.").message(
                request_id
            )
        running = self._running.get((agent_id, key))
        if running is not None:  # a resend while the first is still running: one run, one answer
            return (await asyncio.shield(running)).message(request_id, key)
        # Registered before the first await: a resend arriving meanwhile waits for this run instead of starting one.
        future: asyncio.Future[_Answer] = asyncio.get_running_loop().create_future()
        self._running[(agent_id, key)] = future
        try:
            begun = await self.writer.call(self._begin, agent_id, key, name, args)
            if isinstance(begun, _Answer):
                answer = begun
            else:
                answer = await self._run(procedure, args, begun.info)
                await self.writer.call(_finish, begun.row_id, begun.started_at, answer)
            future.set_result(answer)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: nobody else may be waiting
            raise
        finally:
            self._running.pop((agent_id, key), None)
        self.calls_answered += 1
        return answer.message(request_id, key)

    # ---- on the writer thread -------------------------------------------------------------------------------

    def _begin(self, agent_id: int, key: str, name: str, args: Any) -> _Started | _Answer:
        assert self.registry is not None
        existing = ProcedureCall.get_or_none((ProcedureCall.agent == agent_id) & (ProcedureCall.call_key == key))
        if existing is not None and existing.finished_at is not None:
            return _Answer(existing.result, existing.error_code, existing.error_shown)
        status = Agent.select(Agent.status).where(Agent.id == agent_id).scalar()
        if status is None:
            return _Answer(code="not_your_unit", shown="This attempt no longer exists; reload the page.")
        if status != AgentStatus.IN_TASK.value:
            return _Answer(code="gone", shown="This unit is no longer yours to work on; calls are closed.")
        info = self._caller(agent_id)
        if existing is None:
            limited = self._rate_limited(info.worker_id)
            if limited is not None:
                return limited
        now = utcnow()
        if existing is not None:  # the process that ran it died before answering: run it again on its row
            ProcedureCall.update(started_at=now).where(ProcedureCall.id == existing.id).execute()
            return _Started(existing.id, replace(info, name=name), now)
        row_id = (
            ProcedureCall.insert(
                task_run=self.run_id, unit=info.unit_id, agent=agent_id, worker=info.worker_id, call_key=key,
                name=name, args=args, started_at=now,
            )
            .execute()
        )  # fmt: skip
        return _Started(row_id, replace(info, name=name), now)

    def _caller(self, agent_id: int) -> CallInfo:
        """Who an attempt is (its worker, unit and inputs never change): read once per attempt."""
        info = self._callers.get(agent_id)
        if info is None:
            agent = Agent.get_by_id(agent_id)
            worker_name = Worker.select(Worker.name).where(Worker.id == agent.worker_id).scalar()
            inputs = Assignment.get_by_id(agent.assignment_id).inputs
            info = CallInfo("", agent.worker_id, worker_name, agent_id, agent.unit_id, inputs)
            self._callers[agent_id] = info
        return info

    def _rate_limited(self, worker_id: int) -> _Answer | None:
        assert self.registry is not None
        limit = self.registry.max_calls_per_minute
        now = time.monotonic()
        recent = self._recent.setdefault(worker_id, deque())
        while recent and now - recent[0] >= _WINDOW_SECONDS:
            recent.popleft()
        if len(recent) >= limit:
            wait = _WINDOW_SECONDS - (now - recent[0])
            return _Answer(
                code="rate_limited",
                shown=f"Too many calls: this task allows {limit} per minute. Please wait {wait:.0f} s and try again.",
            )
        recent.append(now)
        return None

    # ---- the function ---------------------------------------------------------------------------------------

    async def _run(self, procedure: Procedure, args: Any, info: CallInfo) -> _Answer:
        assert self.registry is not None
        timeout = self.registry.timeout_seconds
        call_args = (args, info) if procedure.takes_info else (args,)
        try:
            if procedure.is_async:
                result = await asyncio.wait_for(procedure.function(*call_args), timeout)
                text = _json(result)
            else:
                result, text = await asyncio.wait_for(self._in_thread(procedure, call_args), timeout)
        except TimeoutError:
            log.warning("procedure %r of agent %d timed out after %g s", procedure.name, info.agent_id, timeout)
            shown = _TIMED_OUT.format(name=procedure.name, seconds=timeout)
            return _Answer(code="procedure_timeout", shown=shown, detail=f"no answer within {timeout:g} s")
        except ProcedureError as exc:
            shown = str(exc) or _FAILED.format(name=procedure.name)
            return _Answer(code="procedure_failed", shown=shown, detail=f"ProcedureError: {exc}")
        except Exception as exc:
            detail = "".join(traceback.format_exception(exc))
            log.warning("procedure %r of agent %d failed:\n%s", procedure.name, info.agent_id, detail)
            return _Answer(code="procedure_failed", shown=_FAILED.format(name=procedure.name), detail=detail)
        if len(text) > MAX_RESULT_BYTES:
            detail = f"the answer has {len(text)} bytes of JSON; at most {MAX_RESULT_BYTES} are sent to a page"
            log.warning("procedure %r: %s", procedure.name, detail)
            return _Answer(code="procedure_failed", shown=_FAILED.format(name=procedure.name), detail=detail)
        return _Answer(result=result)

    async def _in_thread(self, procedure: Procedure, call_args: tuple[Any, ...]) -> tuple[Any, str]:
        """Run a sync procedure on a daemon thread of its own (a stuck one never holds up the process's exit)."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(MAX_THREADS)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[tuple[Any, str]] = loop.create_future()
        await self._slots.acquire()
        slots = self._slots

        def settle(outcome: tuple[Any, str] | None, error: BaseException | None) -> None:
            slots.release()
            if done.cancelled():
                return
            if error is not None:
                done.set_exception(error)
            else:
                assert outcome is not None
                done.set_result(outcome)

        def work() -> None:
            outcome: tuple[Any, str] | None = None
            error: BaseException | None = None
            try:
                # The JSON check runs here as well: a large answer must not hold the event loop.
                outcome = _call_and_encode(procedure, call_args)
            except BaseException as exc:
                error = exc
            try:
                loop.call_soon_threadsafe(settle, outcome, error)
            except RuntimeError:  # the run ended (its loop closed) while this procedure ran: nobody waits
                log.debug("procedure %r finished after its run ended", procedure.name)

        try:
            threading.Thread(target=work, name=f"mephisto-procedure-{procedure.name}", daemon=True).start()
        except BaseException:
            slots.release()
            raise
        return await done


class _NotJSON(Exception):
    pass


def _json(result: Any) -> str:
    try:
        return json.dumps(result, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise _NotJSON(f"the procedure returned a value that is not JSON ({exc})") from exc


def _call_and_encode(procedure: Procedure, call_args: tuple[Any, ...]) -> tuple[Any, str]:
    result = procedure.function(*call_args)
    return result, _json(result)


def _finish(row_id: int, started: dt.datetime, answer: _Answer) -> None:
    now = utcnow()
    ProcedureCall.update(
        result=answer.result if answer.code is None else None,
        error_code=answer.code,
        error_shown=answer.shown,
        error=answer.detail if answer.code else None,
        finished_at=now,
        duration_ms=(now - started).total_seconds() * 1000.0,
    ).where(ProcedureCall.id == row_id).execute()
