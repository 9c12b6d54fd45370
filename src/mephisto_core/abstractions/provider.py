"""CrowdProvider: where workers come from, how work is published, paid, rejected, and workers blocked."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from mephisto_core.abstractions.platform_sync import PlatformUnsupported, RequirementMapping
from mephisto_core.abstractions.secrets import secret_field_names
from mephisto_core.errors import ProviderError

if TYPE_CHECKING:
    from mephisto_core.abstractions.task_args import QualificationRequirement
    from mephisto_core.data_model import Agent, TaskRun, Unit, Worker


R = TypeVar("R")

#: The review calls that have a form for many (`<call>_many`), which `CrowdProvider.calls_for_many` may name: the
#: unit calls, then the worker changes.
UNIT_CALLS_FOR_MANY = frozenset({"approve_work", "pay_bonus"})
WORKER_CALLS_FOR_MANY = frozenset(
    {
        "block_worker",
        "unblock_worker",
        "block_worker_for_task",
        "unblock_worker_for_task",
        "grant_qualification",
        "revoke_qualification",
    }
)
CALLS_WITH_MANY_FORMS = UNIT_CALLS_FOR_MANY | WORKER_CALLS_FOR_MANY

#: Each provider type's own folder is `<MEPHISTO_DATA_DIR>/providers/<type_name>` (see CrowdProvider.data_dir_under).
PROVIDERS_FOLDER = "providers"


class ProviderArgs(BaseModel):
    """Base of a provider's `[provider]` section schema; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")

    requester_name: str | None = Field(
        default=None,
        description="Registered requester account to use (`mephisto requesters`); the provider may default it.",
    )


class RequesterArgs(BaseModel):
    """The credentials `mephisto register PROVIDER NAME key=value ...` takes for this provider.

    Declare every secret one as `SecretStr` (`api_key: SecretStr = Field(description=...)`), or, when it must
    stay a plain type, with `Field(json_schema_extra={"secret": True})`. A secret is then never printed (by
    `mephisto requesters`, `register`, `check`, nor in an error `register` reports, even when the provider's
    exception quotes it), and `register` reads it from MEPHISTO_SECRET_<KEY> or a hidden prompt when it is not
    on the command line. `validate_credentials` and the provider's `credentials` see plain strings.
    """

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class PageCompletion:
    """Where a worker's page goes once its submission of a unit is stored (the platform's completion step).

    After the operator committed the submission (never before, never for an onboarding test) the page says
    "Your work was stored" and then goes to `url`: with `method` "POST" by submitting an HTML form whose hidden
    inputs are `fields` (MTurk's `turkSubmitTo + "/mturk/externalSubmit"` with `assignmentId`), with "GET" by
    opening `url` with `fields` added to its query (Prolific's completion URL). `label` is the text of the
    button the page shows in case the browser blocks the automatic navigation ("Return to Prolific").
    """

    url: str
    method: Literal["GET", "POST"] = "GET"
    fields: Mapping[str, str] = field(default_factory=dict, hash=False)  # a dict: left out of the hash
    label: str | None = None

    def __post_init__(self) -> None:
        if self.method not in ("GET", "POST"):
            raise ValueError(f"PageCompletion.method must be 'GET' or 'POST', not {self.method!r}")
        if not self.url.startswith(("https://", "http://", "/")):
            raise ValueError(f"PageCompletion.url must be an http(s) URL or a path, not {self.url!r}")

    def as_message(self) -> dict[str, Any]:
        """The `completion` object of the protocol's `assigned` and `submitted` answers (docs/protocol.md)."""
        return {"url": self.url, "method": self.method, "fields": dict(self.fields), "label": self.label}


@dataclass(frozen=True)
class WorkerIdentity:
    """Who opened a worker link, as the provider tells from the link's query parameters.

    `worker_name` is None for a visitor who is not a worker yet (preview). `provider_agent_id` is the
    provider's id of this attempt (MTurk assignment id, Prolific submission id), when it has one.
    `completion`, when set, is where the page goes after its unit's submission is stored (see `PageCompletion`);
    `identify_worker` is asked again at each of the page's hellos (a reconnect or a reload), so it is made
    from the link alone.
    """

    worker_name: str | None
    provider_agent_id: str | None = None
    refusal: str | None = None  # a message for the worker when the link itself is not valid
    completion: PageCompletion | None = None


