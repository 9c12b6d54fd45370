"""Review actions at Prolific: approve, reject, bulk approve, bonuses (paid once per key), blocks, allow lists.

A submission is known by the agent's `provider_agent_id` (the SESSION_ID the participant arrived with).
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from mephisto_core.errors import ProviderError
from mephisto_provider_prolific.args import task_block_group_name
from mephisto_provider_prolific.bonus_journal import PAYMENT_SETTLES_SECONDS, BonusRecord
from mephisto_provider_prolific.client import ProlificAPIError
from mephisto_provider_prolific.eligibility import local_grants_of, meets_all
from mephisto_provider_prolific.models import AWAITING_REVIEW, MIN_REJECTION_MESSAGE
from mephisto_provider_prolific.money import bonus_text

if TYPE_CHECKING:
    from mephisto_core.data_model import Agent, Unit, Worker
    from mephisto_provider_prolific.api import ProlificAPI
    from mephisto_provider_prolific.args import ProlificArgs
    from mephisto_provider_prolific.block_lists import BlockLists
    from mephisto_provider_prolific.held import HeldSubmissions
    from mephisto_provider_prolific.state import StateStore


class ProlificReviewMixin:
    """The review half of `ProlificProvider` (it supplies `api`, `store`, `pargs`, `held`, `block_lists` and
    `type_name`)."""

    store: StateStore
    pargs: ProlificArgs
    held: HeldSubmissions
    block_lists: BlockLists

    if TYPE_CHECKING:  # declared for the type checker only: the provider's own property (built on first use) is it

        @property
        def api(self) -> ProlificAPI: ...

    # -- verdicts -------------------------------------------------------------------------------------------------

    def approve_work(self, agent: Agent, feedback: str) -> None:
        """Approve the agent's submission (already approved at Prolific counts as done)."""
        self._verdict(agent, {"action": "APPROVE"})

    def reject_work(self, agent: Agent, feedback: str) -> None:
        """Reject with the configured category; Prolific wants a message of at least 100 characters."""
        if len(feedback.strip()) < MIN_REJECTION_MESSAGE:
            raise ProviderError(
                f"Prolific requires a rejection message of at least {MIN_REJECTION_MESSAGE} characters that tells "
                f"the participant why (this one has {len(feedback.strip())}); write a longer feedback"
            )
        body = {"action": "REJECT", "message": feedback.strip(), "rejection_category": self.pargs.rejection_category}
        self._verdict(agent, body)

    def _verdict(self, agent: Agent, body: dict[str, Any]) -> None:
        session = session_of(agent)
        try:
            self.api.transition_submission(session, body)
            return
        except ProlificAPIError as exc:
            if exc.status != 400:
                raise
            submission = self.api.submission(session)
            status = str(submission.get("status", "?"))
            if status != "ACTIVE":
                if status == AWAITING_REVIEW:
                    raise
                raise ProviderError(
                    f"Prolific cannot {body['action'].lower()} submission {session}: it is {status}, not "
                    f"{AWAITING_REVIEW}"
                ) from None
        # The work was stored here, but the participant never came back to Prolific with the code (the page was
        # closed before the redirect): complete the submission for them with the study's code, then decide.
        self.api.transition_submission(
            session, {"action": "COMPLETE", "completion_code": self._code_for(agent, str(submission["study_id"]))}
        )
        self.api.transition_submission(session, body)

    def _code_for(self, agent: Agent, study_id: str) -> str:
        state = self.store.load_run(int(agent.task_run_id))
        code = None if state is None else state.codes.get(study_id)
        if code is None:
            raise ProviderError(
                f"submission {agent.provider_agent_id} is still ACTIVE at Prolific and the completion code of study "
                f"{study_id} is not on record here; complete it in Prolific's web app first"
            )
        return code

    # -- bonuses --------------------------------------------------------------------------------------------------

    def pay_bonus(
        self, worker: Worker, amount: Decimal, reason: str, unit: Unit | None, idempotency_key: str
    ) -> str | None:
        """Pay a bonus once per key: set it up at Prolific, record it, then pay it.

        The record (bonuses.jsonl) keeps the bulk bonus's id and how many bonuses the submission had before; a
        retry after a crash pays the recorded bulk bonus only when the submission shows no new bonus payment.
        """
        if not UNDER_WAY.claim([idempotency_key]):
            raise ProviderError(under_way_message(idempotency_key))
        try:
            with self.store.bonus_lock.held():
                return self.pay_claimed_bonus(worker, amount, reason, unit, idempotency_key)
        finally:
            UNDER_WAY.release([idempotency_key])

    def pay_claimed_bonus(
        self, worker: Worker, amount: Decimal, reason: str, unit: Unit | None, idempotency_key: str
    ) -> str | None:
        """`pay_bonus` of a key this thread claimed (`UNDER_WAY`), the folder's bonus lock held."""
        amount_text = bonus_text(amount)
        record = self.store.bonus(idempotency_key)
        if record is None:
            session = _bonus_session(worker, unit)
            submission = self.api.submission(session)
            before = len(submission.get("bonus_payments") or [])
            study_id = str(submission["study_id"])
            bulk = self.api.create_bonus(study_id, str(worker.name), amount_text)
            record = BonusRecord(bulk_id=bulk.id, submission_id=session, study_id=study_id, bonuses_before=before)
            self.store.save_bonus(idempotency_key, record)
            with bulk_lock(record.bulk_id):
                self.pay_bulk({idempotency_key: record})
        elif not record.paid:
            record = self._pay_recorded(idempotency_key, record)
        if not record.reason_sent and reason.strip() and record.study_id:
            # Prolific's bonus carries no text: the reason goes to the participant as a message.
            try:
                self.api.send_message(str(worker.name), bonus_message(amount, reason), record.study_id)
            except ProviderError as exc:
                raise reason_not_sent(record.bulk_id, exc) from None
            record.reason_sent = True
            self.store.save_bonus(idempotency_key, record)
        return record.bulk_id

    def _pay_recorded(self, key: str, record: BonusRecord) -> BonusRecord:
        """Pay the bulk bonus of a bonus asked before, unless it was paid: a bonus of a bulk of many is paid with
        all of them, so the bulk's records are read and settled together, one thread at a time per bulk."""
        with bulk_lock(record.bulk_id):
            bulk = self.store.bonuses_of_bulk(record.bulk_id)
            record = bulk.setdefault(key, record)
            if record.paid:  # another key of its bulk paid it meanwhile
                return record
            if record.pay_asked:
                paid_now = len(self.api.submission(record.submission_id).get("bonus_payments") or [])
                if paid_now > record.bonuses_before:  # the earlier attempt was paid; its answer was lost
                    for sibling in bulk.values():
                        sibling.paid = True
                    self.store.save_bonuses(bulk)
                    return record
                if record.settling(time.time()):
                    raise ProviderError(_still_settling(record))
            self.pay_bulk(bulk)
            return record

    def pay_bulk(self, bulk: dict[str, BonusRecord]) -> None:
        """Pay the one bulk bonus of `bulk`'s records (by key), each step saved on all of them before the next call
        to Prolific: asked, then paid; a refusal (nothing paid) undoes "asked". Hold `bulk_lock` of its id."""
        bulk_id = next(iter(bulk.values())).bulk_id
        for record in bulk.values():
            record.ask_to_pay()
        self.store.save_bonuses(bulk)
        try:
            self.api.pay_bonus(bulk_id)
        except ProlificAPIError as exc:
            if refused(exc):
                for record in bulk.values():
                    record.pay_refused()
                self.store.save_bonuses(bulk)
            raise
        for record in bulk.values():
            record.paid = True
        self.store.save_bonuses(bulk)

    # -- blocks and qualifications --------------------------------------------------------------------------------

    def block_worker(self, worker: Worker, reason: str) -> None:
        """Add the participant to the block-list group every study of this workspace excludes."""
        self.block_lists.add(self.pargs.block_list_group, [str(worker.name)])

    def unblock_worker(self, worker: Worker) -> None:
        self.block_lists.remove(self.pargs.block_list_group, [str(worker.name)])

    def block_worker_for_task(self, worker: Worker, task_name: str, reason: str) -> None:
        """Add the participant to the task's own block-list group, which that task's studies exclude."""
        self.block_lists.add(task_block_group_name(self.pargs, task_name), [str(worker.name)])

    def unblock_worker_for_task(self, worker: Worker, task_name: str) -> None:
        self.block_lists.remove(task_block_group_name(self.pargs, task_name), [str(worker.name)])

    def grant_qualification(self, worker: Worker, name: str, value: int) -> None:
        """Keep the allow lists of unfinished runs that require `name` in step with the new grant."""
        self.resync_allow_lists([worker], name, value)

    def revoke_qualification(self, worker: Worker, name: str) -> None:
        self.resync_allow_lists([worker], name, None)

    def resync_allow_lists(self, workers: Sequence[Worker], name: str, value: int | None) -> None:
        """Keep the allow lists of unfinished runs that require `name` in step with the workers' new grant of it
        (None: revoked; called before it is committed): those who meet every requirement of a run are added to its
        list, the others removed, one call each way per run for all the workers."""
        runs = [
            state
            for state in self.store.all_runs()
            if not state.finished
            and state.allow_group_id is not None
            and any(req.get("name") == name for req in state.requirements)
        ]
        if not runs:
            return
        grants = local_grants_of([worker.id for worker in workers])
        for held in grants.values():
            if value is None:
                held.pop(name, None)
            else:
                held[name] = value
        for state in runs:
            assert state.allow_group_id is not None  # chosen above
            meeting = {worker.id for worker in workers if meets_all(grants[worker.id], state.requirements)}
            self.api.add_to_group(state.allow_group_id, [str(w.name) for w in workers if w.id in meeting])
            self.api.remove_from_group(state.allow_group_id, [str(w.name) for w in workers if w.id not in meeting])

    # -- messages -------------------------------------------------------------------------------------------------

    def send_message(self, participant_id: str, body: str, study_id: str) -> None:
        """Send a message to a participant about a study (Prolific's messages)."""
        if not body.strip():
            raise ProviderError("the message to the participant is empty")
        self.api.send_message(participant_id, body, study_id)


