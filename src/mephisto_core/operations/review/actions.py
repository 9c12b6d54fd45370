"""Review actions: approve, reject, soft-reject, bonus, block and unblock, grant and revoke qualifications.

Every action goes through the run's provider plugin first (the platform pays, rejects or blocks), and only when the
provider succeeded is the status change and a `Review` record committed. A provider failure raises ProviderError
and leaves the database untouched. Used by `mephisto review` (web and terminal) and by scripts.

Money goes through the payments ledger (operations/payments.py): the reward paid on approval (or soft
rejection) and every bonus are written as an intent before the provider call and settled after it, under an
idempotency key, so a retry or a second press pays once; a bonus is refused when it would pass the task's
`max_budget` (operations/budget.py).

The provider acts as the requester the work ran under (a unit's run's requester; for a worker, every requester
whose runs they worked on), with that requester's credentials as stored at the moment of the action.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import peewee as pw

from mephisto_core.abstractions import BonusOrder, CrowdProvider
from mephisto_core.abstractions.platform_sync import PlatformOutcome
from mephisto_core.data_model import (
    Agent,
    AgentStatus,
    Database,
    OnboardingAgent,
    Requester,
    Review,
    ReviewKind,
    TaskRun,
    Unit,
    UnitStatus,
    Worker,
)
from mephisto_core.data_model.payments import PaymentKind
from mephisto_core.data_model.qualifications import (
    BLOCK_DESCRIPTION,
    BLOCK_QUALIFICATION,
    granted_value,
    granted_values,
    task_blocked_qualification,
)
from mephisto_core.data_model.statuses import check_unit_transition
from mephisto_core.data_model.transitions import (
    set_agent_status,
    set_agents_status,
    set_unit_status,
    set_units_status,
)
from mephisto_core.errors import MephistoError, NotFound, ProviderError
from mephisto_core.operations.budget import BudgetTally, task_budget
from mephisto_core.operations.payments import (
    PaymentLedger,
    PaymentRequest,
    Payout,
    PayTogether,
    bonus_key,
    default_bonus_client_key,
    reward_key,
)
from mephisto_core.operations.provider_calls import ProviderCallTimeout, call_blocking
from mephisto_core.operations.providers import provider_for_run
from mephisto_core.operations.recorded_calls import Together, call_all
from mephisto_core.operations.review.worker_changes import LocalChange, WorkerChange
from mephisto_core.settings import Settings, requester_credentials

_VERDICTS = {
    ReviewKind.APPROVE: (UnitStatus.ACCEPTED, AgentStatus.APPROVED, "approve_work"),
    ReviewKind.REJECT: (UnitStatus.REJECTED, AgentStatus.REJECTED, "reject_work"),
    ReviewKind.SOFT_REJECT: (UnitStatus.SOFT_REJECTED, AgentStatus.SOFT_REJECTED, "soft_reject_work"),
}


class ReviewActions:
    """Review operations on an open database; `reviewer` is recorded with every action."""

    def __init__(self, database: Database, settings: Settings, reviewer: str = "") -> None:
        self.database = database
        self.settings = settings
        self.reviewer = reviewer
        self.ledger = PaymentLedger(database)
        # Keyed by run and the requester's credentials as read for the action: a rotated key builds anew.
        self._providers: dict[tuple[int, str], CrowdProvider] = {}
        # What `workers_read_together` read, for the thread inside it only (the review app serves other requests
        # in other threads meanwhile).
        self._inside = threading.local()

    # ---- verdicts on units --------------------------------------------------------------------------------

    def approve(self, unit_id: int, feedback: str = "") -> None:
        """Accept a submitted unit (the worker is paid)."""
        self._verdict(unit_id, ReviewKind.APPROVE, feedback)

    def reject(self, unit_id: int, feedback: str) -> None:
        """Reject a submitted unit (not paid); feedback tells the worker why and is required."""
        self._verdict(unit_id, ReviewKind.REJECT, feedback)

    def soft_reject(self, unit_id: int, feedback: str = "") -> None:
        """Pay for a submitted unit but mark its work as not usable."""
        self._verdict(unit_id, ReviewKind.SOFT_REJECT, feedback)

    def _verdict(self, unit_id: int, kind: ReviewKind, feedback: str) -> None:
        error = self.decide_all([unit_id], kind, feedback)[0]
        if error is not None:
            raise error

    def decide_all(self, unit_ids: Sequence[int], kind: ReviewKind, feedback: str = "") -> list[MephistoError | None]:
        """The verdict `kind` (approve, reject or soft-reject) on each unit, with one feedback for all.

        The platforms are asked for several units at once (`recorded_calls.CALLS_AT_ONCE`), or for many in one
        call where the provider can (`CrowdProvider.calls_for_many`), and each verdict is recorded as its
        platform answers. Returns per unit, in order, None when done, or the error that refused
        it, with nothing of it recorded: one unit's refusal (approved already, say) does not stop the others.
        """
        if kind not in _VERDICTS:
            raise ValueError(f"not a verdict: {kind}")
        if kind is ReviewKind.REJECT and not feedback.strip():
            raise MephistoError("rejecting needs feedback that tells the worker why")
        outcomes: list[Exception | None] = [None] * len(unit_ids)
        paid: list[tuple[int, Payout]] = []
        unpaid: list[tuple[int, _Verdict]] = []
        runs: dict[int, _RunFacts] = {}
        by_key: dict[str, _Verdict] = {}  # the paid verdicts by payment key, for the payouts asked together
        fetched = _submitted_units(unit_ids)
        for index, unit_id in enumerate(unit_ids):
            try:
                verdict = self._prepared_verdict(unit_id, kind, feedback, runs, fetched)
            except MephistoError as exc:
                outcomes[index] = exc
                continue
            if verdict.reward <= 0 or kind is ReviewKind.REJECT:
                unpaid.append((index, verdict))
            else:  # the verdict pays the reward: once per agent, its ledger row settled with the verdict
                paid.append((index, self._reward_payout(verdict, runs[verdict.unit.task_run_id], by_key)))
        for (index, _), outcome in zip(paid, self.ledger.pay_all([payout for _, payout in paid]), strict=True):
            outcomes[index] = outcome if isinstance(outcome, Exception) else None
        verdicts = [verdict for _, verdict in unpaid]
        errors = call_all(
            self.database,
            verdicts,
            _Verdict.ask_platform,
            lambda verdict, _: verdict.record(),
            record_together=lambda answered: _Verdict.record_all([verdict for verdict, _ in answered]),
            together=Together(_Verdict.together_key, _Verdict.ask_platform_together),
        )
        for (index, _), error in zip(unpaid, errors, strict=True):
            outcomes[index] = error
        return [None if outcome is None else _refusal(outcome) for outcome in outcomes]

    def _prepared_verdict(
        self,
        unit_id: int,
        kind: ReviewKind,
        feedback: str,
        runs: dict[int, _RunFacts],
        fetched: _Fetched | None = None,
    ) -> _Verdict:
        """What deciding `unit_id` needs; refused (MephistoError) before any platform is asked."""
        unit_status, agent_status, provider_call = _VERDICTS[kind]
        unit, agent, _ = self._submitted_unit(unit_id, fetched)
        check_unit_transition(unit.status, unit_status.value)  # refuse before calling the platform
        provider = self._run_facts(unit.task_run_id, runs).provider
        reward = Decimal(str(unit.pay_amount)).quantize(Decimal("0.01"))  # SQLite hands 0.50 back as 0.5
        statuses = (unit_status, agent_status)
        return _Verdict(unit, agent, provider, provider_call, kind, *statuses, feedback, reward, self.reviewer)

    def _reward_payout(self, verdict: _Verdict, run: _RunFacts, by_key: dict[str, _Verdict]) -> Payout:
        unit, agent = verdict.unit, verdict.agent
        key = reward_key(unit.id, agent.id)
        request = self._payment_request(
            PaymentKind.REWARD, key, run, unit, agent.worker_id, verdict.reward, verdict.feedback
        )
        by_key[key] = verdict
        group = verdict.together_key()
        together = None
        if group is not None:
            together = PayTogether(group, lambda keys: _Verdict.ask_platform_together([by_key[k] for k in keys]))
        return Payout(request, lambda _key: verdict.ask_platform(), on_paid=verdict, together=together)

    # ---- money and workers --------------------------------------------------------------------------------

    def bonus(self, unit_id: int, amount: Decimal | str | float, reason: str, client_key: str | None = None) -> bool:
        """Pay the worker of a unit an extra `amount` with a reason they will see, once per `client_key`.

        The review app and terminal send a key made when the bonus was asked for, so a second press or a
        retry after a crash pays nothing more; without one, the same amount and reason on the unit are the same
        bonus. Works during the run and after it. Returns False when that bonus was paid already.
        """
        outcome = self.bonus_all([unit_id], amount, reason, client_key)[0]
        if isinstance(outcome, MephistoError):
            raise outcome
        return outcome

    def bonus_all(
        self, unit_ids: Sequence[int], amount: Decimal | str | float, reason: str, client_key: str | None = None
    ) -> list[bool | MephistoError]:
        """`bonus` of `amount` on each unit's worker, the platforms asked for several at once.

        Each bonus is checked against its task's budget in turn, the ones before it counted, before any is paid.
        Returns per unit, in order: True when paid now, False when paid already, or the error that refused it.
        """
        value = money(amount)
        outcomes: list[bool | MephistoError] = [False] * len(unit_ids)
        payouts: list[tuple[int, Payout]] = []
        runs: dict[int, _RunFacts] = {}
        budget = BudgetTally()  # each task's committed cost read once for the bulk, each bonus added to it
        fetched = _submitted_units(unit_ids, with_workers=True)
        asked: list[tuple[int, Payout]] = []
        orders: dict[str, BonusOrder] = {}  # by payment key, for the payouts asked together
        for index, unit_id in enumerate(unit_ids):
            try:
                payout = self._bonus_payout(unit_id, value, reason, client_key, runs, budget, fetched, orders)
                asked.append((index, payout))
            except MephistoError as exc:
                outcomes[index] = exc
        paid_already = self.ledger.paid_already([payout.request for _, payout in asked])
        payouts = [(index, payout) for index, payout in asked if payout.request.idempotency_key not in paid_already]
        for (index, _), paid in zip(payouts, self.ledger.pay_all([payout for _, payout in payouts]), strict=True):
            outcomes[index] = _refusal(paid) if isinstance(paid, Exception) else True
        return outcomes

    def _bonus_payout(
        self,
        unit_id: int,
        value: Decimal,
        reason: str,
        client_key: str | None,
        runs: dict[int, _RunFacts],
        budget: BudgetTally,
        fetched: _Fetched | None,
        orders: dict[str, BonusOrder],
    ) -> Payout:
        unit, agent, worker = self._submitted_unit(unit_id, fetched)
        run = self._run_facts(unit.task_run_id, runs)
        provider = run.provider
        worker = worker or Worker.get_by_id(agent.worker_id)
        key = bonus_key(unit.id, client_key or default_bonus_client_key(value, reason))
        request = self._payment_request(PaymentKind.BONUS, key, run, unit, worker.id, value, reason)

        def within_budget() -> None:
            budget.refuse_over_budget(
                unit.task_id, run.task_section, provider, request.amount + request.fee, f"the bonus of {value}"
            )

        def pay(idempotency_key: str) -> str | None:
            reference = _call_provider(provider, "pay_bonus", worker, value, reason, unit, idempotency_key)
            return None if reference is None else str(reference)

        together = None
        if "pay_bonus" in provider.calls_for_many:
            orders[key] = BonusOrder(worker, value, reason, unit, key)
            group = (id(provider), "pay_bonus")
            together = PayTogether(group, lambda keys: _pay_bonuses(provider, [orders[k] for k in keys]))
        record = _BonusRecord(unit.id, worker.id, unit.task_id, value, reason, self.reviewer)
        return Payout(request, pay, before_intent=within_budget, on_paid=record, together=together)

    def block_worker(self, worker_id: int, reason: str) -> list[PlatformOutcome]:
        """Block a worker from every task: our own eligibility check refuses them, and each provider is told.

        Returns what each provider did (`PlatformOutcome`): done, local only (its platform cannot block), or not
        told (no run of the worker's provider yet). A provider failure refuses the block and records nothing.
        """
        return self._change(self.block_change(worker_id, reason))

    def unblock_worker(self, worker_id: int) -> list[PlatformOutcome]:
        """Lift a block, here and at each provider; returns what each provider did."""
        return self._change(self.unblock_change(worker_id))

    def block_worker_for_task(self, worker_id: int, task_name: str, reason: str) -> list[PlatformOutcome]:
        """Block a worker from one task: the qualification `<task>-blocked` here, a per-task block at the platform."""
        return self._change(self.block_for_task_change(worker_id, task_name, reason))

    def unblock_worker_for_task(self, worker_id: int, task_name: str) -> list[PlatformOutcome]:
        """Lift a per-task block, here and at each provider."""
        return self._change(self.unblock_for_task_change(worker_id, task_name))

    def grant_qualification(
        self, worker_id: int, name: str, value: int = 1, unit_id: int | None = None
    ) -> list[PlatformOutcome]:
        """Grant a worker a qualification (or change its value), here and at each provider that has qualifications."""
        return self._change(self.grant_change(worker_id, name, value, unit_id))

    def revoke_qualification(self, worker_id: int, name: str, unit_id: int | None = None) -> list[PlatformOutcome]:
        """Take a qualification away from a worker, here and at each provider that has qualifications."""
        return self._change(self.revoke_change(worker_id, name, unit_id))

    # ---- changes to workers, one or many ------------------------------------------------------------------

    def block_change(self, worker_id: int, reason: str) -> WorkerChange:
        """`block_worker`, ready for `change_workers`; refused (MephistoError) before any platform is told."""
        if not reason.strip():
            raise MephistoError("blocking a worker needs a reason")
        worker = self.worker(worker_id)
        local = LocalChange(
            worker.id, BLOCK_QUALIFICATION, 1, ReviewKind.BLOCK, self.reviewer, reason, description=BLOCK_DESCRIPTION
        )
        return WorkerChange(worker, self._platform_targets(worker), "block", "block_worker", (worker, reason), local)

    def unblock_change(self, worker_id: int) -> WorkerChange:
        """`unblock_worker`, ready for `change_workers`."""
        worker = self.worker(worker_id)
        local = LocalChange(worker.id, BLOCK_QUALIFICATION, None, ReviewKind.UNBLOCK, self.reviewer)
        return WorkerChange(worker, self._platform_targets(worker), "unblock", "unblock_worker", (worker,), local)

    def block_for_task_change(self, worker_id: int, task_name: str, reason: str) -> WorkerChange:
        """`block_worker_for_task`, ready for `change_workers`."""
        worker = self.worker(worker_id)
        name = task_blocked_qualification(task_name)
        local = LocalChange(worker.id, name, 1, ReviewKind.GRANT, self.reviewer, reason, names_qualification=True)
        targets = self._platform_targets(worker)
        args = (worker, task_name, reason)
        return WorkerChange(worker, targets, "block for task", "block_worker_for_task", args, local)

    def unblock_for_task_change(self, worker_id: int, task_name: str) -> WorkerChange:
        """`unblock_worker_for_task`, ready for `change_workers`; refused when the worker is not blocked from it."""
        worker = self.worker(worker_id)
        name = task_blocked_qualification(task_name)
        if self._granted(worker.id, name) is None:
            raise NotFound(f"worker {worker.name!r} is not blocked from task {task_name!r}")
        local = LocalChange(worker.id, name, None, ReviewKind.REVOKE, self.reviewer)
        targets = self._platform_targets(worker)
        args = (worker, task_name)
        return WorkerChange(worker, targets, "unblock for task", "unblock_worker_for_task", args, local)

    def grant_change(self, worker_id: int, name: str, value: int = 1, unit_id: int | None = None) -> WorkerChange:
        """`grant_qualification`, ready for `change_workers`."""
        worker = self.worker(worker_id)
        local = LocalChange(
            worker.id, name, value, ReviewKind.GRANT, self.reviewer, unit_id=unit_id, names_qualification=True
        )
        targets = self._platform_targets(worker)
        return WorkerChange(worker, targets, "grant", "grant_qualification", (worker, name, value), local)

    def revoke_change(self, worker_id: int, name: str, unit_id: int | None = None) -> WorkerChange:
        """`revoke_qualification`, ready for `change_workers`; refused when the worker does not hold it."""
        worker = self.worker(worker_id)
        if self._granted(worker.id, name) is None:
            raise NotFound(f"worker {worker.name!r} does not hold the qualification {name!r}")
        local = LocalChange(worker.id, name, None, ReviewKind.REVOKE, self.reviewer, unit_id=unit_id)
        targets = self._platform_targets(worker)
        return WorkerChange(worker, targets, "revoke", "revoke_qualification", (worker, name), local)

    def change_workers(self, changes: Sequence[WorkerChange]) -> list[list[PlatformOutcome] | MephistoError]:
        """Tell each change's platforms, several changes at once, and record each as its platforms answer (those
        answered together in a few statements for all).

        Returns per change, in order, what each provider did, or the error that refused it (a provider failure,
        nothing recorded): one worker's refusal does not stop the others.
        """
        told: dict[int, list[PlatformOutcome]] = {}

        def record(change: WorkerChange, outcomes: list[PlatformOutcome]) -> None:
            change.record(outcomes)
            told[id(change)] = outcomes

        def record_together(answered: Sequence[tuple[WorkerChange, list[PlatformOutcome]]]) -> None:
            LocalChange.record_all([(change.local, outcomes) for change, outcomes in answered])
            told.update((id(change), outcomes) for change, outcomes in answered)

        errors = call_all(
            self.database,
            changes,
            WorkerChange.tell_platforms,
            record,
            record_together=record_together,
            together=Together(WorkerChange.together_key, WorkerChange.tell_platforms_together),
        )
        return [
            told[id(change)] if error is None else _refusal(error, "change", "do it again to store it")
            for change, error in zip(changes, errors, strict=True)
        ]

    def _change(self, change: WorkerChange) -> list[PlatformOutcome]:
        result = self.change_workers([change])[0]
        if isinstance(result, MephistoError):
            raise result
        return result

    @contextmanager
    def workers_read_together(self, worker_ids: Sequence[int], qualifications: Sequence[str] = ()) -> Iterator[None]:
        """For the changes to these workers made inside (a bulk action): their rows, the platforms to tell and
        their grants of `qualifications` read together, a few statements for all, not several per worker (each a
        round trip to a database on another machine). What is read is used inside only, so nothing outlives it."""
        workers = _by_id(Worker, worker_ids)
        grants = granted_values(list(workers), qualifications)
        self._inside.read = _WorkersRead(workers, self._targets_of(list(workers.values())), grants, set(qualifications))
        try:
            yield
        finally:
            self._inside.read = None

    @property
    def _read_together(self) -> _WorkersRead | None:
        read: _WorkersRead | None = getattr(self._inside, "read", None)
        return read

    def _platform_targets(self, worker: Worker) -> list[CrowdProvider]:
        """The providers to tell about `worker` (see `_targets_of`)."""
        read = self._read_together
        if read is not None and worker.id in read.targets:
            return read.targets[worker.id]
        return self._targets_of([worker])[worker.id]

    def _granted(self, worker_id: int, name: str) -> int | None:
        read = self._read_together
        if read is not None and name in read.qualifications and worker_id in read.workers:
            return read.grants.get((worker_id, name))
        return granted_value(worker_id, name)

    def is_blocked(self, worker_id: int) -> bool:
        return bool(self._granted(worker_id, BLOCK_QUALIFICATION))

    # ---- helpers ------------------------------------------------------------------------------------------

    def _payment_request(
        self,
        kind: PaymentKind,
        key: str,
        run: _RunFacts,
        unit: Unit,
        worker_id: int,
        amount: Decimal,
        reason: str,
    ) -> PaymentRequest:
        return PaymentRequest(
            kind=kind,
            idempotency_key=key,
            requester_id=run.run.requester_id,
            worker_id=worker_id,
            task_id=unit.task_id,
            task_run_id=run.run.id,
            unit_id=unit.id,
            amount=amount,
            fee=Decimal(run.provider.fee(amount)),
            currency=run.currency,
            provider_type=run.run.provider_type,
            reason=reason,
            reviewer=self.reviewer,
        )

    def _submitted_unit(self, unit_id: int, fetched: _Fetched | None = None) -> tuple[Unit, Agent, Worker | None]:
        """The unit, its current agent and (when `fetched` read them) its worker; refused when there is no such
        unit or nothing was submitted for it."""
        unit, agent, worker = (fetched if fetched is not None else _submitted_units([unit_id])).get(
            unit_id, (None, None, None)
        )
        if unit is None:
            raise NotFound(f"unit {unit_id} does not exist")
        if unit.agent_id is None or agent is None:
            raise MephistoError(f"unit {unit_id} has no submission to review (status {unit.status})")
        return unit, agent, worker

    def worker(self, worker_id: int) -> Worker:
        """The worker with id `worker_id` (NotFound when there is none)."""
        read = self._read_together
        worker: Worker | None = (
            read.workers.get(worker_id)
            if read is not None and worker_id in read.workers
            else Worker.get_or_none(Worker.id == worker_id)
        )
        if worker is None:
            raise NotFound(f"worker {worker_id} does not exist")
        return worker

    def _run_facts(self, task_run_id: int, runs: dict[int, _RunFacts]) -> _RunFacts:
        """The run, its provider and currency, read once per run of a bulk action (`runs` keeps them)."""
        facts = runs.get(task_run_id)
        if facts is None:
            run = TaskRun.get_by_id(task_run_id)
            task_section = (run.config or {}).get("task") or {}
            _, currency = task_budget(task_section)
            facts = runs[task_run_id] = _RunFacts(run, self._provider_of(run), task_section, currency)
        return facts

    def _provider_of(self, run: TaskRun) -> CrowdProvider:
        current = requester_credentials(self.settings.config_file, run.requester.name)
        key = (run.id, json.dumps(current, sort_keys=True, default=str))
        if key not in self._providers:
            self._providers[key] = provider_for_run(self.settings, run)
        return self._providers[key]

    def _targets_of(self, workers: Sequence[Worker]) -> dict[int, list[CrowdProvider]]:
        """The providers to tell about each of `workers`, by worker id, read in a few statements for all.

        A platform keeps blocks per requester account, so a worker's change goes to each requester the worker did
        work under, through the newest such run of each (newest first). A worker who never worked (added in
        advance) is acted on through the newest run of their provider type; none when no run of it exists.
        """
        worked: dict[int, set[int]] = {}
        ids = [worker.id for worker in workers]
        for start in range(0, len(ids), IDS_PER_READ):
            chunk = ids[start : start + IDS_PER_READ]
            for model in (Agent, OnboardingAgent):
                query = model.select(model.worker, model.task_run).where(model.worker.in_(chunk)).distinct()
                for worker_id, run_id in query.tuples():
                    worked.setdefault(worker_id, set()).add(run_id)
        newest_of_type = dict(
            TaskRun.select(TaskRun.provider_type, pw.fn.MAX(TaskRun.id)).group_by(TaskRun.provider_type).tuples()
        )
        runs = _runs_with_requesters([run for runs in worked.values() for run in runs] + list(newest_of_type.values()))
        targets: dict[int, list[CrowdProvider]] = {}
        for worker in workers:
            newest_per_requester: dict[int, int] = {}
            for run_id in worked.get(worker.id, ()):
                requester_id = runs[run_id].requester_id
                newest_per_requester[requester_id] = max(run_id, newest_per_requester.get(requester_id, run_id))
            run_ids = sorted(newest_per_requester.values(), reverse=True)
            if not run_ids and worker.provider_type in newest_of_type:
                run_ids = [newest_of_type[worker.provider_type]]
            targets[worker.id] = [self._provider_of(runs[run_id]) for run_id in run_ids]
        return targets


@dataclass(frozen=True)
class _WorkersRead:
    """What `ReviewActions.workers_read_together` read: the workers by id, the providers to tell about each, and
    their grants (value by worker id and qualification name) of `qualifications`."""

    workers: dict[int, Worker]
    targets: dict[int, list[CrowdProvider]]
    grants: dict[tuple[int, str], int]
    qualifications: set[str]


@dataclass(frozen=True)
class _RunFacts:
    """What every unit of one run needs for a verdict or a bonus: the run, its provider, its `[task]` section (the
    budget) and the task's currency."""

    run: TaskRun
    provider: CrowdProvider
    task_section: dict[str, Any]
    currency: str


