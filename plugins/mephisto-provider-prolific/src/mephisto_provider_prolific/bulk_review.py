"""Review actions at Prolific for many submissions or workers in a few calls: bulk approval, bulk bonuses, blocks.

A reviewer's bulk approval of 200 submissions was 200 transitions (8 at a time, 5.8 s with Prolific answering in
0.2 s), and a bulk bonus four calls per submission one after the other (21.5 s). Prolific approves submissions of
any studies in one call, sets up one bulk bonus for many participants of a study and pays it in one more, sends one
message to many participants, and adds many members to a participant group in one call. The core asks for these
through `CrowdProvider.approve_work_many`, `pay_bonus_many`, `block_worker_many` and `unblock_worker_many` (the
provider lists them in `calls_for_many`).

What may go otherwise goes the one-by-one way of `review.py`, which knows every case: a submission still ACTIVE
(completed for the participant first), a bonus asked before (its record says how far it got), the same submission
twice in one bulk (one CSV line each).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from mephisto_core.abstractions import at_once
from mephisto_core.errors import ProviderError
from mephisto_provider_prolific.args import task_block_group_name
from mephisto_provider_prolific.bonus_journal import BonusRecord
from mephisto_provider_prolific.client import ProlificAPIError
from mephisto_provider_prolific.models import AWAITING_REVIEW
from mephisto_provider_prolific.money import bonus_text
from mephisto_provider_prolific.review import (
    UNDER_WAY,
    ProlificReviewMixin,
    bonus_message,
    bonus_sessions,
    bulk_lock,
    reason_not_sent,
    session_of,
    under_way_message,
)

if TYPE_CHECKING:
    from mephisto_core.abstractions import BonusOrder
    from mephisto_core.data_model import Agent, Worker

T = TypeVar("T")
R = TypeVar("R")

APPROVED = "APPROVED"
#: How long a bulk approval waits for Prolific to show the approvals it said are in progress, before the ones
#: still awaiting review are approved one by one (an approval asked twice is done once).
APPROVAL_WAIT_SECONDS = 10.0
#: statuses of a bulk approval refused for some of its submissions (not awaiting review, unknown): the others are
#: asked again; any other refusal (the token, the rate limit) would meet every one of them, and refuses them all
REFUSED_FOR_SOME = (400, 404)


class ProlificBulkReviewMixin(ProlificReviewMixin):
    """The many-at-once half of the provider's review actions (see the module docstring)."""

    # -- approvals ------------------------------------------------------------------------------------------------

    def approve_work_many(self, agents: Sequence[Agent], feedback: str) -> list[Exception | None]:
        """Approve the agents' submissions in one bulk approval, confirmed by reading them back; the ones it did
        not approve (not awaiting review, or not shown approved in time) are approved one by one."""
        outcomes: list[Exception | None] = [None] * len(agents)
        sessions: dict[int, str] = {}
        for index, agent in enumerate(agents):
            try:
                sessions[index] = session_of(agent)
            except ProviderError as exc:
                outcomes[index] = exc
        approved = self._bulk_approved(agents, set(sessions.values()))
        alone = [index for index, session in sessions.items() if session not in approved]
        answers = _each(lambda index: self._verdict(agents[index], {"action": "APPROVE"}), alone)
        for index, answer in zip(alone, answers, strict=True):
            outcomes[index] = answer if isinstance(answer, Exception) else None
        return outcomes

    def _bulk_approved(self, agents: Sequence[Agent], sessions: set[str]) -> set[str]:
        """The sessions Prolific shows approved after a bulk approval of `sessions` (none for fewer than two: one
        transition answers at once)."""
        if len(sessions) < 2:
            return set()
        studies = self._studies_of(agents)
        try:
            self.api.bulk_approve(sorted(sessions))
        except ProlificAPIError as exc:
            if exc.status not in REFUSED_FOR_SOME:
                raise
            # Refused as a whole for some of them (one not awaiting review, one Prolific does not know): once more
            # with those awaiting review; those approved already (a retry) are done.
            states = self._states(studies, sessions)
            already = {session for session in sessions if states.get(session) == APPROVED}
            sessions = {session for session in sessions if states.get(session) == AWAITING_REVIEW}
            if len(sessions) < 2:
                return already
            try:
                self.api.bulk_approve(sorted(sessions))
            except ProlificAPIError as again:
                if again.status not in REFUSED_FOR_SOME:
                    raise
                return already
            return already | self._confirmed(studies, sessions)
        return self._confirmed(studies, sessions)

    def _confirmed(self, studies: list[str], sessions: set[str]) -> set[str]:
        """The sessions shown APPROVED, read again while some still await review (Prolific approves in bulk in
        the background), for up to APPROVAL_WAIT_SECONDS."""
        deadline = time.monotonic() + APPROVAL_WAIT_SECONDS
        pause = 0.25
        while True:
            states = self._states(studies, sessions)
            waiting = any(states.get(session) == AWAITING_REVIEW for session in sessions)
            if not waiting or time.monotonic() + pause > deadline:
                return {session for session in sessions if states.get(session) == APPROVED}
            time.sleep(pause)
            pause = min(2 * pause, 2.0)

    def _states(self, studies: list[str], sessions: set[str]) -> dict[str, str]:
        """Each session's status at Prolific, read the cheaper way (a listing of the studies, or one call each)."""
        return {submission.id: submission.status for _, submission in self.held.read(self.api, studies, sessions)}

    def _studies_of(self, agents: Sequence[Agent]) -> list[str]:
        """The studies of the agents' runs, as this provider recorded them."""
        studies: list[str] = []
        for run_id in sorted({int(agent.task_run_id) for agent in agents}):
            state = self.store.load_run(run_id)
            if state is not None:
                studies.extend(study for study in state.studies if study not in studies)
        return studies

    # -- blocks ---------------------------------------------------------------------------------------------------

    def block_worker_many(self, workers: Sequence[Worker], reason: str) -> list[Exception | None]:
        """Add the participants to the workspace's block list in one call."""
        self.block_lists.add(self.pargs.block_list_group, [str(worker.name) for worker in workers])
        return [None] * len(workers)

    def unblock_worker_many(self, workers: Sequence[Worker]) -> list[Exception | None]:
        """Take the participants out of the workspace's block list in one call."""
        self.block_lists.remove(self.pargs.block_list_group, [str(worker.name) for worker in workers])
        return [None] * len(workers)

    def block_worker_for_task_many(
        self, workers: Sequence[Worker], task_name: str, reason: str
    ) -> list[Exception | None]:
        """Add the participants to the task's own block list in one call."""
        self.block_lists.add(task_block_group_name(self.pargs, task_name), [str(worker.name) for worker in workers])
        return [None] * len(workers)

    def unblock_worker_for_task_many(self, workers: Sequence[Worker], task_name: str) -> list[Exception | None]:
        """Take the participants out of the task's own block list in one call."""
        self.block_lists.remove(task_block_group_name(self.pargs, task_name), [str(worker.name) for worker in workers])
        return [None] * len(workers)

    # -- qualifications -------------------------------------------------------------------------------------------

    def grant_qualification_many(self, workers: Sequence[Worker], name: str, value: int) -> list[Exception | None]:
        """Keep the allow lists requiring `name` in step with the grant to all of `workers`: a call or two per run."""
        self.resync_allow_lists(workers, name, value)
        return [None] * len(workers)

    def revoke_qualification_many(self, workers: Sequence[Worker], name: str) -> list[Exception | None]:
        self.resync_allow_lists(workers, name, None)
        return [None] * len(workers)

    # -- bonuses --------------------------------------------------------------------------------------------------

    def pay_bonus_many(self, bonuses: Sequence[BonusOrder]) -> list[str | Exception | None]:
        """Pay new bonuses as one bulk bonus per study (set up, recorded, paid, recorded), their reasons sent as
        one message per text; a bonus asked before, or a second one on the same submission, goes `pay_bonus`'s
        way. Per bonus, the bulk bonus's id or the exception that refused it."""
        claimed = UNDER_WAY.claim([order.idempotency_key for order in bonuses])
        try:
            with self.store.bonus_lock.held():
                return self._pay_claimed_bonuses(bonuses, claimed)
        finally:
            UNDER_WAY.release(claimed)

    def _pay_claimed_bonuses(self, bonuses: Sequence[BonusOrder], claimed: set[str]) -> list[str | Exception | None]:
        outcomes: list[str | Exception | None] = [None] * len(bonuses)
        alone: list[int] = []
        fresh: dict[int, str] = {}  # index -> its submission, each once
        sessions_taken: set[str] = set()
        for index, session in enumerate(bonus_sessions([(order.worker, order.unit) for order in bonuses])):
            key = bonuses[index].idempotency_key
            if key not in claimed:
                outcomes[index] = ProviderError(under_way_message(key))
            elif isinstance(session, Exception):
                outcomes[index] = session
            elif self.store.bonus(key) is not None or session in sessions_taken:
                alone.append(index)
            else:
                fresh[index] = session
                sessions_taken.add(session)
        # Each submission's bonuses so far and its study: a retry after a crash tells a paid bonus by the count.
        submissions = _each(self.api.submission, list(fresh.values()))
        by_study: dict[str, list[tuple[int, int]]] = {}  # study -> [(index, bonuses before)]
        for index, submission in zip(fresh, submissions, strict=True):
            if isinstance(submission, Exception):
                outcomes[index] = submission
            else:
                before = len(submission.get("bonus_payments") or [])
                by_study.setdefault(str(submission["study_id"]), []).append((index, before))
        for study_id, members in by_study.items():
            paid = self._pay_in_one_bulk(study_id, members, bonuses, fresh)
            for index, _ in members:
                outcomes[index] = paid[index]
        answers = _each(lambda index: self._pay_alone(bonuses[index]), alone)
        for index, answer in zip(alone, answers, strict=True):
            outcomes[index] = answer
        return outcomes

    def _pay_alone(self, order: BonusOrder) -> str | None:
        return self.pay_claimed_bonus(order.worker, order.amount, order.reason, order.unit, order.idempotency_key)

    def _pay_in_one_bulk(
        self, study_id: str, members: list[tuple[int, int]], bonuses: Sequence[BonusOrder], sessions: dict[int, str]
    ) -> dict[int, str | Exception]:
        """One bulk bonus for `members` of one study, each step recorded before the next call (as `pay_bonus`
        does for one); per member index, the bulk bonus's id or what stopped it."""
        lines = [(str(bonuses[index].worker.name), bonus_text(bonuses[index].amount)) for index, _ in members]
        try:
            bulk = self.api.create_bonuses(study_id, lines)
        except ProviderError as exc:  # nothing set up, nothing paid
            return {index: exc for index, _ in members}
        records = {
            bonuses[index].idempotency_key: BonusRecord(
                bulk_id=bulk.id, submission_id=sessions[index], study_id=study_id, bonuses_before=before
            )
            for index, before in members
        }
        self.store.save_bonuses(records)
        try:
            with bulk_lock(bulk.id):
                self.pay_bulk(records)
        except ProviderError as exc:  # asked again, the records tell whether Prolific may have paid it
            return {index: exc for index, _ in members}
        outcomes: dict[int, str | Exception] = {index: bulk.id for index, _ in members}
        self._send_reasons(study_id, bulk.id, [index for index, _ in members], bonuses, outcomes)
        return outcomes

    def _send_reasons(
        self,
        study_id: str,
        bulk_id: str,
        indices: list[int],
        bonuses: Sequence[BonusOrder],
        outcomes: dict[int, str | Exception],
    ) -> None:
        """Each paid bonus's reason as a message (Prolific's bonus carries no text), one message per text."""
        by_text: dict[str, list[int]] = {}
        for index in indices:
            order = bonuses[index]
            if order.reason.strip():
                by_text.setdefault(bonus_message(order.amount, order.reason), []).append(index)
        for text, same in by_text.items():
            try:
                self.api.send_bulk_message([str(bonuses[index].worker.name) for index in same], text, study_id)
            except ProviderError as exc:
                error = reason_not_sent(bulk_id, exc)
                outcomes.update((index, error) for index in same)
                continue
            sent = {}
            for index in same:
                record = self.store.bonus(bonuses[index].idempotency_key)
                if record is not None:
                    record.reason_sent = True
                    sent[bonuses[index].idempotency_key] = record
            self.store.save_bonuses(sent)


def _each(fn: Callable[[T], R], items: Sequence[T]) -> list[R | Exception]:
    """`fn(item)` for each of `items`, several at once (`at_once`); per item its result or its exception."""

    def caught(item: T) -> R | Exception:
        try:
            return fn(item)
        except Exception as exc:
            return exc

    return at_once(caught, items, "prolific-each")