def _still_settling(record: BonusRecord) -> str:
    asked_at = datetime.fromtimestamp(record.pay_asked_at or 0, UTC)
    settled_at = asked_at + timedelta(seconds=PAYMENT_SETTLES_SECONDS)
    return (
        f"paying bulk bonus {record.bulk_id} was asked at {asked_at:%H:%M:%S} UTC and its answer was lost; Prolific "
        f"pays in the background, so submission {record.submission_id} may not show it yet. Ask again after "
        f"{settled_at:%H:%M:%S} UTC: it is paid then only if Prolific still shows no new bonus."
    )


class BonusesUnderWay:
    """The bonus keys a call of this process is paying now. A call given up on (its timeout) goes on in the
    background; asked again meanwhile, before it saved its record, a second bulk bonus would be set up and paid for
    the same key. So the second call is refused until the first ends."""

    def __init__(self) -> None:
        self._keys: set[str] = set()
        self._lock = threading.Lock()

    def claim(self, keys: Sequence[str]) -> set[str]:
        """Claim the keys no other call is paying; those claimed (release them when done)."""
        with self._lock:
            free = set(keys) - self._keys
            self._keys |= free
            return free

    def release(self, keys: Iterable[str]) -> None:
        with self._lock:
            self._keys -= set(keys)


