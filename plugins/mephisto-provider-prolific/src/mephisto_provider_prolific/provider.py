"""The `prolific` provider: one Prolific study per run, its places grown as units are published.

How publishing stays idempotent: each unit published adds its idempotency key to the run's record (state.py)
before Prolific is told, and the study's `total_available_places` is always set to the number of recorded keys
not withdrawn (never lower than the places participants hold, and at least 1, Prolific's minimum). Setting an
absolute number twice changes nothing, so `publish_units` and `expire_units` may be repeated, and
`find_published(key)` answers "published" when the key is recorded and the study at Prolific has at least as
many places as the record counts.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import SecretStr

from mephisto_core.abstractions import (
    CALLS_WITH_MANY_FORMS,
    CrowdProvider,
    DriftKind,
    ProviderArgs,
    RequesterArgs,
    RequirementMapping,
    UnitDrift,
)
from mephisto_core.errors import ProviderError
from mephisto_provider_prolific.api import ProlificAPI
from mephisto_provider_prolific.args import MAX_MINUTES, ProlificArgs, ProlificRequesterArgs, task_block_group_name
from mephisto_provider_prolific.block_lists import BlockLists
from mephisto_provider_prolific.bulk_review import ProlificBulkReviewMixin
from mephisto_provider_prolific.client import ProlificClient
from mephisto_provider_prolific.eligibility import (
    GLOBAL_BLOCK,
    eligible_participants,
    holders,
    needs_allow_list,
    task_block,
)
from mephisto_provider_prolific.held import HeldSubmissions
from mephisto_provider_prolific.links import ProlificLinksMixin, study_url
from mephisto_provider_prolific.models import AWAITING_REVIEW, GONE_STATUSES, CompletionCode, Filter, Study, StudyCreate
from mephisto_provider_prolific.money import to_cents
from mephisto_provider_prolific.settings import load_prolific_settings
from mephisto_provider_prolific.state import RunState, StateStore

if TYPE_CHECKING:
    from mephisto_core.data_model import TaskRun, Unit

log = logging.getLogger(__name__)

FINISHED_SUFFIX = "-finished"
_CENT = Decimal("0.01")


def study_internal_name(run_id: int, number: int) -> str:
    """The run's own name for its `number`-th study (1-based): how a lost record finds it again."""
    return f"mephisto-run-{run_id}-{number}"


class _PublicHttpsRule:
    """Prolific sends participants only to public https:// study URLs; a test's fake (MEPHISTO_PROLIFIC_API_URL
    set) runs on http://127.0.0.1 with the local architect, so the same test-only setting lifts the rule.

    A descriptor, so `mephisto check` and launch, which read the class attribute, see the setting of their own
    process."""

    def __get__(self, instance: object, owner: type | None = None) -> bool:
        return not load_prolific_settings().is_overridden


