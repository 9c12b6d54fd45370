"""The `mturk` and `mturk_sandbox` crowd providers: HITs on Amazon Mechanical Turk through boto3.

How units and HITs relate: every unit is published as one HIT (one assignment) of the run's HIT type, and the
HIT's id is the unit's `provider_unit_id`. HITs of a run are interchangeable: a worker who accepts any of them is
given the next unit mephisto has for them, so the unit a worker works on may be another than the HIT's own. The
assignment id identifies the attempt (`provider_agent_id`); approvals, rejections and bonuses go through it.
Withdrawing units therefore withdraws as many still-open HITs of the run (preferring the units' own).
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from mephisto_core.abstractions import (
    CrowdProvider,
    DriftKind,
    ProviderArgs,
    RequesterArgs,
    RequirementMapping,
    UnitDrift,
    WorkerIdentity,
    at_once,
)
from mephisto_core.errors import ProviderError
from mephisto_provider_mturk.args import DEFAULT_LIVE_LOCALES, MTurkArgs, MTurkRequesterArgs
from mephisto_provider_mturk.client import (
    MTurkError,
    call,
    endpoint_override,
    make_client,
    secret_values,
)
from mephisto_provider_mturk.fees import FEE_SCHEDULE, dollars, mturk_fee
from mephisto_provider_mturk.hits import RequesterHits, is_expired
from mephisto_provider_mturk.links import identify
from mephisto_provider_mturk.qualifications import (
    QualificationRequirement,
    QualificationTypes,
    describe,
    locale_requirement,
    requirement,
)
from mephisto_provider_mturk.question import external_question
from mephisto_provider_mturk.reconciliation import held_units_drifts, unknown_here
from mephisto_provider_mturk.store import Annotation, ProviderStore

if TYPE_CHECKING:
    from mephisto_core.data_model import Agent, TaskRun, Unit, Worker

log = logging.getLogger(__name__)

_HIT_ID_IN_MESSAGE = re.compile(r"\b([A-Z0-9]{30})\b")


def request_token(key: str) -> str:
    """MTurk's UniqueRequestToken for an idempotency key (at most 64 characters: longer keys are hashed)."""
    return key if len(key) <= 64 else hashlib.sha256(key.encode()).hexdigest()