#: the bonuses being paid in this process (keys name one unit's bonus: one registry for every provider instance)
UNDER_WAY = BonusesUnderWay()


def bonus_message(amount: Decimal, reason: str) -> str:
    """The message that tells a participant why they got a bonus (Prolific's bonus carries no text)."""
    return f"Bonus of {bonus_text(amount)}: {reason.strip()}"


def reason_not_sent(bulk_id: str, exc: ProviderError) -> ProviderError:
    return ProviderError(
        f"the bonus was paid (bulk bonus {bulk_id}), but the message with its reason could not be sent: {exc}. "
        "Asking again sends the message only."
    )


def under_way_message(key: str) -> str:
    return (
        f"bonus {key} is being paid by a call still under way in this process (an earlier attempt, given up on "
        "while Prolific was slow); ask again once it has ended: it is paid once"
    )


#: locks shared out among bulk bonuses by their id: as many as a process will ever need, not one per bulk kept forever
_BULK_LOCKS = tuple(threading.Lock() for _ in range(64))


def bulk_lock(bulk_id: str) -> threading.Lock:
    """The lock of a bulk bonus in this process (shared with a few other bulks): its payment is decided by one
    thread at a time."""
    return _BULK_LOCKS[zlib.crc32(bulk_id.encode()) % len(_BULK_LOCKS)]