@dataclass(frozen=True)
class _Verdict:
    """One unit's verdict, ready to be asked of the platform and recorded."""

    unit: Unit
    agent: Agent
    provider: CrowdProvider
    provider_call: str
    kind: ReviewKind
    unit_status: UnitStatus
    agent_status: AgentStatus
    feedback: str
    reward: Decimal
    reviewer: str

    def ask_platform(self) -> None:
        _call_provider(self.provider, self.provider_call, self.agent, self.feedback)

    def together_key(self) -> Hashable | None:
        """The verdicts its platform takes in one call with this one (the same provider and feedback), or None:
        asked alone. A soft rejection the provider leaves to the default approves, so it goes with approvals."""
        call = self.provider_call
        if call == "soft_reject_work" and type(self.provider).soft_reject_work is CrowdProvider.soft_reject_work:
            call = "approve_work"
        if call == "approve_work" and "approve_work" in self.provider.calls_for_many:
            return (id(self.provider), self.feedback)
        return None

    @staticmethod
    def ask_platform_together(verdicts: Sequence[_Verdict]) -> list[Exception | None]:
        """Ask the platform for `verdicts` (one `together_key`) in one call; per verdict, None or its refusal."""
        provider, feedback = verdicts[0].provider, verdicts[0].feedback
        agents = [verdict.agent for verdict in verdicts]
        answers = _call_provider(provider, "approve_work_many", agents, feedback, many=len(agents))
        return [None if answer is None else _provider_failure(provider, "approve_work", answer) for answer in answers]

    def record(self) -> None:
        """The unit's and agent's new status and the review record (inside the caller's transaction)."""
        set_unit_status(self.unit.id, self.unit_status)
        set_agent_status(self.agent.id, self.agent_status)
        Review.insert(self._review_row()).execute()

    @classmethod
    def record_all(cls, verdicts: Sequence[_Verdict]) -> None:
        """`record` for several verdicts in three statements per kind of verdict, not three each; refused
        (IllegalTransition) when any unit or agent may not take its new status, for the caller to record each
        alone."""
        kinds: dict[tuple[UnitStatus, AgentStatus], list[_Verdict]] = {}
        for verdict in verdicts:
            kinds.setdefault((verdict.unit_status, verdict.agent_status), []).append(verdict)
        for (unit_status, agent_status), same in kinds.items():
            set_units_status([verdict.unit.id for verdict in same], unit_status)
            set_agents_status([verdict.agent.id for verdict in same], agent_status)
        Review.insert_many([verdict._review_row() for verdict in verdicts]).execute()

    def _review_row(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "unit": self.unit.id,
            "worker": self.agent.worker_id,
            "task": self.unit.task_id,
            "feedback": self.feedback,
            "reviewer": self.reviewer,
        }


