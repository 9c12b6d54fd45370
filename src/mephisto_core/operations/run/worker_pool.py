"""Who gets which unit: worker registration, eligibility, the atomic claim, submission and release.

Every method here runs on the database writer thread (see `db_writer`), inside a transaction that commits before
the caller answers the worker. A unit is claimed by one conditional UPDATE (`launched` -> `assigned`), so two
operator processes sharing a PostgreSQL database can never hand the same unit to two workers. The statements run
for every unit are the hand-written ones of `data_model.pool_sql`; rarer paths use the models.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import logging
import os
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import peewee as pw

from mephisto_core.abstractions import UploadedFile, WorkerIdentity
from mephisto_core.data_model import (
    Agent,
    AgentFile,
    AgentStatus,
    Assignment,
    GrantedQualification,
    OnboardingAgent,
    Qualification,
    Review,
    ReviewKind,
    Unit,
    Worker,
    operator_leases,
)
from mephisto_core.data_model.models import utcnow
from mephisto_core.data_model.pool_sql import ClaimedUnit, PoolQueries, Standing
from mephisto_core.data_model.pool_sql_many import LIMITED_STATUSES
from mephisto_core.data_model.qualifications import BLOCK_QUALIFICATION
from mephisto_core.data_model.transitions import set_agent_status
from mephisto_core.operations.run import platform_grants
from mephisto_core.operations.run.agent_release import AgentReleases
from mephisto_core.operations.run.quality_checks import (
    GOLD_UNIT_INDEX,
    create_gold_unit,
    grade_submission,
    next_gold_item,
    screening_pending,
)
from mephisto_core.operations.run.replies import (
    GONE_TEXT,
    KEY_REUSED,
    NOT_QUALIFIED_GOLD,
    NOT_QUALIFIED_ONBOARDING,
    NOT_QUALIFIED_SCREENING,
    NOT_YOURS,
    ONBOARDING_GONE,
    UNKNOWN_TOKEN,
    Assigned,
    Expired,
    Failure,
    Preview,
    Refusal,
    Refused,
    Submitted,
)
from mephisto_core.operations.run.run_context import RunContext
from mephisto_core.operations.run.time_keys import time_prefix
from mephisto_core.operations.run.uploads import UploadStore
from mephisto_core.operations.run.worker_rules import requirement_refusal, unmet_requirement

log = logging.getLogger(__name__)

CLAIM_ATTEMPTS = 16  # claims tried per registration while other operator processes take the units first
NO_UNITS_HINT_SECONDS = 0.5  # how long "this run offers no unit" is believed without asking the database
WORKER_IDS_REMEMBERED = 1_000_000  # worker names whose id is kept (then forgotten all at once)
CLAIMED_REMEMBERED = 100_000  # claimed agents whose unit and inputs are kept for their submission (then forgotten)
TOKEN_BYTES = 18  # random bytes of an agent token (24 URL-safe characters, after the 12 of its time)


class _NoUnitsHint:
    """Remembers for a moment that the run offered no unit at all (or was over, once all its data is created), so
    that workers asking again and again (at the end of a run, or when they outnumber the units) are refused without
    database work.

    The database stays the authority: the hint is dropped as soon as this process offers units again (the
    run context's `offers` counter moves) and expires after NO_UNITS_HINT_SECONDS, which bounds how late a unit
    offered by another process is noticed.
    """

    def __init__(self) -> None:
        self._refusal: Refused | None = None
        self._offers = 0
        self._until = 0.0

    def remember(self, refusal: Refused, offers: int) -> None:
        self._refusal, self._offers, self._until = refusal, offers, time.monotonic() + NO_UNITS_HINT_SECONDS

    def refusal(self, offers: int) -> Refused | None:
        """The remembered refusal while it holds, else None."""
        if self._refusal is None or offers != self._offers or time.monotonic() >= self._until:
            return None
        return self._refusal


class WorkerPool(AgentReleases):
    """Registers workers, hands out units, stores submissions. Methods run on the database writer thread."""

    def __init__(self, ctx: RunContext, uploads: UploadStore) -> None:
        self.ctx = ctx
        self.uploads = uploads
        task = ctx.config.task
        self.queries = PoolQueries(
            ctx.run.id,
            [
                BLOCK_QUALIFICATION,
                ctx.block_qualification,
                ctx.gold_failed_qualification,
                ctx.screening_qualification,
                ctx.onboarding_qualification,
                *(requirement.name for requirement in task.qualifications),
            ],
        )
        self._no_units = _NoUnitsHint()
        #: agent id -> (unit id, unit index, inputs) of the units this process claimed and has not seen submitted:
        #: what a submission needs to know about its agent, without reading it back (see `_submit_claimed`)
        self._claimed: dict[int, tuple[int, int, Any]] = {}
        #: worker name -> id, of the workers this process met (a worker's id never changes; the statement that
        #: uses it checks it against the name's row)
        self._worker_ids: dict[str, int] = {}
        #: agent id -> (gold item index, worker id) of the gold units of `_claimed` made by a batch
        #: (gold_many.py), which a batch's submissions grade together
        self._gold_claims: dict[int, tuple[int, int]] = {}
        #: ids of workers this process knows to have passed the run's onboarding test (their hellos go straight to
        #: the batch's claim, which checks the grant itself; see onboarding_starts.py)
        self._passed_onboarding: set[int] = set()

    # ---- registration -------------------------------------------------------------------------------------

    def register(
        self, params: Mapping[str, str], token: str | None, identity: WorkerIdentity | None = None
    ) -> Assigned | Expired | Preview | Refused:
        """Answer a page's `hello`: the agent it already had, a newly claimed unit, the preview, or a refusal.

        A `token` names the attempt whose data the page shows; when that attempt is over the page is told so
        (`Expired`) and never handed another unit in its place: it asks for one with a hello without token.
        `identity` is the provider's answer when the caller asked it off this thread (ClientIOHandler does for
        providers that may reach their platform); None asks `identify_worker` here, for providers that identify
        workers locally.
        """
        if identity is None:
            identity = self.ctx.provider.identify_worker(params)
        result = self._register_identified(identity, token)
        if isinstance(result, Assigned) and not result.is_onboarding and identity.completion is not None:
            result = dataclasses.replace(result, completion=identity.completion)
        return result

    def _register_identified(
        self, identity: WorkerIdentity, token: str | None
    ) -> Assigned | Expired | Preview | Refused:
        if identity.refusal:
            return Refused(Refusal.BAD_LINK, identity.refusal)
        if identity.worker_name is None:
            return Preview(self.ctx.blueprint.preview_data())
        standing = None
        worker_id = self._worker_ids.get(identity.worker_name)
        if worker_id is not None and token is None and self.may_claim_with_standing():
            token = self.new_token()
            standing, claimed = self.queries.standing_and_claim(
                self.ctx.run.provider_type, identity.worker_name, worker_id, identity.provider_agent_id, token, utcnow()
            )
            if claimed is not None:
                return self._assigned_claim(claimed, token)
            token = None
        if standing is None:
            standing = self._standing(identity.worker_name)
        refusal = self._standing_refusal(standing)
        if refusal is not None:
            # Blocked or disqualified since they took a unit: the unit goes to someone else now.
            if standing.held:
                for agent_id in self._in_task_agents_of(standing.worker_id):
                    self.release_agent(agent_id, AgentStatus.EXPIRED)
            return refusal
        resumed = self._resume(standing, token, identity.provider_agent_id)
        if resumed is not None:
            return resumed
        if not self.ctx.accepting:
            return Refused(Refusal.RUN_OVER)
        if self.ctx.blueprint.has_onboarding():
            passed = standing.grants.get(self.ctx.onboarding_qualification)
            if passed == 0:
                return Refused(Refusal.NOT_QUALIFIED, NOT_QUALIFIED_ONBOARDING)
            if passed is None:
                return self._start_onboarding(standing.worker_id)
        refusal = self._limit_refusal(standing)
        if refusal is not None:
            return refusal
        refusal = self._no_units.refusal(self.ctx.offers)
        if refusal is not None:
            return refusal
        if self.ctx.rules.gold:
            # A gold unit comes with real work only: no claimable unit, no gold unit either.
            if not self.queries.claimable_exists(standing.worker_id):
                return self.nothing_to_offer()
            worker = Worker.get_by_id(standing.worker_id)
            gold = next_gold_item(self.ctx, worker)
            if gold is not None:
                unit = create_gold_unit(self.ctx, worker, gold)
                return self._assigned(self._new_agent(unit, worker, identity.provider_agent_id))
        return self._claim(standing.worker_id, identity.provider_agent_id)

    def _standing(self, name: str) -> Standing:
        """The worker's id, grants and held agents; a worker seen for the first time is created."""
        provider_type = self.ctx.run.provider_type
        standing = self.queries.standing(provider_type, name)
        if standing is None:
            standing = Standing(self.queries.add_worker(provider_type, name, utcnow()), {}, 0, None)
        self.remember_worker_ids({name: standing.worker_id})
        return standing

    def may_claim_with_standing(self) -> bool:
        """Whether a known worker's hello may read their standing and claim a unit in one statement (PostgreSQL,
        when `standing_decides_all`)."""
        return self.queries.claims_with_standing and self.standing_decides_all()

    def standing_decides_all(self) -> bool:
        """Whether a known worker's standing alone decides their hello: a standing that holds no agent of the run
        and none of the qualifications the run checks gets a unit.

        So it is for a run whose registration decides nothing else: no onboarding, gold units, screening, required
        qualifications or per-worker unit limit, accepting work, and not just found to offer nothing. Such hellos
        may claim in one statement (`may_claim_with_standing`); any other hello takes the usual way, statement by
        statement.
        """
        task = self.ctx.config.task
        return (
            self.hellos_group()
            and not task.qualifications
            and not task.maximum_units_per_worker
            and not self.ctx.blueprint.has_onboarding()
            and not self.ctx.rules.gold
            and task.screening is None
        )

    def hellos_group(self) -> bool:
        """Whether a batch's hellos may claim together (pool_groups.py): as `standing_decides_all`, but a run may
        also have required qualifications, a per-worker unit limit, an onboarding test and gold units, which the
        batch reads for all its workers at once (`grants_of`, `units_done`, `quality_checks.gold_standings` and
        `screening_pending_of`; PostgreSQL's claim checks the screening itself, `pool_sql_many.SCREENING`)."""
        ctx = self.ctx
        return ctx.accepting and self._no_units.refusal(ctx.offers) is None

    def refusal_for_all(self) -> Refused | None:
        """The answer the usual way gives now to every hello of a known worker who holds nothing in this run (no
        agent in task, no grant of a qualification the run checks but those it requires): `run_over` once the run
        stopped accepting, or the remembered `no_units`/`run_over` while the run offers nothing (`_NoUnitsHint`).
        None while units are offered. A batch's such hellos are then refused together (`HelloGroup.refusals`,
        which tells those who do not meet a requirement, wait for their screening check, failed the onboarding
        test or are at the per-worker limit so, as the usual way does), not with a standing read each. Gold units
        come with real work only; a worker who failed them, or the screening, holds its qualification and goes
        the usual way."""
        if not self.ctx.accepting:
            return Refused(Refusal.RUN_OVER)
        return self._no_units.refusal(self.ctx.offers)

    def grants_of(self, worker_ids: Sequence[int], names: Collection[str]) -> dict[int, dict[str, int]]:
        """The values of the qualifications `names` granted to each of `worker_ids` (those with none left out)."""
        if not worker_ids or not names:
            return {}
        query = (
            GrantedQualification.select(GrantedQualification.worker, Qualification.name, GrantedQualification.value)
            .join(Qualification)
            .where(Qualification.name.in_(list(names)) & GrantedQualification.worker.in_(list(worker_ids)))
        )
        grants: dict[int, dict[str, int]] = {}
        for worker_id, name, value in query.tuples():
            grants.setdefault(int(worker_id), {})[str(name)] = int(value)
        return grants

    def units_done(self, worker_ids: Sequence[int]) -> dict[int, int]:
        """How many units of this task each worker holds or submitted (those with none are left out): what the
        per-worker unit limit counts (`_limit_refusal`)."""
        if not worker_ids:
            return {}
        query = (
            Unit.select(Unit.worker, pw.fn.COUNT(Unit.id))
            .where((Unit.task == self.ctx.task) & Unit.worker.in_(list(worker_ids)) & Unit.status.in_(LIMITED_STATUSES))
            .group_by(Unit.worker)
        )
        return {int(worker_id): int(count) for worker_id, count in query.tuples()}

    def _standing_refusal(self, standing: Standing) -> Refused | None:
        """Blocks, missing qualifications and failed checks: why this worker may not work on the task at all."""
        ctx, grants = self.ctx, standing.grants
        if grants.get(BLOCK_QUALIFICATION) or grants.get(ctx.block_qualification):
            return Refused(Refusal.BLOCKED)
        unmet = unmet_requirement(grants, ctx.config.task.qualifications)
        if unmet is not None:
            return Refused(Refusal.NOT_QUALIFIED, requirement_refusal(unmet, grants.get(unmet.name)))
        if grants.get(ctx.gold_failed_qualification):
            return Refused(Refusal.NOT_QUALIFIED, NOT_QUALIFIED_GOLD)
        if ctx.config.task.screening is not None:
            screened = grants.get(ctx.screening_qualification)
            if screened == 0:
                return Refused(Refusal.NOT_QUALIFIED, NOT_QUALIFIED_SCREENING)
            if screened is None and screening_pending(ctx, standing.worker_id):
                return Refused(Refusal.PENDING_CHECK)
        return None

    def _resume(
        self, standing: Standing, token: str | None, provider_agent_id: str | None
    ) -> Assigned | Expired | Refused | None:
        """The agent this page (by token) or this worker (by identity) already holds in this run."""
        run, worker_id = self.ctx.run, standing.worker_id
        if token:
            return self._resume_token(token, worker_id)
        if not standing.held:
            return None
        # No token (a reload in a fresh tab, a second tab): the provider's id of the attempt identifies it if it
        # has one; otherwise, when a worker may hold one unit at a time, it is the unit they are working on.
        if provider_agent_id is not None:
            agent = (
                Agent.select()
                .where(
                    (Agent.task_run == run)
                    & (Agent.worker == worker_id)
                    & (Agent.status == AgentStatus.IN_TASK.value)
                    & (Agent.provider_agent_id == provider_agent_id)
                )
                .order_by(Agent.id)
                .first()
            )
        elif self.ctx.config.task.allowed_concurrent == 1:
            agent = Agent.get_or_none(Agent.id == standing.first_held)
        else:
            return None
        return self._assigned(agent) if agent is not None else None

    def _resume_token(self, token: str, worker_id: int) -> Assigned | Expired | Refused:
        """The attempt `token` names: the page's unit or onboarding test, or why it is no longer the page's."""
        run = self.ctx.run
        agent = Agent.get_or_none((Agent.token == token) & (Agent.task_run == run) & (Agent.worker == worker_id))
        if agent is not None:
            status = AgentStatus(agent.status)
            if status == AgentStatus.IN_TASK or status in _SUBMITTED_AGENT_STATUSES:
                return self._assigned(agent)
            return Expired(agent.id, agent.unit_id, status.value, GONE_TEXT.get(status, NOT_YOURS))
        onboarding = OnboardingAgent.get_or_none(
            (OnboardingAgent.token == token) & (OnboardingAgent.task_run == run) & (OnboardingAgent.worker == worker_id)
        )
        if onboarding is not None:
            status = AgentStatus(onboarding.status)
            if status == AgentStatus.REJECTED:  # failed: the page says so, as it would for a fresh hello
                return Refused(Refusal.NOT_QUALIFIED, NOT_QUALIFIED_ONBOARDING)
            if status == AgentStatus.IN_TASK or status in _SUBMITTED_AGENT_STATUSES:
                data = self.ctx.blueprint.onboarding_data()
                return Assigned(onboarding.id, None, onboarding.token, data, True, status != AgentStatus.IN_TASK)
            return Expired(None, None, status.value, ONBOARDING_GONE)
        # Another run's token (the task was launched again), another worker's, or made up: what the page shows is
        # not a unit of this run, so no answer from it may be stored here.
        return Expired(None, None, "unknown", UNKNOWN_TOKEN)

    def hello_answers(self, agent_ids: Sequence[int]) -> dict[int, Assigned]:
        """What these agents' pages are answered to a hello with their token now, by agent id (writer thread)."""
        return {int(agent.id): self._assigned(agent) for agent in Agent.select().where(Agent.id.in_(list(agent_ids)))}

    def _assigned(self, agent: Agent) -> Assigned:
        unit_index, inputs = (
            Unit.select(Unit.unit_index, Assignment.inputs)
            .join(Assignment)
            .where(Unit.id == agent.unit_id)
            .tuples()
            .get()
        )
        return Assigned(
            agent_id=agent.id,
            unit_id=agent.unit_id,
            token=agent.token,
            init_data=self.ctx.blueprint.init_data(inputs, unit_index),
            submitted=agent.status != AgentStatus.IN_TASK,
            seconds_left=self._seconds_left(agent.started_at) if agent.status == AgentStatus.IN_TASK else None,
        )

    def _seconds_left(self, started_at: dt.datetime) -> float:
        """Time left before `assignment_duration_seconds` runs out for an attempt started at `started_at`."""
        held = (utcnow() - started_at).total_seconds()
        return max(0.0, round(self.ctx.config.task.assignment_duration_seconds - held, 3))

    def _limit_refusal(self, standing: Standing) -> Refused | None:
        task_args = self.ctx.config.task
        if task_args.allowed_concurrent and standing.held >= task_args.allowed_concurrent:
            return Refused(Refusal.TOO_MANY_CONCURRENT)
        if task_args.maximum_units_per_worker:
            done = self.units_done([standing.worker_id]).get(standing.worker_id, 0)
            if done >= task_args.maximum_units_per_worker:
                return Refused(Refusal.MAX_UNITS_REACHED)
        return None

    def _claim(self, worker_id: int, provider_agent_id: str | None) -> Assigned | Refused:
        """Claim a unit for the worker, or say why there is none."""
        for _ in range(CLAIM_ATTEMPTS):
            token = self.new_token()
            claimed = self.queries.claim(worker_id, provider_agent_id, token, utcnow())
            if claimed is not None:
                return self._assigned_claim(claimed, token)
            if not self.queries.claimable_exists(worker_id):
                break  # nothing left; otherwise another operator process took the unit first: try the next
        return self.nothing_to_offer()

    def _assigned_claim(self, claimed: ClaimedUnit, token: str) -> Assigned:
        """The answer for a unit just claimed (remembered for its submission, see `_submit_claimed`)."""
        return self.answer_claims([(claimed, token)])[0]

    def answer_claims(self, claims: Sequence[tuple[ClaimedUnit, str]]) -> list[Assigned]:
        """The answers for units just claimed, each with its agent's token: all built, then each remembered for its
        submission (see `_submit_claimed`)."""
        seconds_left = float(self.ctx.config.task.assignment_duration_seconds)
        init_data = self.ctx.blueprint.init_data
        answers = [
            Assigned(c.agent_id, c.unit_id, token, init_data(c.inputs, c.unit_index), seconds_left=seconds_left)
            for c, token in claims
        ]
        if len(self._claimed) + len(claims) > CLAIMED_REMEMBERED:  # attempts that never submit (timed out, ...)
            self._claimed.clear()
            self._gold_claims.clear()
        for c, _ in claims:
            self._claimed[c.agent_id] = (c.unit_id, c.unit_index, c.inputs)
        return answers

    def claimed_unit(self, agent_id: int) -> tuple[int, int, Any] | None:
        """(unit id, unit index, inputs) of an agent this process claimed and has not seen submitted, if known."""
        return self._claimed.get(agent_id)

    def forget_claim(self, agent_id: int) -> None:
        """The agent's submission is stored: its claim need not be remembered any more."""
        self._claimed.pop(agent_id, None)
        self._gold_claims.pop(agent_id, None)

    def remember_gold_claims(self, gold: Mapping[int, tuple[int, int]]) -> None:
        """Gold units just made by a batch and answered with `answer_claims`: agent id -> (gold item index, worker
        id), for their submissions."""
        self._gold_claims.update(gold)

    def gold_claim(self, agent_id: int) -> tuple[int, int] | None:
        """(gold item index, worker id) of a gold unit a batch made for this agent, while its claim is remembered."""
        return self._gold_claims.get(agent_id) if agent_id in self._claimed else None

    def known_worker_id(self, name: str) -> int | None:
        """The id of the worker `name` when this process met them already (a worker's id never changes)."""
        return self._worker_ids.get(name)

    def remember_worker_ids(self, ids: Mapping[str, int]) -> None:
        """Workers met (and their ids): their next hello may claim with their standing."""
        if len(self._worker_ids) + len(ids) > WORKER_IDS_REMEMBERED:
            self._worker_ids.clear()
        self._worker_ids.update(ids)

    def knows_passed_onboarding(self, worker_id: int | None) -> bool:
        """Whether this process saw the worker pass the run's onboarding test (or read their passing grant)."""
        return worker_id in self._passed_onboarding

    def remember_passed_onboarding(self, worker_ids: Iterable[int]) -> None:
        """Workers seen to pass the run's onboarding test."""
        if len(self._passed_onboarding) > WORKER_IDS_REMEMBERED:
            self._passed_onboarding.clear()
        self._passed_onboarding.update(worker_ids)

    @staticmethod
    def new_token() -> str:
        """A fresh agent token, as every claim makes one."""
        return WorkerPool.new_tokens(1)[0]

    @staticmethod
    def new_tokens(count: int) -> list[str]:
        """`count` fresh agent tokens: the time (`time_keys.time_prefix`, so the token index takes a batch's
        tokens in one page, not a page each), then `TOKEN_BYTES` random bytes (URL-safe), the secret. The random
        bytes come from one read of the system's random source: a read gives up the interpreter's lock, and
        getting it back waits for the event loop's thread, once per batch of hellos instead of once per hello."""
        random = os.urandom(TOKEN_BYTES * count)
        now = time_prefix()
        return [
            now + base64.urlsafe_b64encode(random[start : start + TOKEN_BYTES]).rstrip(b"=").decode("ascii")
            for start in range(0, len(random), TOKEN_BYTES)
        ]

    def _new_agent(self, unit: Unit, worker: Worker, provider_agent_id: str | None) -> Agent:
        """The agent of `worker` on `unit`, which the worker already holds (status assigned)."""
        agent: Agent = Agent.create(
            unit=unit,
            worker=worker,
            task_run=self.ctx.run,
            assignment=unit.assignment_id,
            provider_agent_id=provider_agent_id,
            token=self.new_token(),
        )
        if self.queries.held_by is not None:
            operator_leases.hold(agent.id, self.queries.held_by)
        Unit.update(agent_id=agent.id).where(Unit.id == unit.id).execute()
        return agent

    def nothing_to_offer(self) -> Refused:
        """No unit for this worker now: `no_units` while the run has work left, else `run_over`."""
        # Taken before the read: units another thread offers and commits after it move `offers` past this value
        # (`RunContext.offered`, after their commit), so a hint taken from a read that missed them never holds.
        offers = self.ctx.offers
        launched, incomplete = self.queries.offer_state()
        if not incomplete:
            run_over = Refused(Refusal.RUN_OVER)
            # Each worker is told this only once, so it is remembered only when no data can come any more: not
            # while the launch may still add some, nor in a --join process, which cannot know.
            if self.ctx.all_created:
                self._no_units.remember(run_over, offers)
            return run_over
        refusal = Refused(Refusal.NO_UNITS)
        if not launched:  # nothing offered to anyone (not only nothing this worker may take): remember it
            self._no_units.remember(refusal, offers)
        return refusal

    def _start_onboarding(self, worker_id: int) -> Assigned:
        onboarding = OnboardingAgent.create(
            worker=worker_id, task=self.ctx.task, task_run=self.ctx.run, token=self.new_token()
        )
        return Assigned(onboarding.id, None, onboarding.token, self.ctx.blueprint.onboarding_data(), True)

    # ---- submission ---------------------------------------------------------------------------------------

    def submit(
        self,
        agent_id: int,
        is_onboarding: bool,
        submit_key: str,
        outputs: dict[str, Any],
        upload_ids: list[str],
    ) -> Submitted | Failure:
        """Store a submission once; repeat answers for the same `submit_key`; refuse anything invalid.

        A `Submitted` carries the automatic grants it made that the provider is still to be told about.
        """
        self.ctx.platform_grants.clear()  # what a failed (rolled back) job noted never happened
        result = self._store_submission(agent_id, is_onboarding, submit_key, outputs, upload_ids)
        if isinstance(result, Submitted) and self.ctx.platform_grants:
            result = dataclasses.replace(result, platform_grants=platform_grants.take(self.ctx))
        return result

    def _store_submission(
        self,
        agent_id: int,
        is_onboarding: bool,
        submit_key: str,
        outputs: dict[str, Any],
        upload_ids: list[str],
    ) -> Submitted | Failure:
        if is_onboarding:
            return self._submit_onboarding(agent_id, submit_key, outputs)
        quick = self._submit_claimed(agent_id, submit_key, outputs, upload_ids)
        if quick is not None:
            return quick
        agent = self.queries.agent_for_submit(agent_id)
        if agent is None:
            return Failure("not_your_unit", "This page does not hold that unit.")
        if agent.submit_key == submit_key:
            return Submitted(submit_key, replay=True)
        if agent.status == AgentStatus.COMPLETED or agent.submit_key is not None:
            return Failure("already_submitted", "This unit was already submitted.")
        if agent.status != AgentStatus.IN_TASK:
            return Failure("gone", GONE_TEXT.get(agent.status, NOT_YOURS))
        stored, problem = self._stored_uploads(agent_id, upload_ids)
        if problem is not None:
            return problem
        files = [
            UploadedFile(s.field, s.name, s.size, s.content_type, self.ctx.settings.data_dir / s.path) for s in stored
        ]
        errors = self.ctx.blueprint.validate_outputs(agent.inputs, outputs, files)
        if errors:
            return Failure("invalid_submission", "Some answers need fixing before they can be submitted.", errors)
        try:
            agent_moved, unit_moved = self.queries.complete(agent_id, agent.unit_id, outputs, submit_key, utcnow())
        except pw.IntegrityError:  # another operator process stored the same key a moment ago
            return Failure("bad_message", KEY_REUSED)
        if not agent_moved:
            if self.queries.submit_key_taken(submit_key):
                return Failure("bad_message", KEY_REUSED)
            return Failure("gone", NOT_YOURS)
        if not unit_moved:
            raise AssertionError(f"unit {agent.unit_id} of in-task agent {agent_id} was not assigned")
        return self._submitted(agent_id, agent.unit_id, agent.unit_index, agent.inputs, outputs, stored, submit_key)

    def _submit_claimed(
        self, agent_id: int, submit_key: str, outputs: dict[str, Any], upload_ids: list[str]
    ) -> Submitted | Failure | None:
        """The usual submission, of an agent this process claimed: stored without reading the agent first.

        The statement that stores it moves the agent only while it is in task and `submit_key` is unused, which is
        what reading the agent would check first. Whenever that is not plain (no such claim remembered, a problem
        with the uploads or the answers, the agent did not move), None: nothing was written, and the full path
        reads the agent and gives the answer it always gave (a replay, `gone`, `already_submitted`, ...).
        """
        claimed = self._claimed.pop(agent_id, None)
        self._gold_claims.pop(agent_id, None)
        if claimed is None:
            return None
        unit_id, unit_index, inputs = claimed
        stored, problem = self._stored_uploads(agent_id, upload_ids)
        if problem is not None:
            return None
        files = [
            UploadedFile(s.field, s.name, s.size, s.content_type, self.ctx.settings.data_dir / s.path) for s in stored
        ]
        if self.ctx.blueprint.validate_outputs(inputs, outputs, files):
            return None
        try:
            agent_moved, unit_moved = self.queries.complete(agent_id, unit_id, outputs, submit_key, utcnow())
        except pw.IntegrityError:  # another operator process stored the same key a moment ago
            return Failure("bad_message", KEY_REUSED)
        if not agent_moved:
            return None
        if not unit_moved:
            raise AssertionError(f"unit {unit_id} of in-task agent {agent_id} was not assigned")
        return self._submitted(agent_id, unit_id, unit_index, inputs, outputs, stored, submit_key)

    def _submitted(
        self,
        agent_id: int,
        unit_id: int,
        unit_index: int,
        inputs: Any,
        outputs: dict[str, Any],
        stored: list[Any],
        submit_key: str,
    ) -> Submitted:
        """The rest of storing a submission once its agent and unit moved to completed."""
        self.forget_claim(agent_id)
        if unit_index == GOLD_UNIT_INDEX or self.ctx.rules.screening is not None:
            grade_submission(self.ctx, Unit.get_by_id(unit_id), Agent.get_by_id(agent_id), inputs, outputs)
        for s in stored:
            AgentFile.create(
                agent=agent_id,
                field=s.field,
                name=s.name,
                size=s.size,
                content_type=s.content_type,
                sha256=s.sha256,
                path=s.path,
            )
        return Submitted(submit_key)

    def _stored_uploads(self, agent_id: int, upload_ids: list[str]) -> tuple[list[Any], Failure | None]:
        stored = []
        for upload_id in upload_ids:
            upload = self.uploads.load(upload_id)
            if upload is None or upload.agent_id != agent_id:
                return [], Failure(
                    "unknown_upload", f"upload {upload_id!r} was not received for this unit; upload it again"
                )
            stored.append(upload)
        return stored, None

    def _submit_onboarding(self, agent_id: int, submit_key: str, outputs: dict[str, Any]) -> Submitted | Failure:
        onboarding = OnboardingAgent.get_or_none(OnboardingAgent.id == agent_id)
        if onboarding is None:
            return Failure("not_your_unit", "This page does not hold that onboarding test.")
        if onboarding.submit_key == submit_key:
            passed = onboarding.status == AgentStatus.APPROVED
            return Submitted.onboarding(submit_key, passed, replay=True)
        if onboarding.status != AgentStatus.IN_TASK:
            return Failure("already_submitted", "This onboarding test was already submitted.")
        grader = self.ctx.rules.onboarding or self.ctx.blueprint.validate_onboarding
        passed = bool(grader(outputs))
        set_agent_status(
            agent_id,
            AgentStatus.COMPLETED,
            onboarding=True,
            outputs=outputs,
            submit_key=submit_key,
            submitted_at=utcnow(),
        )
        set_agent_status(agent_id, AgentStatus.APPROVED if passed else AgentStatus.REJECTED, onboarding=True)
        Review.create(
            kind=(ReviewKind.ONBOARDING_PASS if passed else ReviewKind.ONBOARDING_FAIL).value,
            worker=onboarding.worker_id,
            task=self.ctx.task,
        )
        platform_grants.grant(
            self.ctx,
            onboarding.worker_id,
            self.ctx.onboarding_qualification,
            1 if passed else 0,
            self.ctx.onboarding_description,
        )
        if passed:
            self.remember_passed_onboarding([onboarding.worker_id])
        return Submitted.onboarding(submit_key, passed)


_SUBMITTED_AGENT_STATUSES = frozenset(
    {AgentStatus.COMPLETED, AgentStatus.APPROVED, AgentStatus.REJECTED, AgentStatus.SOFT_REJECTED}
)