class ProlificProvider(ProlificLinksMixin, ProlificBulkReviewMixin, CrowdProvider):
    """Publishes a run as one Prolific study; participants arrive with PROLIFIC_PID, STUDY_ID and SESSION_ID.

    See the package README for the researcher's guide and the module docstring for how publishing is idempotent.
    """

    type_name: ClassVar[str] = "prolific"
    Args: ClassVar[type[ProviderArgs]] = ProlificArgs
    RequesterArgs: ClassVar[type[RequesterArgs]] = ProlificRequesterArgs
    default_requester_name: ClassVar[str | None] = "prolific"
    idempotent_calls: ClassVar[frozenset[str]] = frozenset(
        {"identify_worker", "find_published", "reconcile_units", "publish_units", "expire_units"}
    )
    call_timeout_seconds: ClassVar[float] = 60.0
    calls_for_many: ClassVar[frozenset[str]] = CALLS_WITH_MANY_FORMS  # every one (bulk_review.py)
    identifies_workers_locally: ClassVar[bool] = True  # the link and the run's record decide
    sync_interval_seconds: ClassVar[float | None] = 15.0
    #: True, except when MEPHISTO_PROLIFIC_API_URL points the provider at a test's fake (see _PublicHttpsRule).
    requires_public_https: ClassVar[bool] = _PublicHttpsRule()  # type: ignore[assignment]

    def __init__(self, args: ProviderArgs, requester_name: str, credentials: Mapping[str, Any], data_dir: Path):
        super().__init__(args, requester_name, credentials, data_dir)
        assert isinstance(args, ProlificArgs)
        self.pargs: ProlificArgs = args
        self.settings = load_prolific_settings()
        self.sync_interval_seconds = args.sync_interval_seconds  # type: ignore[misc]
        self.store = StateStore(data_dir)
        self._api: ProlificAPI | None = None
        #: the in-run sync's reader of held submissions; it remembers each study's size between syncs
        self.held = HeldSubmissions()
        #: the workspace's block-list groups, each looked up once
        self.block_lists = BlockLists(lambda: self.api, args.workspace)
        self._run_id: int | None = None
        self._api_lock = threading.Lock()
        self._places_lock = threading.Lock()
        self._codes_lock = threading.Lock()
        self._codes: dict[str, str] | None = None
        self._current_code: tuple[str, str] | None = None

    # -- connection -----------------------------------------------------------------------------------------------

    @property
    def api(self) -> ProlificAPI:
        """The API client, made on first use (a provider built only for `fee` never needs a token)."""
        with self._api_lock:  # several provider-call threads may ask first at once
            if self._api is None:
                key = self.credentials.get("api_key")
                if isinstance(key, SecretStr):
                    key = key.get_secret_value()
                self._api = ProlificAPI(ProlificClient(str(key or ""), self.settings.api_url))
            return self._api

    @classmethod
    def validate_credentials(cls, credentials: Mapping[str, Any]) -> dict[str, Any]:
        """Check the token with Prolific (`users/me/`) before it is stored."""
        args = ProlificRequesterArgs(**credentials)
        key = args.api_key.get_secret_value()
        client = ProlificClient(key, load_prolific_settings().api_url, max_retries=2)
        try:
            ProlificAPI(client).me()
        except ProviderError as exc:
            raise ProviderError(f"Prolific did not accept this API token: {exc}") from None
        finally:
            client.close()
        return {"api_key": key}

    # -- money ----------------------------------------------------------------------------------------------------

    def fee(self, amount: Decimal) -> Decimal:
        """Prolific's service fee on `amount` paid to participants, with VAT on the fee when configured."""
        rate = self.pargs.service_fee_rate * (1 + self.pargs.fee_vat_rate)
        return (Decimal(amount) * rate).quantize(_CENT, rounding=ROUND_HALF_UP)

    def fee_schedule(self) -> str:
        vat = f", plus {_percent(self.pargs.fee_vat_rate)} VAT on the fee" if self.pargs.fee_vat_rate else ""
        return f"Prolific service fee {_percent(self.pargs.service_fee_rate)} of every reward and bonus{vat}"

    def balance(self) -> Decimal | None:
        """The workspace's available balance (None when the workspace does not exist yet)."""
        workspace = self.api.find_workspace(self.pargs.workspace)
        if workspace is None:
            return None
        return Decimal(self.api.balance(workspace.id).available_balance) / 100

    # -- the run's study ------------------------------------------------------------------------------------------

    def setup_resources(self, run: TaskRun, worker_url: str) -> None:
        """Find or make the workspace, project, groups and the run's study (a draft until units are published).

        Safe to repeat: a resumed run finds its record (or, when the record was lost, its study by internal name);
        a study stopped by an earlier shutdown is followed by a new one.
        """
        self._run_id = run.id
        task = dict(run.config.get("task", {}))
        reward_cents = to_cents(Decimal(str(task.get("reward", "0"))), "task reward")
        requirements = [dict(req) for req in task.get("qualifications", [])]
        workspace = self.api.find_or_create_workspace(self.pargs.workspace)
        project = self.api.find_or_create_project(workspace.id, self.pargs.project)
        block_group = self.api.find_or_create_group(workspace.id, self.pargs.block_list_group)
        task_group = self.api.find_or_create_group(workspace.id, task_block_group_name(self.pargs, run.task.name))
        # Blocks made while no run of this provider existed never reached Prolific: add them now.
        self._add_missing(block_group.id, holders(self.type_name, GLOBAL_BLOCK))
        self._add_missing(task_group.id, holders(self.type_name, task_block(run.task.name)))
        with self.store.edit_run(run.id) as state:
            state.workspace_id, state.project_id, state.block_group_id = workspace.id, project.id, block_group.id
            state.task_block_group_id = task_group.id
            state.requirements = requirements
            state.finished = False
            if needs_allow_list(requirements) and state.allow_group_id is None:
                group = self.api.create_group(workspace.id, f"mephisto run {run.id} allow list")
                state.allow_group_id = group.id
        if state.allow_group_id is not None:
            wanted = set(eligible_participants(self.type_name, requirements))
            present = set(self.api.group_members(state.allow_group_id))
            self.api.add_to_group(state.allow_group_id, sorted(wanted - present))
            self.api.remove_from_group(state.allow_group_id, sorted(present - wanted))
        study = self._current_study(state)
        if study is not None and study.external_study_url != study_url(worker_url):
            # The task is served at a new address (a relaunch on another port or host); Prolific cannot change a
            # published study's URL, so the old study is stopped and the run goes on in a new one.
            log.info("the worker URL changed; stopping study %s and making a new one", study.id)
            if study.status == "UNPUBLISHED":
                self.api.client.request("DELETE", f"studies/{study.id}/")
            else:
                self._stop(study.id)
            with self.store.edit_run(run.id) as edited:
                edited.stopped.append(study.id)
            state = self.store.load_run(run.id) or state
            study = None
        if study is None:
            if state.studies:
                self._carry_keys_over(state)
                state = self.store.load_run(run.id) or state
            study = self._create_study(run, state, task, reward_cents, worker_url)
            state = self.store.load_run(run.id) or state
        if state.live_keys():
            study = self._sync_places(state)  # places recorded but not yet at Prolific (a crash, a new study)
        self._forget_codes()
        log.info("Prolific study %s (%s) serves run %s", study.id, study.status, run.id)

    def _add_missing(self, group_id: str, participants: list[str]) -> None:
        if participants:
            present = set(self.api.group_members(group_id))
            self.api.add_to_group(group_id, [p for p in participants if p not in present])

    def _current_study(self, state: RunState) -> Study | None:
        """The run's study that can still take participants, if there is one (looked up by name when unrecorded)."""
        if state.study_id is not None and state.study_id not in state.stopped:
            return self.api.study(state.study_id)
        number = len(state.studies) + 1
        assert state.project_id is not None
        found = self.api.find_study(state.project_id, study_internal_name(state.run_id, number))
        if found is not None:
            with self.store.edit_run(state.run_id) as edited:
                edited.studies.append(found.id)
                edited.codes.setdefault(found.id, _completion_code_of(found))
        return found

    def _carry_keys_over(self, state: RunState) -> None:
        """Before a new study replaces a stopped one: only units still offered here need places in it."""
        from mephisto_core.data_model import Unit, UnitStatus

        offered = {
            unit_id
            for (unit_id,) in Unit.select(Unit.id)
            .where((Unit.task_run == state.run_id) & (Unit.status == UnitStatus.LAUNCHED.value))
            .tuples()
        }
        with self.store.edit_run(state.run_id) as edited:
            live = set(edited.live_keys())
            for key, unit_id in list(edited.keys.items()):
                if key not in live or unit_id not in offered:
                    edited.retired[key] = unit_id
                    del edited.keys[key]
            edited.withdrawn = []

    def _create_study(
        self, run: TaskRun, state: RunState, task: Mapping[str, Any], reward_cents: int, worker_url: str
    ) -> Study:
        code = "MEPHISTO-" + secrets.token_hex(6).upper()
        filters = list(self.pargs.eligibility_requirements)
        if state.allow_group_id is not None:
            filters.append(Filter(filter_id="participant_group_allowlist", selected_values=[state.allow_group_id]))
        blocked = [g for g in (state.block_group_id, state.task_block_group_id) if g is not None]
        filters.append(Filter(filter_id="participant_group_blocklist", selected_values=blocked))
        duration = int(task.get("assignment_duration_seconds", 1800))
        maximum = self.pargs.maximum_allowed_minutes or min(MAX_MINUTES, max(1, -(-duration // 60)))
        estimated = self.pargs.estimated_completion_minutes
        draft = StudyCreate(
            name=self.pargs.study_name or str(task.get("title", "Mephisto task")),
            internal_name=study_internal_name(run.id, len(state.studies) + 1),
            description=str(task.get("description") or task.get("title", "")),
            external_study_url=study_url(worker_url),
            completion_codes=[CompletionCode(code=code)],
            estimated_completion_time=estimated,
            maximum_allowed_time=max(maximum, estimated),
            reward=reward_cents,
            total_available_places=1,  # Prolific's minimum; set from the units when they are published
            filters=filters,
            project=state.project_id,
            device_compatibility=list(self.pargs.device_compatibility),
        )
        study = self.api.create_study(draft)
        with self.store.edit_run(run.id) as edited:
            edited.studies.append(study.id)
            edited.codes[study.id] = code
        return study

    def _state(self) -> RunState:
        if self._run_id is None:
            raise ProviderError("the Prolific provider was asked to publish before setup_resources made the study")
        state = self.store.load_run(self._run_id)
        if state is None or state.study_id is None:
            raise ProviderError(f"run {self._run_id} has no Prolific study on record (setup_resources did not finish)")
        return state

    def _sync_places(self, state: RunState) -> Study:
        """Set the study's places from the record, and publish, pause or restart it to match.

        One at a time, from the record as it is now: a publish and a withdrawal on two provider-call threads
        must not set the places each from its own older count.
        """
        with self._places_lock:
            return self._sync_places_now(self.store.load_run(state.run_id) or state)

    def _sync_places_now(self, state: RunState) -> Study:
        assert state.study_id is not None
        study = self.api.study(state.study_id)
        wanted = len(state.live_keys())
        places = max(wanted, study.places_taken, 1)
        if study.total_available_places != places:
            study = self.api.update_study(study.id, {"total_available_places": places})
        free = wanted > study.places_taken
        if free and study.status == "UNPUBLISHED":
            study = self.api.transition_study(study.id, "PUBLISH")
        elif free and study.status == "PAUSED":
            study = self.api.transition_study(study.id, "START")
        elif not free and wanted == 0 and study.status == "ACTIVE" and study.places_taken == 0:
            study = self.api.transition_study(study.id, "PAUSE")  # Prolific's one-place minimum stays closed
        return study

    def publish_units(
        self, units: Sequence[Unit], worker_url: str, idempotency_keys: Mapping[int, str]
    ) -> dict[int, str | None]:
        """Add one place per unit (recorded under its key first); every unit's provider id is the study's id."""
        state = self._state()
        with self.store.edit_run(state.run_id) as state:
            offered = {idempotency_keys[unit.id]: unit.id for unit in units}
            state.keys.update(offered)
            if state.withdrawn:  # keys offered again leave it, in one pass: a large run's list runs to thousands
                state.withdrawn = [key for key in state.withdrawn if key not in offered]
        study = self._sync_places(state)
        return {unit.id: study.id for unit in units}

    def find_published(self, idempotency_key: str) -> str | None:
        """The study's id when the key is recorded and Prolific has the places the record counts; else None."""
        state = self._state()
        if idempotency_key in state.retired:
            return ""  # published in an earlier study of the run, which was stopped since
        if idempotency_key not in state.keys:
            return None
        assert state.study_id is not None
        study = self.api.study(state.study_id)
        if study.status == "UNPUBLISHED" or study.total_available_places < len(state.live_keys()):
            return None
        return study.id

    def expire_units(self, units: Sequence[Unit]) -> None:
        """Withdraw the units' places (their keys); places participants hold stay."""
        state = self._state()
        ids = {unit.id for unit in units if unit.id is not None}
        with self.store.edit_run(state.run_id) as state:
            gone = set(state.withdrawn)
            state.withdrawn.extend(key for key, unit_id in state.keys.items() if unit_id in ids and key not in gone)
        self._sync_places(state)

    def reconcile_units(self, run: TaskRun, units: Sequence[Unit]) -> list[UnitDrift]:
        """Compare the units held here with the run's submissions at Prolific (SESSION_ID = agent's provider id).

        A submission AWAITING REVIEW whose unit is still held here was submitted there (SUBMITTED_THERE); one
        RETURNED or TIMED-OUT whose unit is still held here was abandoned (ABANDONED_THERE).
        """
        from mephisto_core.data_model import Agent, AgentStatus, UnitStatus

        state = self.store.load_run(run.id)
        if state is None or not state.studies:
            return []
        held = {unit.agent_id: unit for unit in units if unit.status == UnitStatus.ASSIGNED.value and unit.agent_id}
        if not held:
            return []
        by_session = {
            str(agent.provider_agent_id): held[agent.id]
            for agent in Agent.select(Agent.id, Agent.provider_agent_id).where(
                Agent.id.in_(list(held)) & (Agent.status == AgentStatus.IN_TASK.value)
            )
            if agent.provider_agent_id
        }
        drifts = []
        for study_id, submission in self.held.read(self.api, state.studies, by_session):
            if submission.status == AWAITING_REVIEW:
                kind = DriftKind.SUBMITTED_THERE
            elif submission.status in GONE_STATUSES:
                kind = DriftKind.ABANDONED_THERE
            else:
                continue
            unit = by_session[submission.id]
            drifts.append(UnitDrift(kind, unit.id, study_id, worker_name=submission.participant_id))
        return drifts

    def cleanup_resources(self, run: TaskRun) -> None:
        """Stop the run's study; when the run is done, rename it with a suffix and delete its allow list."""
        from mephisto_core.data_model import Unit, UnitStatus

        state = self.store.load_run(run.id)
        if state is None or state.study_id is None:
            return
        # Expired units count as open: a stopped launch withdraws them, and the next launch offers them again.
        open_statuses = [UnitStatus.CREATED.value, UnitStatus.LAUNCHED.value, UnitStatus.ASSIGNED.value]
        open_statuses.append(UnitStatus.EXPIRED.value)
        done = not Unit.select().where((Unit.task_run == run.id) & (Unit.status.in_(open_statuses))).exists()
        self.stop_run_studies(state, finished=done)

    def stop_run_studies(self, state: RunState, *, finished: bool) -> list[str]:
        """Stop every live study of the run (a draft is deleted); return one sentence per change made."""
        done: list[str] = []
        for study_id in state.studies:
            if study_id in state.stopped:
                continue
            study = self.api.study(study_id)
            if study.status == "UNPUBLISHED":
                self.api.client.request("DELETE", f"studies/{study_id}/")
                done.append(f"deleted draft study {study_id}")
            else:
                if finished and study.internal_name and not study.internal_name.endswith(FINISHED_SUFFIX):
                    self.api.update_study(study_id, {"internal_name": study.internal_name + FINISHED_SUFFIX})
                self._stop(study_id)
                done.append(f"stopped study {study_id}")
            with self.store.edit_run(state.run_id) as edited:
                edited.stopped.append(study_id)
        if finished and state.allow_group_id is not None:
            self.api.delete_group(state.allow_group_id)
            done.append(f"deleted participant group {state.allow_group_id}")
            with self.store.edit_run(state.run_id) as edited:
                edited.allow_group_id = None
                edited.finished = True
        elif finished:
            with self.store.edit_run(state.run_id) as edited:
                edited.finished = True
        return done

    def _stop(self, study_id: str) -> None:
        from mephisto_provider_prolific.client import ProlificAPIError

        try:
            self.api.transition_study(study_id, "STOP")
        except ProlificAPIError as exc:
            if exc.status != 400 or "already been stopped" not in str(exc):
                raise
            log.info("study %s was stopped already", study_id)

    # -- workers' links -------------------------------------------------------------------------------------------

    def platform_requirements(self, requirements: Sequence[Any]) -> RequirementMapping:
        """With a requirement that needs a grant, the study admits only a participant group of eligible workers."""
        dumped = [req.model_dump() for req in requirements]
        if not needs_allow_list(dumped):
            why = "Prolific admits every participant without the qualification; nobody can be listed for it"
            return RequirementMapping(local_only={req.name: why for req in requirements})
        how = "the run's allow-list participant group holds only workers who meet every requirement here"
        return RequirementMapping(platform={req.name: how for req in requirements})


def _percent(rate: Decimal) -> str:
    return f"{(rate * 100).normalize():f}%"


def _completion_code_of(study: Study) -> str:
    for code in study.completion_codes:
        if code.code_type == "COMPLETED":
            return code.code
    raise ProviderError(f"Prolific study {study.id} has no COMPLETED completion code")