@dataclass(frozen=True)
class _BonusRecord:
    """The review record of a bonus the platform paid (a `PaidRecord`)."""

    unit_id: int
    worker_id: int
    task_id: int
    amount: Decimal
    reason: str
    reviewer: str

    def record(self) -> None:
        Review.insert(self._row()).execute()

    @classmethod
    def record_all(cls, records: Sequence[_BonusRecord]) -> None:
        Review.insert_many([record._row() for record in records]).execute()

    def _row(self) -> dict[str, Any]:
        return {
            "kind": ReviewKind.BONUS.value,
            "unit": self.unit_id,
            "worker": self.worker_id,
            "task": self.task_id,
            "amount": self.amount,
            "feedback": self.reason,
            "reviewer": self.reviewer,
        }


def _refusal(
    outcome: Exception, what: str = "verdict", again: str = "give it again to store it (the worker is paid once)"
) -> MephistoError:
    """A failure as the error callers show: a refusal as it is; anything else is the database failing, before or
    after the platform was asked, said as such."""
    if isinstance(outcome, MephistoError):
        return outcome
    error = MephistoError(
        f"the {what} could not be stored ({type(outcome).__name__}: {outcome}); the platform may have done it "
        f"already: {again}"
    )
    error.__cause__ = outcome
    return error