class DriftKind(StrEnum):
    """How a unit at the platform disagrees with the database (`CrowdProvider.reconcile_units`)."""

    #: submitted at the platform, not here: the core stores `outputs` and marks the work for review
    SUBMITTED_THERE = "submitted_there"
    #: returned or abandoned at the platform while held here: the core frees the unit
    ABANDONED_THERE = "abandoned_there"
    #: published (live) at the platform while not offered here: the core withdraws it there
    UNKNOWN_HERE = "unknown_here"


@dataclass(frozen=True)
class UnitDrift:
    """One disagreement between the platform and the database about a unit.

    `unit_id` is the database's unit (None when the platform holds something the database has no unit for),
    `provider_unit_id` the platform's id of it. For SUBMITTED_THERE, `worker_name` and `outputs` are what the
    platform can tell of the submission (None for what it cannot).
    """

    kind: DriftKind
    unit_id: int | None
    provider_unit_id: str | None = None
    worker_name: str | None = None
    outputs: dict[str, Any] | None = None


@dataclass(frozen=True)
class BonusOrder:
    """One bonus of a bulk (`CrowdProvider.pay_bonus_many`): what `pay_bonus` takes, for one worker."""

    worker: Worker
    amount: Decimal
    reason: str
    unit: Unit | None
    idempotency_key: str