class MTurkProvider(CrowdProvider):
    """Amazon Mechanical Turk, live: HITs with an ExternalQuestion pointing at the worker page, paid in dollars."""

    type_name: ClassVar[str] = "mturk"
    Args: ClassVar[type[ProviderArgs]] = MTurkArgs
    RequesterArgs: ClassVar[type[RequesterArgs]] = MTurkRequesterArgs
    is_sandbox: ClassVar[bool] = False
    requires_public_https: ClassVar[bool] = True
    # Publishing passes the key as UniqueRequestToken (and find_published looks it up), withdrawing twice does
    # nothing more: both may be retried.
    idempotent_calls: ClassVar[frozenset[str]] = frozenset(
        {"identify_worker", "find_published", "reconcile_units", "publish_units", "expire_units"}
    )
    call_timeout_seconds: ClassVar[float] = 60.0
    # identify_worker reads the link and appends to a local file once per assignment: no MTurk call.
    identifies_workers_locally: ClassVar[bool] = True
    sync_interval_seconds: ClassVar[float | None] = MTurkArgs.model_fields["sync_interval_seconds"].default

    def __init__(self, args: ProviderArgs, requester_name: str, credentials: Mapping[str, Any], data_dir: Path):
        super().__init__(args, requester_name, credentials, data_dir)
        if not isinstance(args, MTurkArgs):
            raise TypeError(f"{type(self).__name__} takes MTurkArgs, not {type(args).__name__}")
        self.mturk_args: MTurkArgs = args
        # The task file's interval replaces the class default (read by the core from the instance).
        vars(self)["sync_interval_seconds"] = args.sync_interval_seconds
        self.store = ProviderStore(data_dir)
        self._endpoint_override = endpoint_override()  # tests only; read once, identify_worker runs per hello
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._secrets = secret_values(self.credentials)
        self._hit_type_id: str | None = None
        self._reconciled_runs: set[int] = set()
        self.hits = RequesterHits(self._call, lambda: self.client.list_hits, self._secrets, self.store)

    # ----------------------------------------------------------------------------------------- the client

    @property
    def client(self) -> Any:
        """The boto3 client, made on first use (so building the provider for `wut` or `check` calls nothing)."""
        with self._client_lock:
            if self._client is None:
                self._client = make_client(self.credentials, self.is_sandbox)
            return self._client

    def _call(self, what: str, method: str, **params: Any) -> Any:
        return call(what, getattr(self.client, method), self._secrets, **params)

    @classmethod
    def validate_credentials(cls, credentials: Mapping[str, Any]) -> dict[str, Any]:
        """Check the key pair or profile with get_account_balance; store plain strings, nothing empty."""
        parsed = MTurkRequesterArgs(**credentials)
        stored: dict[str, Any] = {}
        if parsed.profile:
            stored["profile"] = parsed.profile
        else:
            assert parsed.access_key_id is not None and parsed.secret_access_key is not None
            stored["access_key_id"] = parsed.access_key_id
            stored["secret_access_key"] = parsed.secret_access_key.get_secret_value()
        client = make_client(stored, cls.is_sandbox)
        where = "the MTurk sandbox" if cls.is_sandbox else "MTurk"
        call(
            f"check the credentials at {where} (get_account_balance)", client.get_account_balance, secret_values(stored)
        )
        return stored

    # ------------------------------------------------------------------------------------------- money

    def fee(self, amount: Decimal) -> Decimal:
        """MTurk's 20% commission (HITs have one assignment each, so never the 10+ surcharge)."""
        return mturk_fee(amount, assignments_per_hit=1)

    def fee_schedule(self) -> str:
        return FEE_SCHEDULE

    def balance(self) -> Decimal | None:
        """The requester's available balance at MTurk (the sandbox always shows $10,000)."""
        answer = self._call("read the account balance", "get_account_balance")
        return Decimal(str(answer["AvailableBalance"]))

    def _check_balance(self, amount: Decimal) -> None:
        """Refused with the balance and what `amount` needs, when the balance does not cover it and its fee."""
        needed = amount + self.fee(amount)
        available = self.balance()
        if available is not None and available < needed:
            raise ProviderError(
                f"the MTurk balance ${available} does not cover ${amount} plus MTurk's fee ${self.fee(amount)}; "
                "add funds to the requester account (Prepaid HITs) and try again"
            )

    # ------------------------------------------------------------------------------------- worker pages

    def identify_worker(self, params: Mapping[str, str]) -> WorkerIdentity:
        """Read MTurk's parameters: a preview when the assignment is not available, else worker and assignment."""
        return identify(params, self.is_sandbox, self.store, self._endpoint_override)

    def simulated_worker_params(self, worker_name: str) -> dict[str, str]:
        raise ProviderError(
            f"provider {self.type_name!r} cannot run simulated workers: MTurk workers are real people paid "
            "through MTurk. Try the task with --simulate on provider.type=mock, then with real workers in "
            "mturk_sandbox."
        )

    def worker_link(self, base_url: str, worker_name: str | None = None) -> str:
        where = "workersandbox.mturk.com" if self.is_sandbox else "worker.mturk.com"
        hit_type = f" (HIT type {self._hit_type_id})" if self._hit_type_id else ""
        return f"{base_url} — workers find it at {where}{hit_type}; `mephisto mturk hits` lists the HITs"

    # -------------------------------------------------------------------------------- requirements / setup

    def qualification_types(self) -> QualificationTypes:
        """This requester's MTurk qualification types, by mephisto qualification name."""
        return QualificationTypes(self.client, self._secrets, self.store, self.requester_name)

    def _locales(self) -> list[str]:
        if self.mturk_args.allowed_locales is not None:
            return list(self.mturk_args.allowed_locales)
        return [] if self.is_sandbox else list(DEFAULT_LIVE_LOCALES)

    def platform_requirements(self, requirements: Sequence[QualificationRequirement]) -> RequirementMapping:
        """Every mephisto requirement is expressible at MTurk: each becomes a qualification requirement."""
        mapping = RequirementMapping(platform={req.name: describe(req) for req in requirements})
        locales = self._locales()
        if locales:
            mapping.platform["(MTurk locale)"] = f"Worker_Locale In {', '.join(locales)}"
        return mapping

    def setup_resources(self, run: TaskRun, worker_url: str) -> None:
        """Qualification types for the task's requirements and its per-task block, then the run's HIT type."""
        from mephisto_core.abstractions import TaskArgs

        task = TaskArgs.model_validate(run.config["task"])
        if task.currency.upper() != "USD":
            raise ProviderError(
                f'MTurk pays in US dollars, but the task\'s currency is {task.currency!r}: set [task] currency = "USD"'
            )
        external_question(worker_url, self.mturk_args.frame_height)  # refuse a URL MTurk would reject, now
        quals = self.qualification_types()
        requirements = [requirement(quals.ensure(req.name), req) for req in task.qualifications]
        block_type = quals.ensure(f"{task.name}-blocked")
        requirements.append({"QualificationTypeId": block_type, "Comparator": "DoesNotExist"})
        if self._locales():
            requirements.append(locale_requirement(self._locales()))
        keywords = ",".join(task.tags)[:1000]
        answer = self._call(
            "create the run's HIT type",
            "create_hit_type",
            AutoApprovalDelayInSeconds=self.mturk_args.auto_approval_delay_seconds,
            AssignmentDurationInSeconds=task.assignment_duration_seconds,
            Reward=dollars(Decimal(task.reward)),
            Title=task.title[:128],
            Keywords=keywords,
            Description=(task.description or task.title)[:2000],
            QualificationRequirements=requirements,
        )
        self._hit_type_id = str(answer["HITTypeId"])
        before = self.store.run_record(run.id)
        if before is not None and before.get("worker_url") not in (None, worker_url):
            # HITs keep the URL they were made with: the run's open HITs still send workers to the old address.
            log.warning(
                "run %s was published with worker URL %s and now serves %s: its open HITs still point at the old "
                "address; keep the architect's address fixed between launches of a run (e.g. a fixed port or "
                "public_url), or expire them with `mephisto mturk cleanup` and start a new run",
                run.id,
                before.get("worker_url"),
                worker_url,
            )
        record = {"hit_type_id": self._hit_type_id, "requester": self.requester_name, "worker_url": worker_url}
        self.store.save_run_record(run.id, record)
        log.info("MTurk HIT type %s for run %s", self._hit_type_id, run.id)

    # --------------------------------------------------------------------------------------- publishing

    def _annotation(self, run_id: int, key: str) -> str:
        return Annotation(self.store.install_id(), run_id, key).text()

    def publish_units(
        self, units: Sequence[Unit], worker_url: str, idempotency_keys: Mapping[int, str]
    ) -> dict[int, str | None]:
        """One HIT per unit, each created with its key as UniqueRequestToken and in its RequesterAnnotation."""
        if self._hit_type_id is None:
            raise ProviderError("MTurk units cannot be published before setup_resources made the run's HIT type")
        question = external_question(worker_url, self.mturk_args.frame_height)
        hit_type_id = self._hit_type_id

        def publish_one(unit: Unit) -> str:
            key = idempotency_keys[unit.id]
            try:
                answer = self._call(
                    f"create the HIT of unit {unit.id}",
                    "create_hit_with_hit_type",
                    HITTypeId=hit_type_id,
                    MaxAssignments=1,
                    LifetimeInSeconds=self.mturk_args.hit_lifetime_seconds,
                    Question=question,
                    RequesterAnnotation=self._annotation(unit.task_run_id, key),
                    UniqueRequestToken=request_token(key),
                )
                return str(answer["HIT"]["HITId"])
            except MTurkError as exc:
                existing = self._already_created(exc, key)
                if existing is None:
                    raise
                return existing

        # Any failure fails the call after the others finished; their HITs are found by key later.
        hit_ids = at_once(publish_one, units, "publish")
        return {unit.id: hit_id for unit, hit_id in zip(units, hit_ids, strict=True)}

    def _already_created(self, exc: MTurkError, key: str) -> str | None:
        """The HIT a refused create made earlier under the same token, when that is why it was refused."""
        message = exc.mturk_message
        if exc.code != "RequestError" or not re.search(r"already exists|UniqueRequestToken", message, re.I):
            return None
        found = self.hits.by_key(key, fresh=True)
        if found:
            return found
        match = _HIT_ID_IN_MESSAGE.search(message)
        return match.group(1) if match else None

    def find_published(self, idempotency_key: str) -> str | None:
        """The HIT whose RequesterAnnotation carries the key (tokens expire after 24 h; annotations do not)."""
        return self.hits.by_key(idempotency_key)

    # ----------------------------------------------------------------------------------------- withdrawing

    def expire_units(self, units: Sequence[Unit]) -> None:
        """Withdraw one open HIT per unit: the unit's own when still open, else another open HIT of its run
        whose own unit is not offered here (HITs are interchangeable; see the module's docstring)."""
        from mephisto_core.data_model import Unit as UnitModel
        from mephisto_core.data_model import UnitStatus

        def withdraw_own(unit: Unit) -> str:
            """`expired` (its HIT withdrawn now), `gone` (withdrawn before) or `taken` (a worker holds it)."""
            hit_id = str(unit.provider_unit_id)
            hit = self.hits.get(hit_id)
            if hit.get("HITStatus") == "Assignable":
                self.hits.expire(hit_id)
                return "expired"
            # Withdrawn already (an earlier call, or its lifetime ran out), or a worker took it for another unit.
            return "gone" if is_expired(hit) else "taken"

        published = [unit for unit in units if unit.provider_unit_id]
        outcomes = at_once(withdraw_own, published, "expire")
        expired: set[str] = set()
        substitutes: dict[int, int] = {}  # run id -> how many HITs still to withdraw
        for unit, done in zip(published, outcomes, strict=True):
            if done == "expired":
                expired.add(str(unit.provider_unit_id))
            elif done == "taken" and unit.id is not None and unit.task_run_id is not None:
                # A worker took this HIT for another unit: the HIT that unit had still serves nobody.
                substitutes[unit.task_run_id] = substitutes.get(unit.task_run_id, 0) + 1
        for run_id, count in substitutes.items():
            for hit in self.hits.of_run(run_id, fresh=True):
                if count == 0:
                    break
                hit_id = str(hit["HITId"])
                if hit.get("HITStatus") != "Assignable" or hit_id in expired:
                    continue
                own = UnitModel.get_or_none(UnitModel.provider_unit_id == hit_id)
                if own is not None and own.status == UnitStatus.LAUNCHED.value:
                    continue  # that HIT is how its own offered unit is reached
                self.hits.expire(hit_id)
                expired.add(hit_id)
                count -= 1

    def cleanup_resources(self, run: TaskRun) -> None:
        """Expire every still-open HIT of the run, then list them again to verify none is open."""
        if self.store.run_record(run.id) is None:
            return  # setup_resources never reached MTurk for this run: nothing there
        open_hits = self.hits.expire_run(run.id)
        if open_hits:
            raise ProviderError(
                f"MTurk still shows {len(open_hits)} HIT(s) of run {run.id} open after expiring them: "
                f"{', '.join(open_hits[:5])}; run `mephisto mturk cleanup`"
            )

    # -------------------------------------------------------------------------------------- reconciling

    def reconcile_units(self, run: TaskRun, units: Sequence[Unit]) -> list[UnitDrift]:
        """Held units: submitted at MTurk (with the answer) or returned/abandoned there. At the first call of a
        run in this process also: open HITs beyond the units offered here (left by a crash) to withdraw."""
        started = time.monotonic()
        drifts = held_units_drifts(self, units)
        if run.id not in self._reconciled_runs:
            # Units freed by this very answer are offered again at once: their HITs are not left over.
            freed = sum(1 for d in drifts if d.kind is DriftKind.ABANDONED_THERE)
            drifts += unknown_here(self, run, freed, listed_since=started)
            self._reconciled_runs.add(run.id)
        return drifts

    def submitted_assignment(self, assignment_id: str) -> dict[str, Any] | None:
        """MTurk's Assignment structure, or None while it is not submitted (MTurk then denies knowing it)."""
        try:
            answer = self._call(f"read assignment {assignment_id}", "get_assignment", AssignmentId=assignment_id)
        except MTurkError as exc:
            if exc.code != "RequestError":
                raise
            return None
        return dict(answer["Assignment"])

    # ------------------------------------------------------------------------------------------- review

    def _assignment_of(self, agent: Agent) -> str:
        if not agent.provider_agent_id:
            raise ProviderError(f"agent {agent.id} has no MTurk assignment id: it was not an MTurk attempt")
        return str(agent.provider_agent_id)

    def _assignment_status(self, assignment_id: str) -> str:
        info = self.submitted_assignment(assignment_id)
        if info is None:
            raise ProviderError(
                f"assignment {assignment_id} is not submitted at MTurk (the worker's page never reached MTurk's "
                "externalSubmit, or the worker returned the HIT), so MTurk cannot approve or reject it; "
                "mephisto has the answer: pay the worker, if you choose to, with a bonus on another of their "
                "assignments"
            )
        return str(info.get("AssignmentStatus", ""))

    def approve_work(self, agent: Agent, feedback: str) -> None:
        """Approve (and so pay) the assignment; one rejected before is overridden; approved already is done.

        MTurk is asked at once, one call: it refuses an assignment that is no longer Submitted, and only then is the
        assignment's status read, to tell which case it is."""
        assignment_id = self._assignment_of(agent)
        params: dict[str, Any] = {"AssignmentId": assignment_id}
        if feedback:
            params["RequesterFeedback"] = feedback[:1024]
        try:
            self._call(f"approve assignment {assignment_id}", "approve_assignment", **params)
            return
        except MTurkError as refused:
            if refused.code != "RequestError":
                raise
            status = self._assignment_status(assignment_id)  # says why when it was never submitted
            if status == "Approved":
                return
            if status != "Rejected":
                raise
        self._call(f"approve assignment {assignment_id}", "approve_assignment", OverrideRejection=True, **params)

    def reject_work(self, agent: Agent, feedback: str) -> None:
        """Reject the assignment with feedback (MTurk requires some); an approved one cannot be rejected.

        Asked at once, as `approve_work` is; rejected already is done."""
        assignment_id = self._assignment_of(agent)
        text = (feedback or "Your work did not meet the task's requirements.")[:1024]
        try:
            self._call(
                f"reject assignment {assignment_id}",
                "reject_assignment",
                AssignmentId=assignment_id,
                RequesterFeedback=text,
            )
        except MTurkError as refused:
            if refused.code != "RequestError":
                raise
            status = self._assignment_status(assignment_id)
            if status == "Rejected":
                return
            if status == "Approved":
                raise ProviderError(
                    f"assignment {assignment_id} is approved (and paid) at MTurk already: it cannot be rejected there"
                ) from None
            raise

    def soft_reject_work(self, agent: Agent, feedback: str) -> None:
        """Pay the worker at MTurk (approve) while mephisto keeps the work out of the results."""
        self.approve_work(agent, feedback)

    def _bonus_assignment(self, worker: Worker, unit: Unit | None) -> str:
        from mephisto_core.data_model import Agent as AgentModel
        from mephisto_core.data_model import Requester, TaskRun

        # Only an assignment of this requester's HITs can carry its bonus (MTurk refuses any other).
        query = (
            AgentModel.select(AgentModel.provider_agent_id)
            .join(TaskRun, on=AgentModel.task_run == TaskRun.id)
            .join(Requester, on=TaskRun.requester == Requester.id)
            .where(
                (AgentModel.worker == worker.id)
                & AgentModel.provider_agent_id.is_null(False)
                & (TaskRun.provider_type == self.type_name)
                & (Requester.name == self.requester_name)
            )
        )
        if unit is not None:
            query = query.where(AgentModel.unit == unit.id)
        agent = query.order_by(AgentModel.id.desc()).first()
        if agent is None:
            where = f"unit {unit.id}" if unit is not None else "any unit"
            raise ProviderError(
                f"worker {worker.name} has no MTurk assignment on {where}: MTurk pays bonuses per assignment"
            )
        return str(agent.provider_agent_id)

    def pay_bonus(
        self, worker: Worker, amount: Decimal, reason: str, unit: Unit | None, idempotency_key: str
    ) -> str | None:
        """send_bonus once per key (UniqueRequestToken); a repeat MTurk refuses as a duplicate is already paid. One
        call: the balance is read only when MTurk refuses the bonus for want of funds, to say by how much."""
        if amount <= 0:
            raise ProviderError(f"a bonus must be more than $0, not ${amount}")
        assignment_id = self._bonus_assignment(worker, unit)
        try:
            self._call(
                f"pay a ${amount} bonus to {worker.name}",
                "send_bonus",
                WorkerId=worker.name,
                BonusAmount=dollars(amount),
                AssignmentId=assignment_id,
                Reason=(reason or "Thank you for your work.")[:1024],
                UniqueRequestToken=request_token(idempotency_key),
            )
        except MTurkError as exc:
            if exc.code == "RequestError" and re.search(r"UniqueRequestToken|already", exc.mturk_message, re.I):
                log.info("bonus %s was paid before (MTurk: %s)", idempotency_key, exc.mturk_message)
                return request_token(idempotency_key)
            if exc.code == "RequestError" and re.search(r"insufficient funds", exc.mturk_message, re.I):
                self._check_balance(amount)  # says by how much, when the balance still falls short
            raise
        return request_token(idempotency_key)

    def bonus_worker(self, worker: Worker, amount: Decimal, reason: str, unit: Unit | None) -> None:
        raise ProviderError("MTurk bonuses need an idempotency key: the core pays them through pay_bonus")

    # --------------------------------------------------------------------------- blocks and qualifications

    def block_worker(self, worker: Worker, reason: str) -> None:
        self._call(
            f"block worker {worker.name}",
            "create_worker_block",
            WorkerId=worker.name,
            Reason=(reason or "Blocked by the requester.")[:1024],
        )

    def unblock_worker(self, worker: Worker) -> None:
        try:
            self._call(
                f"unblock worker {worker.name}", "delete_worker_block", WorkerId=worker.name, Reason="Unblocked."
            )
        except MTurkError as exc:
            # Lifting a block that is not there is what was asked: done.
            if exc.code != "RequestError" or not re.search(r"not.*block|does not exist", exc.mturk_message, re.I):
                raise

    def block_worker_for_task(self, worker: Worker, task_name: str, reason: str) -> None:
        """Grant the task's `<task>-blocked` qualification at MTurk; the task's HIT type requires its absence."""
        self.grant_qualification(worker, f"{task_name}-blocked", 1)

    def unblock_worker_for_task(self, worker: Worker, task_name: str) -> None:
        self.revoke_qualification(worker, f"{task_name}-blocked")

    def grant_qualification(self, worker: Worker, name: str, value: int) -> None:
        type_id = self.qualification_types().ensure(name)
        self._call(
            f"grant {name!r} to {worker.name}",
            "associate_qualification_with_worker",
            QualificationTypeId=type_id,
            WorkerId=worker.name,
            IntegerValue=int(value),
            SendNotification=self.mturk_args.notify_on_qualification,
        )

    def revoke_qualification(self, worker: Worker, name: str) -> None:
        type_id = self.qualification_types().find(name)
        if type_id is None:
            return  # never created at MTurk: nobody holds it there
        self._call(
            f"revoke {name!r} from {worker.name}",
            "disassociate_qualification_from_worker",
            QualificationTypeId=type_id,
            WorkerId=worker.name,
            Reason="Revoked by the requester.",
        )

    def notify_workers(self, worker_ids: Sequence[str], subject: str, message: str) -> list[str]:
        """E-mail workers through MTurk (100 per call); returns MTurk's per-worker failure messages."""
        if not subject.strip() or not message.strip():
            raise ProviderError("a message to workers needs a subject and a text")
        if len(subject) > 200 or len(message) > 4096:
            raise ProviderError("MTurk takes a subject of at most 200 characters and a text of at most 4096")
        failures: list[str] = []
        ids = list(worker_ids)
        for start in range(0, len(ids), 100):
            answer = self._call(
                "notify workers",
                "notify_workers",
                Subject=subject,
                MessageText=message,
                WorkerIds=ids[start : start + 100],
            )
            for failure in answer.get("NotifyWorkersFailureStatuses", []):
                failures.append(f"{failure.get('WorkerId')}: {failure.get('NotifyWorkersFailureMessage')}")
        return failures


class MTurkSandboxProvider(MTurkProvider):
    """The MTurk sandbox: the same API on Amazon's test endpoint, with play money and test workers."""

    type_name: ClassVar[str] = "mturk_sandbox"
    is_sandbox: ClassVar[bool] = True
    requires_public_https: ClassVar[bool] = False