def money(amount: Decimal | str | float) -> Decimal:
    """A bonus amount as given (0.5, "0.50"), to the cent; a MephistoError when it is not a positive number."""
    try:
        value = Decimal(str(amount)).quantize(Decimal("0.01"))
    except InvalidOperation as exc:
        raise MephistoError(f"bonus amount {amount!r} is not a number (e.g. 0.50)") from exc
    if value <= 0:
        raise MephistoError(f"bonus amount must be positive, got {value}")
    return value


def _call_provider(provider: CrowdProvider, method: str, *args: Any, many: int = 1) -> Any:
    try:
        return call_blocking(provider, method, *args, many=many)
    except Exception as exc:
        raise _provider_failure(provider, method, exc) from exc


def _provider_failure(provider: CrowdProvider, method: str, exc: Exception) -> ProviderError:
    """What the reviewer is told of the provider's exception from `method`: a refusal or a failure."""
    doing = method.removesuffix("_many").replace("_", " ")
    if isinstance(exc, ProviderCallTimeout):
        return ProviderError(f"provider {provider.type_name!r} failed to {doing}: {exc}")
    if isinstance(exc, MephistoError | NotImplementedError):
        return ProviderError(f"provider {provider.type_name!r} refused to {doing}: {exc}")
    return ProviderError(f"provider {provider.type_name!r} failed to {doing}: {type(exc).__name__}: {exc}")