class CrowdProvider:
    """Base class of crowd providers.

    A subclass sets `type_name`, `Args` (its `[provider]` section) and `RequesterArgs` (the credentials it
    stores), and implements the methods below. Methods that talk to the crowd platform are synchronous; the
    operator runs them off its event loop. Every method not implemented raises NotImplementedError naming the
    provider, so an unsupported action is reported, never silently skipped.
    """

    type_name: ClassVar[str]
    Args: ClassVar[type[ProviderArgs]] = ProviderArgs
    RequesterArgs: ClassVar[type[RequesterArgs]] = RequesterArgs
    is_sandbox: ClassVar[bool] = False
    #: False for providers with nothing to publish per unit (no platform): launching then skips `launch_units`.
    publishes_units: ClassVar[bool] = True
    default_requester_name: ClassVar[str | None] = None  # used when the task file names no requester
    #: Methods (by name) that may be called again after a failure or a timeout without doing anything twice:
    #: the core retries only these, with exponential backoff (operations/provider_calls.py). Add
    #: "publish_units" when the platform honours its idempotency keys, "expire_units" when withdrawing twice
    #: is harmless.
    idempotent_calls: ClassVar[frozenset[str]] = frozenset({"identify_worker", "find_published", "reconcile_units"})
    #: How long the core waits for one call to the platform before it counts as failed.
    call_timeout_seconds: ClassVar[float] = 60.0
    #: True when `identify_worker` reads only the link (and local files): the core then calls it inline while
    #: answering a page's hello instead of on the provider-call threads (a hop that costs throughput).
    identifies_workers_locally: ClassVar[bool] = False
    #: Seconds between the in-run comparisons with the platform (`reconcile_units` on the run's open units), so
    #: work returned or timed out there frees its unit here at once; None: only at every start of a run.
    sync_interval_seconds: ClassVar[float | None] = None
    #: Which units the in-run sync hands `reconcile_units`: "held" (those workers hold: what a return or a
    #: submission at the platform concerns) or "open" (also those offered or withdrawn here, for a provider that
    #: reports work for units nobody holds during the run, not only at its start). A large run offers 100,000
    #: units: reading them all at every interval took the database writer 1.6-1.7 s, its 1,000 held ones 0.05 s.
    in_run_sync_units: ClassVar[Literal["held", "open"]] = "held"
    #: True when the platform sends workers only to public https:// URLs (MTurk's ExternalQuestion, Prolific's
    #: study URL): `mephisto check` and launch then refuse an architect whose `serves_public_https()` is False.
    requires_public_https: ClassVar[bool] = False
    #: Review calls this provider makes for many units or workers in one platform call, by name: "approve_work"
    #: (`approve_work_many`), "pay_bonus" (`pay_bonus_many`), "block_worker" / "unblock_worker"
    #: (`block_worker_many` / `unblock_worker_many`), "block_worker_for_task" / "unblock_worker_for_task" (their
    #: `_many`) and "grant_qualification" / "revoke_qualification" (`grant_qualification_many` /
    #: `revoke_qualification_many`). A bulk action then asks for up to 500 in one call instead of one call each (8
    #: at a time); the others are asked one by one. Each `_many` method's default asks for the items one after the
    #: other with the single call, so it is right for any provider, and worth naming here only when overridden.
    #: `CALLS_WITH_MANY_FORMS` holds every name.
    calls_for_many: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, args: ProviderArgs, requester_name: str, credentials: Mapping[str, Any], data_dir: Path):
        self.args = args
        self.requester_name = requester_name
        self.credentials = dict(credentials)
        self.data_dir = data_dir

    @classmethod
    def data_dir_under(cls, data_dir: Path) -> Path:
        """This provider type's own folder under the process's data dir (`MEPHISTO_DATA_DIR`).

        The operator and review pass it to `__init__` as `data_dir`; a plugin's own commands (run outside any
        launch) call it to find the same files.
        """
        return Path(data_dir) / PROVIDERS_FOLDER / cls.type_name

    @classmethod
    def validate_credentials(cls, credentials: Mapping[str, Any]) -> dict[str, Any]:
        """Check credentials before they are stored (e.g. call the platform); return what to store."""
        return cls.RequesterArgs(**credentials).model_dump()

    @classmethod
    def secret_fields(cls) -> set[str]:
        """Credential keys that must never be printed: those `RequesterArgs` declares secret (see its docstring)."""
        return secret_field_names(cls.RequesterArgs)

    def fee(self, amount: Decimal) -> Decimal:
        """The platform's fee on paying `amount` to a worker (0 when the platform charges none).

        Called for every reward and bonus (the payments ledger records it beside the amount), by `mephisto check`
        for the worst-case cost and by the budget cap; keep it a pure computation (no platform call).
        """
        return Decimal("0")

    def fee_schedule(self) -> str:
        """One line for researchers saying how `fee` is computed (shown by `mephisto check`)."""
        return "no fee"

    def balance(self) -> Decimal | None:
        """The requester account's balance at the platform, in the task's currency; None when it cannot tell.

        `mephisto check` shows it beside the worst-case cost when the requester's credentials are registered;
        an exception here is shown as a warning, never stops the check.
        """
        return None

    def pay_bonus(
        self, worker: Worker, amount: Decimal, reason: str, unit: Unit | None, idempotency_key: str
    ) -> str | None:
        """Pay a bonus once per `idempotency_key`; return the platform's id of the payment (or None).

        The core records the intent in the payments ledger before this call and the outcome after it. After a
        crash between the two the same key is asked again: a platform that accepts a client token (MTurk's
        UniqueRequestToken) must pass the key so the second call pays nothing. The default calls
        `bonus_worker`, for providers written before keys existed.
        """
        self.bonus_worker(worker, amount, reason, unit)
        return None

    def pay_bonus_many(self, bonuses: Sequence[BonusOrder]) -> list[str | Exception | None]:
        """`pay_bonus` for each of `bonuses`, in as few platform calls as the platform allows (named in
        `calls_for_many` as "pay_bonus"); per bonus, in order, the platform's id of its payment (or None), or the
        exception that refused it. The same promise per key as `pay_bonus`: asked again after a crash, nothing is
        paid twice. Raising refuses them all (nothing may have been paid then)."""
        return _one_by_one(self.pay_bonus, [(b.worker, b.amount, b.reason, b.unit, b.idempotency_key) for b in bonuses])

    def identify_worker(self, params: Mapping[str, str]) -> WorkerIdentity:
        """Tell from a worker link's query parameters who the worker is."""
        raise NotImplementedError(f"provider {self.type_name} must implement identify_worker()")

    def worker_link(self, base_url: str, worker_name: str | None = None) -> str:
        """The link to print for workers (for `worker_name` where the provider has personal links)."""
        return base_url

    def simulated_worker_params(self, worker_name: str) -> dict[str, str]:
        """The query parameters of the link a simulated worker named `worker_name` opens (`launch --simulate`).

        The default is the mock style, `?worker_id=NAME`, and only when `identify_worker` recognises that link
        as worker `worker_name`; otherwise it raises ProviderError naming the provider, so `--simulate` refuses
        before anything is launched instead of running bots that are never given work. A provider whose links
        carry other parameters overrides this; a paid platform that cannot be simulated raises ProviderError.
        Called on the operator's event loop before the bots start: keep it quick (no platform calls).
        """
        params = {"worker_id": worker_name}
        try:
            identity = self.identify_worker(params)
        except NotImplementedError:
            identity = WorkerIdentity(None)
        if identity.worker_name != worker_name:
            raise ProviderError(
                f"provider {self.type_name!r} cannot run simulated workers: its links do not identify a worker "
                "by ?worker_id=NAME and it does not say how a simulated worker's link is made "
                "(CrowdProvider.simulated_worker_params). Launch without --simulate."
            )
        return params

    def setup_resources(self, run: TaskRun, worker_url: str) -> None:
        """Create what the run needs at the platform (HIT type, study, ...) before units are launched."""

    def launch_units(self, units: Sequence[Unit], worker_url: str) -> dict[int, str | None]:
        """Publish units at the platform; return {unit id: provider's id for it (or None)}."""
        return {unit.id: None for unit in units}

    def publish_units(
        self, units: Sequence[Unit], worker_url: str, idempotency_keys: Mapping[int, str]
    ) -> dict[int, str | None]:
        """Publish units at the platform, each under its idempotency key ({unit id: key}); return {unit id:
        provider's id for it (or None)}.

        The core records each key before this call and the result after it. After a crash between the two, the
        next start asks `find_published(key)` and, when the platform has nothing under the key, calls this again
        with the same key: a provider that passes the key to the platform (MTurk's UniqueRequestToken) publishes
        each unit exactly once. The default calls `launch_units`, which knows no keys.
        """
        return self.launch_units(units, worker_url)

    def find_published(self, idempotency_key: str) -> str | None:
        """The provider's id of what was published under `idempotency_key` ("" when it has no id), or None when
        the platform has nothing under that key. The default (None) suits providers that publish nothing
        (`publishes_units = False`); a provider that publishes must implement it or a unit whose result was lost
        in a crash may be published twice."""
        return None

    def reconcile_units(self, run: TaskRun, units: Sequence[Unit]) -> list[UnitDrift]:
        """Compare the run's open units (offered, held, or withdrawn here) with the platform's view of them.

        Called at every start of a run (first launch and resume), before any unit is offered, with every open
        unit; and every `sync_interval_seconds` during the run, with the units `in_run_sync_units` names. Return
        one `UnitDrift` per unit whose platform state disagrees with the database; the core applies them (see
        `DriftKind`). An empty list means nothing to reconcile, the honest answer of a provider with no platform.
        """
        return []

    def expire_units(self, units: Sequence[Unit]) -> None:
        """Withdraw units that nobody should start any more."""

    def cleanup_resources(self, run: TaskRun) -> None:
        """Release what `setup_resources` created once the run is over."""

    def approve_work(self, agent: Agent, feedback: str) -> None:
        raise NotImplementedError(f"provider {self.type_name} cannot approve work yet")

    def approve_work_many(self, agents: Sequence[Agent], feedback: str) -> list[Exception | None]:
        """`approve_work` for each of `agents`, in as few platform calls as the platform allows (named in
        `calls_for_many` as "approve_work"); per agent, in order, None once the platform approved it, or the
        exception that refused it. Approving again what the platform approved already must count as done (a
        retry after a crash asks again). Raising refuses them all."""
        return _one_by_one(self.approve_work, [(agent, feedback) for agent in agents])

    def reject_work(self, agent: Agent, feedback: str) -> None:
        raise NotImplementedError(f"provider {self.type_name} cannot reject work yet")

    def soft_reject_work(self, agent: Agent, feedback: str) -> None:
        """Pay the worker but mark the work as not usable (default: approve at the platform)."""
        self.approve_work(agent, feedback)

    def bonus_worker(self, worker: Worker, amount: Decimal, reason: str, unit: Unit | None) -> None:
        raise NotImplementedError(f"provider {self.type_name} cannot pay bonuses yet")

    def block_worker(self, worker: Worker, reason: str) -> None:
        """Block `worker` from every task of this requester at the platform (mephisto's own check blocks anyway).

        Raise `PlatformUnsupported` when the platform cannot block: the block then holds locally only and the
        action's result says so.
        """
        raise PlatformUnsupported(f"provider {self.type_name} does not block workers at its platform")

    def unblock_worker(self, worker: Worker) -> None:
        """Lift `block_worker` at the platform (`PlatformUnsupported` when it cannot)."""
        raise PlatformUnsupported(f"provider {self.type_name} does not unblock workers at its platform")

    def block_worker_many(self, workers: Sequence[Worker], reason: str) -> list[Exception | None]:
        """`block_worker` for each of `workers` in as few platform calls as the platform allows (named in
        `calls_for_many` as "block_worker"); per worker, in order, None once blocked or the exception that refused
        it. Raising refuses them all."""
        return _one_by_one(self.block_worker, [(worker, reason) for worker in workers])

    def unblock_worker_many(self, workers: Sequence[Worker]) -> list[Exception | None]:
        """`unblock_worker` for each of `workers` in as few platform calls as the platform allows (named in
        `calls_for_many` as "unblock_worker"); per worker, in order, None or the exception that refused it."""
        return _one_by_one(self.unblock_worker, [(worker,) for worker in workers])

    def block_worker_for_task(self, worker: Worker, task_name: str, reason: str) -> None:
        """Keep `worker` away from task `task_name` only, at the platform (e.g. a per-task qualification there).

        Locally the per-task block is the qualification `<task_name>-blocked`. Raise `PlatformUnsupported` when
        the platform cannot block per task.
        """
        raise PlatformUnsupported(f"provider {self.type_name} has no per-task blocks at its platform")

    def unblock_worker_for_task(self, worker: Worker, task_name: str) -> None:
        """Lift `block_worker_for_task` at the platform (`PlatformUnsupported` when it cannot)."""
        raise PlatformUnsupported(f"provider {self.type_name} has no per-task blocks at its platform")

    def block_worker_for_task_many(
        self, workers: Sequence[Worker], task_name: str, reason: str
    ) -> list[Exception | None]:
        """`block_worker_for_task` for each of `workers` in as few platform calls as the platform allows (named in
        `calls_for_many` as "block_worker_for_task"); per worker, in order, None or the exception that refused it."""
        return _one_by_one(self.block_worker_for_task, [(worker, task_name, reason) for worker in workers])

    def unblock_worker_for_task_many(self, workers: Sequence[Worker], task_name: str) -> list[Exception | None]:
        """`unblock_worker_for_task` for each of `workers` in as few platform calls as the platform allows (named
        in `calls_for_many` as "unblock_worker_for_task"); per worker, in order, None or its refusal."""
        return _one_by_one(self.unblock_worker_for_task, [(worker, task_name) for worker in workers])

    def grant_qualification(self, worker: Worker, name: str, value: int) -> None:
        """Grant (or re-grant with a new value) qualification `name` to `worker` at the platform.

        Called after the local grant was checked and before it is committed; a failure refuses the grant. Raise
        `PlatformUnsupported` when the platform has no qualifications: the grant then holds locally only. During
        a run it is also called for the automatic grants (onboarding, screening, gold), on a provider-call thread
        once they are committed (a failure is recorded, the grant holds); only when a subclass overrides it.
        """
        raise PlatformUnsupported(f"provider {self.type_name} has no qualifications at its platform")

    def revoke_qualification(self, worker: Worker, name: str) -> None:
        """Take qualification `name` away from `worker` at the platform (`PlatformUnsupported` when it cannot)."""
        raise PlatformUnsupported(f"provider {self.type_name} has no qualifications at its platform")

    def grant_qualification_many(self, workers: Sequence[Worker], name: str, value: int) -> list[Exception | None]:
        """`grant_qualification` for each of `workers` in as few platform calls as the platform allows (named in
        `calls_for_many` as "grant_qualification"); per worker, in order, None or the exception that refused it."""
        return _one_by_one(self.grant_qualification, [(worker, name, value) for worker in workers])

    def revoke_qualification_many(self, workers: Sequence[Worker], name: str) -> list[Exception | None]:
        """`revoke_qualification` for each of `workers` in as few platform calls as the platform allows (named in
        `calls_for_many` as "revoke_qualification"); per worker, in order, None or the exception that refused it."""
        return _one_by_one(self.revoke_qualification, [(worker, name) for worker in workers])

    def platform_requirements(self, requirements: Sequence[QualificationRequirement]) -> RequirementMapping:
        """Map a task's qualification requirements to what the platform enforces itself.

        Called by `setup_resources` callers and by `mephisto check` (which shows the result); it must not change
        anything at the platform. Return a `RequirementMapping`: per requirement name, either what the platform
        enforces (so workers who cannot qualify never see the task there) or why it stays local. Every requirement
        is also enforced by mephisto's own check. This default enforces nothing at the platform.
        """
        reason = f"provider {self.type_name} has no platform-side requirements"
        return RequirementMapping(local_only={req.name: reason for req in requirements})


def _one_by_one(call: Callable[..., R], arguments: Sequence[tuple[Any, ...]]) -> list[R | Exception]:
    """`call(*args)` for each of `arguments`, one after the other; per call its answer or the exception that
    refused it (the default of every `CrowdProvider.<call>_many`)."""
    answers: list[R | Exception] = []
    for args in arguments:
        try:
            answers.append(call(*args))
        except Exception as exc:
            answers.append(exc)
    return answers
