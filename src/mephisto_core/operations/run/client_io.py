"""ClientIOHandler: turns router envelopes into worker-pool calls and answers, and tracks which socket holds
which agent (for pushes and for noticing that a page went away).

Nothing here blocks the event loop: database work goes to the writer thread, file writes to a worker thread,
and no request waits for another: a worker's hello and submit (the messages of every unit) hand their job to the
writer, which calls back once it committed; the other requests run as tasks of their own.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import peewee as pw

from mephisto_core.abstractions.live import LiveAgent, LiveSession
from mephisto_core.abstractions.provider import PageCompletion, WorkerIdentity
from mephisto_core.operations.provider_calls import ProviderCalls
from mephisto_core.operations.run import metrics_hooks, platform_grants, quality_rules, upload_limits
from mephisto_core.operations.run.channel import RouterChannel
from mephisto_core.operations.run.db_writer import DatabaseWriter
from mephisto_core.operations.run.last_answers import LastAnswers
from mephisto_core.operations.run.late_answers import AgentKey, UnreadAnswers
from mephisto_core.operations.run.live_bridge import live_agent
from mephisto_core.operations.run.pool_groups import HELLO, ONBOARDING, SUBMIT, PoolGroup
from mephisto_core.operations.run.procedures import ProcedureService
from mephisto_core.operations.run.recent_counts import RecentCounts
from mephisto_core.operations.run.replies import Assigned, Expired, Failure, Preview, Refused, Submitted
from mephisto_core.operations.run.upload_limits import UploadLimitReached
from mephisto_core.operations.run.uploads import UPLOAD_ID, UploadStore
from mephisto_core.operations.run.worker_pool import WorkerPool
from mephisto_core.router.shards import shard_of_hello

log = logging.getLogger(__name__)

_OTHER_UNIT = "This page shows another unit than the one its connection holds now; reload the page."
_UPLOAD_NOT_STORED = "The server could not store this file right now; please try again."
# Files one worker may upload on one unit, over all its attempts (resends of the same upload_id count once;
# counted in the database, see upload_limits). With the router's per-file limit this bounds the disk one worker's
# unit can fill with files no submission ever lists; task.max_run_upload_mb bounds the whole run.
MAX_UPLOADS_PER_UNIT = 100


@dataclass(slots=True)
class _Binding:
    agent: AgentKey
    #: False for the attempt an `expired` answer named: submits reach it only to be refused with `gone`, and
    #: its socket closing starts no grace period (there is nothing left to release)
    live: bool = True
    #: where this page goes once its unit's submission is stored (from the provider's answer to its hello)
    completion: PageCompletion | None = None


class ClientIOHandler:
    """Serves the worker messages of one run that arrive over the router channel."""

    def __init__(
        self, pool: WorkerPool, writer: DatabaseWriter, uploads: UploadStore, calls: ProviderCalls | None = None
    ) -> None:
        self.pool = pool
        self.writer = writer
        #: a batch's quick hellos, submissions and onboarding submissions run together where they can
        self._pool_jobs = PoolGroup(pool)
        #: where `identify_worker` runs when the provider may reach its platform for it (None: inline)
        self.calls = calls
        self.uploads = uploads
        self.channel: RouterChannel | None = None
        self._bindings: dict[int, _Binding | None] = {}
        #: per router sharing the port (its shard's index; 0 for a router alone): the id it sent in its last
        #: channel hello (a new id is a new router process), and how many hellos it sent
        self._router_ids: dict[int, str | None] = {}
        self._channel_hellos: dict[int, int] = {}
        #: `submitted` answers pages may not have read (a finished run waits for them)
        self.unread = UnreadAnswers()
        #: the answers pages that may not have read their last one get from the router after the run ended
        self.last_answers = LastAnswers()
        self._agent_conns: dict[AgentKey, set[int]] = {}
        #: agents whose every socket closed, with the monotonic time it happened (grace period running)
        self.absent_since: dict[AgentKey, float] = {}
        self.refusals: Counter[str] = Counter()
        self.submissions = RecentCounts()
        self._limit_logged = False  # whether an upload refused by its limits was logged yet
        self._tasks: set[asyncio.Task[None]] = set()
        self._quick_pending = 0  # hello and submit messages on the quick way (no task) not answered yet
        #: answers `call` messages (remote procedures, operations/run/procedures.py)
        self.procedures = ProcedureService(pool.ctx.rules.procedures, writer, pool.ctx.run.id)
        #: the blueprint's live runtime (None: `live` messages are answered `unsupported`), and the agents it met
        self.live: LiveSession | None = None
        self._live_agents: dict[int, LiveAgent] = {}
        #: the loop the channel's envelopes arrive on, kept at the first: asking asyncio for the running loop
        #: costs a getpid() system call each time, twice per message on the quick way
        self._loop: asyncio.AbstractEventLoop | None = None

    # ---- channel callbacks --------------------------------------------------------------------------------

    async def on_envelope(self, envelope: dict[str, Any]) -> None:
        conn = envelope.get("conn")
        event = envelope.get("event")
        if event == "hello":
            self._reconcile(envelope)
            return
        if not isinstance(conn, int):
            log.warning("dropping a channel envelope without a connection id: %.200s", envelope)
            return
        if event == "open":
            self._bindings[conn] = None
        elif event == "close":
            self._closed(conn, left=envelope.get("left") is True)
        elif isinstance(msg := envelope.get("msg"), dict):
            self.unread.heard_from(conn)
            self.last_answers.read(conn)
            kind = msg.get("type")
            if kind == "submit" or (kind == "hello" and self._hello_is_quick()):
                # No task of its own: the writer calls back with the committed result. Started on the next loop
                # turn, as a task would be, so that a connection's messages still reach the writer in order.
                self._quick_pending += 1
                if self._loop is None:
                    self._loop = asyncio.get_running_loop()
                self._loop.call_soon(self._handle_quickly, conn, msg)
            else:
                self._spawn(self._handle_message(conn, msg))

    async def on_upload(self, conn: int, frame: bytes) -> None:
        self.unread.heard_from(conn)
        self.last_answers.read(conn)
        self._spawn(self._handle_upload(conn, frame))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- messages -----------------------------------------------------------------------------------------

    async def _handle_message(self, conn: int, msg: dict[str, Any]) -> None:
        kind, request_id = msg.get("type"), msg.get("id")
        if not isinstance(request_id, int):
            request_id = None
        try:
            if kind == "hello":
                await self._hello(conn, request_id, msg)
            elif kind == "submit":
                await self._submit(conn, request_id, msg)
            elif kind == "call":
                await self._call(conn, request_id, msg)
            elif kind == "live":
                await self._live_message(conn, request_id, msg)
            else:
                self.send(conn, Failure("bad_message", f"unknown message type {kind!r}").message(request_id))
        except Exception:
            self._failed(conn, request_id, kind)

    # A worker's hello and submit, the messages of every unit, take the quick way when nothing in them has to
    # wait for anything but the database: no task per message, the writer calls `_answer_*` back once committed.

    def _hello_is_quick(self) -> bool:
        """Whether a hello needs nothing but the writer: no provider call off-thread, no live runtime to join."""
        return self.live is None and (self.calls is None or self.pool.ctx.provider.identifies_workers_locally)

    def _handle_quickly(self, conn: int, msg: dict[str, Any]) -> None:
        kind, request_id = msg.get("type"), msg.get("id")
        if not isinstance(request_id, int):
            request_id = None
        queued = False
        try:
            if kind == "submit":
                queued = self._start_submit(conn, request_id, msg)
            else:
                queued = self._start_hello(conn, request_id, msg)
        except Exception:  # as in _handle_message
            self._failed(conn, request_id, kind)
        finally:
            if not queued:  # answered at once (a malformed message) or failed
                self._quick_pending -= 1

    def _failed(self, conn: int, request_id: int | None, kind: Any, error: BaseException | None = None) -> None:
        # An operator bug must not take the run down; the worker is told to retry and we keep the trace.
        log.error("failed to handle a %r message", kind, exc_info=error if error is not None else True)
        self.send(conn, Failure("unavailable", "The server hit a problem; please try again.").message(request_id))

    def _start_hello(self, conn: int, request_id: int | None, msg: dict[str, Any]) -> bool:
        """Queue the hello's registration (True), or answer a malformed hello at once (False)."""
        checked = self._hello_params(conn, request_id, msg)
        if checked is None:
            return False
        done = self._when_committed(conn, request_id, "hello", functools.partial(self._answer_hello, conn, request_id))
        self.writer.call_grouped_then(self._pool_jobs, (HELLO, *checked, None), done, self._loop)
        return True

    def _start_submit(self, conn: int, request_id: int | None, msg: dict[str, Any]) -> bool:
        """Queue the submission (True), or answer a submit that cannot be stored at once (False)."""
        checked = self._submit_params(conn, request_id, msg)
        if checked is None:
            return False
        arrived, binding, key, outputs, uploads = checked
        is_onboarding, agent_id = binding.agent
        answer = functools.partial(self._answer_submit, conn, request_id, arrived, binding)
        done = self._when_committed(conn, request_id, "submit", answer)
        if is_onboarding:
            job: tuple[Any, ...] = (ONBOARDING, agent_id, key, outputs, uploads)
        else:
            job = (SUBMIT, agent_id, is_onboarding, key, outputs, uploads)
        self.writer.call_grouped_then(self._pool_jobs, job, done, self._loop)
        return True

    def _when_committed(
        self, conn: int, request_id: int | None, kind: str, answer: Callable[[Any], None]
    ) -> Callable[[bool, Any], None]:
        """The writer's callback for a quick message: `answer` the committed result, or tell the page to retry."""

        def done(ok: bool, result: Any) -> None:
            try:
                if not ok:
                    raise result
                answer(result)
            except Exception as exc:
                self._failed(conn, request_id, kind, exc)
            finally:
                self._quick_pending -= 1

        return done

    def _hello_params(self, conn: int, request_id: int | None, msg: dict[str, Any]) -> tuple[Any, Any] | None:
        """(params, token) of a well-formed hello; None when the page was told what is wrong with it."""
        params, token = msg.get("params", {}), msg.get("token")
        if not isinstance(params, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in params.items()
        ):
            self.send(conn, Failure("bad_message", "hello.params must be an object of strings").message(request_id))
            return None
        if token is not None and not (isinstance(token, str) and len(token) <= 128):
            self.send(conn, Failure("bad_message", "hello.token must be a string or null").message(request_id))
            return None
        return params, token

    def _answer_hello(self, conn: int, request_id: int | None, result: Assigned | Expired | Preview | Refused) -> None:
        if isinstance(result, Assigned):
            self._bind(conn, (result.is_onboarding, result.agent_id), result.completion)
        elif isinstance(result, Expired):
            self._bind_expired(conn, result)
        elif isinstance(result, Refused):
            self.refusals[result.reason.value] += 1
        self.send(conn, result.message(request_id))

    async def _hello(self, conn: int, request_id: int | None, msg: dict[str, Any]) -> None:
        checked = self._hello_params(conn, request_id, msg)
        if checked is None:
            return
        params, token = checked
        identity: WorkerIdentity | None = None  # None: the worker pool asks the provider inline
        provider = self.pool.ctx.provider
        if self.calls is not None and not provider.identifies_workers_locally:
            # Off the writer thread: a platform slow to say who this is holds up this page only.
            identity = await self.calls.call(provider.identify_worker, params)
        result = await self.writer.call(self.pool.register, params, token, identity)
        self._answer_hello(conn, request_id, result)
        if isinstance(result, Assigned) and self.live is not None and not result.is_onboarding and not result.submitted:
            await self._live_join(result.agent_id)  # after the answer: the page listens for live frames from then
        elif isinstance(result, Assigned) and self.live is not None and not result.submitted:
            await self.live.on_onboarding_join(result.agent_id)  # an open onboarding attempt of a live task

    async def _submit(self, conn: int, request_id: int | None, msg: dict[str, Any]) -> None:
        checked = self._submit_params(conn, request_id, msg)
        if checked is None:
            return
        arrived, binding, key, outputs, uploads = checked
        is_onboarding, agent_id = binding.agent
        result = await self.writer.call(self.pool.submit, agent_id, is_onboarding, key, outputs, uploads)
        self._answer_submit(conn, request_id, arrived, binding, result)

    def _submit_params(
        self, conn: int, request_id: int | None, msg: dict[str, Any]
    ) -> tuple[float, _Binding, str, dict[str, Any], list[str]] | None:
        """(arrival time, binding, submit_key, outputs, upload ids) of a well-formed submit for the connection's
        unit; None when the page was told what is wrong with it."""
        arrived = time.monotonic()
        binding = self._bindings.get(conn)
        if binding is None:
            self.send(conn, Failure("not_assigned", "Send hello before submitting.").message(request_id))
            return None
        key, outputs, uploads = msg.get("submit_key"), msg.get("outputs"), msg.get("uploads", [])
        problem = None
        if not (isinstance(key, str) and 8 <= len(key) <= 128):
            problem = "submit.submit_key must be a string of 8 to 128 characters"
        elif not isinstance(outputs, dict):
            problem = "submit.outputs must be an object"
        elif not (isinstance(uploads, list) and (not uploads or all(isinstance(u, str) for u in uploads))):
            problem = "submit.uploads must be a list of upload ids"
        if problem is not None:
            self.send(conn, Failure("bad_message", problem).message(request_id))
            return None
        shown = msg.get("agent_id")
        if shown is not None and shown != binding.agent[1]:
            # The page says which attempt's data it shows: an answer is stored on that attempt's unit or nowhere.
            self.send(conn, Failure("not_your_unit", _OTHER_UNIT).message(request_id))
            return None
        return arrived, binding, key, outputs, uploads  # type: ignore[return-value]  # checked above

    def _answer_submit(
        self, conn: int, request_id: int | None, arrived: float, binding: _Binding, result: Submitted | Failure
    ) -> None:
        is_onboarding, agent_id = binding.agent
        if isinstance(result, Submitted) and not is_onboarding:
            if not result.replay:
                now = time.monotonic()
                self.submissions.add(now)
                metrics_hooks.observe_ack(now - arrived)
            if binding.completion is not None:
                result = replace(result, completion=binding.completion)
        self.send(conn, result.message(request_id))
        if isinstance(result, Submitted) and not is_onboarding:
            socket_open = conn in self._bindings
            self.unread.answered(conn, binding.agent, socket_open, time.monotonic())
            self.last_answers.answered(conn, agent_id, result, socket_open=socket_open)
        if isinstance(result, Submitted) and result.platform_grants and self.calls is not None:
            # Committed: the platform hears of the grants after the worker's answer, at its own pace.
            self._spawn(platform_grants.push(self.calls, self.writer, result.platform_grants))
        rules = self.pool.ctx.config.task.quality_rules
        if rules and isinstance(result, Submitted) and not result.replay and not is_onboarding:
            # After the answer, as its own writer job: the task file's rules never slow an acknowledgement.
            self._spawn(quality_rules.after_submit(self.pool.ctx, self.writer, self.calls, agent_id))

    async def _live_join(self, agent_id: int) -> None:
        agent = await self.writer.call(live_agent, agent_id)
        if agent is not None and self.live is not None:
            self._live_agents[agent_id] = agent
            await self.live.on_join(agent)

    async def _live_message(self, conn: int, request_id: int | None, msg: dict[str, Any]) -> None:
        binding = self._bindings.get(conn)
        if self.live is None:
            self.send(conn, Failure("unsupported", "This task type does not take live messages.").message(request_id))
            return
        if binding is not None and binding.agent[0] and binding.live:
            await self.live.on_onboarding_message(binding.agent[1], msg.get("data"))
            return
        agent = self._live_agents.get(binding.agent[1]) if binding is not None and not binding.agent[0] else None
        if agent is None or not binding or not binding.live:
            self.send(conn, Failure("not_assigned", "Live messages need a unit; send hello first.").message(request_id))
            return
        await self.live.on_message(agent, msg.get("data"))

    async def _call(self, conn: int, request_id: int | None, msg: dict[str, Any]) -> None:
        binding = self._bindings.get(conn)
        if binding is None:
            self.send(conn, Failure("not_assigned", "Send hello before calling.").message(request_id))
        elif not binding.live:
            self.send(conn, Failure("gone", "This unit is over; calls are closed.").message(request_id))
        elif binding.agent[0]:
            text = "Remote procedures are not available during onboarding."
            self.send(conn, Failure("unsupported", text).message(request_id))
        elif msg.get("agent_id") not in (None, binding.agent[1]):
            self.send(conn, Failure("not_your_unit", _OTHER_UNIT).message(request_id))
        else:
            self.send(conn, await self.procedures.handle(binding.agent[1], request_id, msg))

    async def _handle_upload(self, conn: int, frame: bytes) -> None:
        request_id: int | None = None
        try:
            header_len = int.from_bytes(frame[:4], "big")
            header = json.loads(frame[4 : 4 + header_len])
            data = frame[4 + header_len :]
            if not isinstance(header, dict):
                raise ValueError("the header is not a JSON object")
            request_id = header.get("id") if isinstance(header.get("id"), int) else None
            upload_id, field = header.get("upload_id"), header.get("field")
            name, content_type = header.get("name"), header.get("content_type", "application/octet-stream")
            if not (isinstance(upload_id, str) and UPLOAD_ID.match(upload_id)):
                raise ValueError("upload_id must be 8-64 characters of A-Z, a-z, 0-9, '_' or '-'")
            if not (isinstance(field, str) and isinstance(name, str) and isinstance(content_type, str)):
                raise ValueError("field, name and content_type must be strings")
        except (ValueError, UnicodeDecodeError) as exc:
            self.send(conn, Failure("bad_message", f"bad upload frame: {exc}").message(request_id))
            return
        binding = self._bindings.get(conn)
        if binding is None or binding.agent[0] or not binding.live:
            self.send(conn, Failure("not_assigned", "Uploads need a unit; send hello first.").message(request_id))
            return
        agent_id = binding.agent[1]
        path = self.uploads.relative_path(upload_id, name)
        limits = (MAX_UPLOADS_PER_UNIT, self.pool.ctx.config.task.max_run_upload_mb)
        try:
            fresh = await self.writer.call(upload_limits.reserve_upload, agent_id, upload_id, path, len(data), *limits)
        except UploadLimitReached as exc:
            self._log_limit_once(agent_id, exc)
            self.send(conn, Failure("upload_limit", str(exc)).message(request_id))
            return
        except ValueError as exc:
            self.send(conn, Failure("bad_message", str(exc)).message(request_id))
            return
        except Exception as exc:  # the database failing (a full disk, a lock): raw driver errors included
            log.warning(
                "could not record upload %s of agent %d (%s: %s); the page was told to retry",
                upload_id,
                agent_id,
                type(exc).__name__,
                exc,
            )
            self.send(conn, Failure("unavailable", _UPLOAD_NOT_STORED).message(request_id))
            return
        try:
            stored = await asyncio.to_thread(self.uploads.save, upload_id, agent_id, field, name, content_type, data)
        except (ValueError, OSError) as exc:
            if fresh:
                await self._forget_upload(upload_id)  # not stored: it must not count towards the limits
            if isinstance(exc, ValueError):
                self.send(conn, Failure("bad_message", str(exc)).message(request_id))
                return
            # A full disk, a quota or an I/O error is the server's problem and may pass: the page retries the same
            # upload_id later. UploadStore.save has removed whatever it had half-written.
            code = errno.errorcode.get(exc.errno or 0, str(exc.errno))
            log.error(
                "could not store upload %s of agent %d at %s: %s %s; the page was told to retry",
                upload_id,
                agent_id,
                exc.filename or self.uploads.folder(upload_id),
                code,
                exc.strerror or exc,
            )
            self.send(conn, Failure("unavailable", _UPLOAD_NOT_STORED).message(request_id))
            return
        if stored.path != path:  # an earlier process stored this upload_id under the name sent then
            await self.writer.call(upload_limits.correct_path, upload_id, stored.path)
        self.send(conn, {"type": "upload_ack", "id": request_id, "upload_id": upload_id})

    async def _forget_upload(self, upload_id: str) -> None:
        try:
            await self.writer.call(upload_limits.forget_upload, upload_id)
        except Exception as exc:  # as for recording it: any database failure
            # Then the record stays: a resend of this upload_id reuses it, and the sweep finds it without a file.
            log.warning("could not forget the record of the unstored upload %s (%s)", upload_id, exc)

    def _log_limit_once(self, agent_id: int, exc: UploadLimitReached) -> None:
        """Tell the researcher the first time a limit refuses a file (pages may try many more)."""
        if not self._limit_logged:
            self._limit_logged = True
            log.warning(
                "an upload of agent %d was refused: %s (task.max_run_upload_mb sets the run's quota)",
                agent_id,
                str(exc),
            )

    # ---- sockets and agents -------------------------------------------------------------------------------

    def send(self, conn: int, msg: dict[str, Any]) -> None:
        if self.channel is not None:
            self.channel.send({"conn": conn, "msg": msg})

    def push_live(self, agent: AgentKey, data: Any) -> None:
        """Push a `live` message to every page holding `agent`."""
        for conn in self._agent_conns.get(agent, ()):
            self.send(conn, {"type": "live", "data": data})

    def has_page(self, agent: AgentKey) -> bool:
        """Whether a page holding `agent` is connected."""
        return bool(self._agent_conns.get(agent))

    def push_status(self, agent: AgentKey, status: str) -> None:
        """Tell every page holding `agent` that its status changed (e.g. timed out)."""
        for conn in self._agent_conns.get(agent, ()):
            self.send(conn, {"type": "status", "status": status})

    def _bind(self, conn: int, agent: AgentKey, completion: PageCompletion | None = None) -> None:
        previous = self._bindings.get(conn)
        if previous is not None and previous.agent != agent:
            self._agent_conns.get(previous.agent, set()).discard(conn)
        self._bindings[conn] = _Binding(agent, True, completion)
        self.unread.back(agent)
        conns = self._agent_conns.get(agent)
        if conns is None:
            self._agent_conns[agent] = {conn}
        else:
            conns.add(conn)
        if self.absent_since:
            self.absent_since.pop(agent, None)

    def _bind_expired(self, conn: int, expired: Expired) -> None:
        """Point the socket at the attempt that is over, so a submit for it gets `gone`; no unit in its place."""
        self._unbind(conn)
        if expired.agent_id is None:
            self._bindings[conn] = None
        else:
            self._bindings[conn] = _Binding((False, expired.agent_id), live=False)

    def _closed(self, conn: int, *, left: bool = False) -> None:
        """The page socket `conn` closed; `left` when the page closed it itself (the router says so)."""
        binding = self._bindings.get(conn)
        self.unread.closed(conn, binding.agent if binding is not None else None, time.monotonic(), page_left=left)
        if left:
            self.last_answers.read(conn)
        else:
            self.last_answers.lost(conn)
        self._unbind(conn)

    def _unbind(self, conn: int) -> None:
        binding = self._bindings.pop(conn, None)
        if binding is None or not binding.live:
            return
        conns = self._agent_conns.get(binding.agent)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self._agent_conns[binding.agent]
                self.absent_since[binding.agent] = time.monotonic()
                if self.live is not None and binding.agent[1] in self._live_agents and not binding.agent[0]:
                    self._spawn(self.live.on_leave(binding.agent[1]))

    def _reconcile(self, hello: dict[str, Any]) -> None:
        """Match our bindings to the sockets the router lists in its channel `hello`.

        A page that left while the channel was down had its `close` envelope dropped with the old channel, so a
        bound socket the router no longer lists is unbound as if that `close` had arrived (its agent's grace
        period starts now). A different router id means a new router process, whose connection ids start over
        and name other sockets: then every binding is stale. Of routers sharing the port (the hello's `shard`),
        only the sockets of the one that said hello are matched: the others' are theirs.
        """
        conns, router_id = hello.get("conns"), hello.get("router_id")
        shard = shard_of_hello(hello.get("shard"))
        if not isinstance(conns, list) or shard is None:
            log.warning("router channel hello without a list of connections or with a bad shard: %.200s", hello)
            return
        listed = {conn for conn in conns if isinstance(conn, int) and not isinstance(conn, bool)}
        known_id = self._router_ids.get(shard.index)
        if known_id is not None and router_id != known_id:
            log.warning("the router restarted (id %s, was %s): its pages reconnect", router_id, known_id)
            still_open: set[int] = set()
        else:
            still_open = listed
        gone = [conn for conn in self._bindings if conn not in still_open and shard.owner_of(conn) == shard.index]
        for conn in gone:
            self._closed(conn)
        if gone:
            log.info("%d page socket(s) closed while the router channel was down", len(gone))
        for conn in listed:
            self._bindings.setdefault(conn, None)
        hellos = self._channel_hellos[shard.index] = self._channel_hellos.get(shard.index, 0) + 1
        if hellos > 1:
            self.unread.channel_restored(time.monotonic())
        self._router_ids[shard.index] = router_id if isinstance(router_id, str) else None

    def watch_absent(self, agents: list[AgentKey]) -> None:
        """Start the grace period for agents no page is connected for (after a restart)."""
        now = time.monotonic()
        for agent in agents:
            if agent not in self._agent_conns:
                self.absent_since.setdefault(agent, now)

    def forget_agent(self, agent: AgentKey) -> None:
        self.absent_since.pop(agent, None)
        if not agent[0]:
            self._live_agents.pop(agent[1], None)

    async def answers_after_run_over(self) -> list[dict[str, Any]]:
        """What the router is to answer pages that may come back for their last answer after the run ended."""
        kept = self.last_answers.kept()
        if not kept:
            return []
        try:
            hello_answers = await self.writer.call(self.pool.hello_answers, kept)
        except pw.PeeweeException as exc:
            # The run is over either way: the router is still told so, and these pages only that it ended.
            log.warning(
                "could not read what %d page(s) may come back for (%s): they are told the task ended", len(kept), exc
            )
            return []
        return self.last_answers.handover(hello_answers)

    async def check_answers_delivered(self, timeout: float) -> None:
        """Find out whether the `submitted` answers sent so far reached the router (for `unread`)."""
        if self.channel is None or not self.unread.undelivered():
            return
        began = time.monotonic()
        if await self.channel.delivered(timeout):
            self.unread.delivered_before(began)

    def connected_agents(self) -> int:
        """How many agents (units and onboardings) a page holds with an open socket right now."""
        # Called from the metrics thread: list() copies the values in one step under the GIL. A rebound socket
        # may leave an empty set behind, which is not a connection.
        return sum(1 for conns in list(self._agent_conns.values()) if conns)

    def in_flight(self) -> int:
        """Messages being handled: tasks, and hello and submit messages waiting for the writer's answer."""
        return len(self._tasks) + self._quick_pending

    def submissions_in_last(self, seconds: float) -> int:
        return self.submissions.in_last(seconds, time.monotonic())