def _pay_bonuses(provider: CrowdProvider, orders: Sequence[BonusOrder]) -> list[str | Exception | None]:
    """Pay `orders` in the provider's one call for many; per order, its payment id (or None) or its refusal."""
    answers = _call_provider(provider, "pay_bonus_many", orders, many=len(orders))
    paid: list[str | Exception | None] = []
    for answer in answers:
        if isinstance(answer, Exception):
            paid.append(_provider_failure(provider, "pay_bonus", answer))
        else:
            paid.append(None if answer is None else str(answer))
    return paid


#: a bulk action's units by id, each with its current agent and, when asked for, that agent's worker
_Fetched = dict[int, tuple[Unit, Agent | None, Worker | None]]
#: ids read in one statement (well within SQLite's limit on bound parameters)
IDS_PER_READ = 500


def _submitted_units(unit_ids: Sequence[int], with_workers: bool = False) -> _Fetched:
    """The units of a bulk action with their current agents (and workers), read in two or three statements for
    all, not two or three per unit: each is a round trip to a database on another machine."""
    units = _by_id(Unit, unit_ids)
    agents = _by_id(Agent, [unit.agent_id for unit in units.values() if unit.agent_id is not None])
    workers = _by_id(Worker, [agent.worker_id for agent in agents.values()]) if with_workers else {}
    fetched: _Fetched = {}
    for unit_id, unit in units.items():
        agent = agents.get(unit.agent_id) if unit.agent_id is not None else None
        fetched[unit_id] = (unit, agent, workers.get(agent.worker_id) if agent is not None else None)
    return fetched


def _by_id(model: Any, ids: Sequence[int]) -> dict[int, Any]:
    distinct = list(dict.fromkeys(ids))
    found: dict[int, Any] = {}
    for start in range(0, len(distinct), IDS_PER_READ):
        found.update(
            (int(row.id), row) for row in model.select().where(model.id.in_(distinct[start : start + IDS_PER_READ]))
        )
    return found


def _runs_with_requesters(run_ids: Sequence[int]) -> dict[int, TaskRun]:
    """The runs by id, each with its requester read in the same statement (`run.requester` sends none)."""
    distinct = list(dict.fromkeys(run_ids))
    runs: dict[int, TaskRun] = {}
    for start in range(0, len(distinct), IDS_PER_READ):
        chunk = distinct[start : start + IDS_PER_READ]
        query = TaskRun.select(TaskRun, Requester).join(Requester).where(TaskRun.id.in_(chunk))
        runs.update((int(run.id), run) for run in query)
    return runs