def refused(exc: ProlificAPIError) -> bool:
    """Whether Prolific answered with a refusal (HTTP 4xx, a 429 its retries did not get past): nothing was done.
    A 5xx or no answer leaves it unknown."""
    return exc.status is not None and 400 <= exc.status < 500


def session_of(agent: Agent) -> str:
    session = agent.provider_agent_id
    if not session:
        raise ProviderError(f"agent {agent.id} has no Prolific submission id (it did not arrive from Prolific)")
    return str(session)


def _bonus_session(worker: Worker, unit: Unit | None) -> str:
    """The submission a bonus goes with: the worker's agent on `unit`, else the worker's newest Prolific one."""
    session = bonus_sessions([(worker, unit)])[0]
    if isinstance(session, Exception):
        raise session
    return session


#: units whose agents are read in one statement (well within SQLite's limit on bound parameters)
UNITS_PER_READ = 500


def bonus_sessions(asks: Sequence[tuple[Worker, Unit | None]]) -> list[str | ProviderError]:
    """Per (worker, unit), the submission its bonus goes with: the worker's newest agent on the unit, or with no
    unit the worker's newest Prolific one; else the error saying there is none. Those on units are read together,
    UNITS_PER_READ units a statement."""
    from mephisto_core.data_model import Agent

    newest: dict[tuple[int, int | None], str] = {}
    unit_ids = sorted({unit.id for _, unit in asks if unit is not None})
    for start in range(0, len(unit_ids), UNITS_PER_READ):
        query = Agent.select(Agent.id, Agent.worker, Agent.unit, Agent.provider_agent_id).where(
            Agent.unit.in_(unit_ids[start : start + UNITS_PER_READ]) & Agent.provider_agent_id.is_null(False)
        )
        for agent in query.order_by(Agent.id):  # a later agent of the same worker on the unit wins
            newest[(agent.worker_id, agent.unit_id)] = str(agent.provider_agent_id)
    for worker in {worker.id: worker for worker, unit in asks if unit is None}.values():
        agent = (
            Agent.select(Agent.id, Agent.provider_agent_id)
            .where((Agent.worker == worker.id) & Agent.provider_agent_id.is_null(False))
            .order_by(Agent.id.desc())
            .first()
        )
        if agent is not None:
            newest[(worker.id, None)] = str(agent.provider_agent_id)
    sessions: list[str | ProviderError] = []
    for worker, unit in asks:
        session = newest.get((worker.id, None if unit is None else unit.id))
        sessions.append(session if session is not None else _no_submission(worker, unit))
    return sessions


def _no_submission(worker: Worker, unit: Unit | None) -> ProviderError:
    return ProviderError(
        f"worker {worker.name} has no Prolific submission{' on this unit' if unit is not None else ''}; "
        "Prolific pays bonuses only to participants of a study"
    )
