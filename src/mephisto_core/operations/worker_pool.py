"""Who gets which unit: worker registration, eligibility, the atomic claim, submission and release.

Every method here runs on the database writer thread (see `db_writer`), inside a transaction that commits before
the caller answers the worker. A unit is claimed by one conditional UPDATE (`launched` -> `assigned`), so two
operator processes sharing a PostgreSQL database can never hand the same unit to two workers.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Mapping
from typing import Any

import peewee as pw

from mephisto_core.abstractions import UploadedFile
from mephisto_core.data_model import (
    Agent,
    AgentFile,
    AgentStatus,
    Assignment,
    OnboardingAgent,
    Review,
    ReviewKind,
    Unit,
    UnitStatus,
    Worker,
)
from mephisto_core.data_model.models import utcnow
from mephisto_core.data_model.qualifications import BLOCK_QUALIFICATION, grant_qualification, granted_value
from mephisto_core.data_model.statuses import INCOMPLETE_UNIT_STATUSES, SUBMITTED_UNIT_STATUSES
from mephisto_core.data_model.transitions import set_agent_status, try_set_agent_status, try_set_unit_status
from mephisto_core.operations.quality_checks import (
    create_gold_unit,
    grade_submission,
    next_gold_item,
    screening_units_done,
)
from mephisto_core.operations.replies import (
    NOT_QUALIFIED_GOLD,
    NOT_QUALIFIED_ONBOARDING,
    NOT_QUALIFIED_SCREENING,
    Assigned,
    Failure,
    Preview,
    Refusal,
    Refused,
    Submitted,
)
from mephisto_core.operations.run_context import RunContext
from mephisto_core.operations.uploads import UploadStore
from mephisto_core.operations.worker_rules import unmet_requirement

log = logging.getLogger(__name__)

CLAIM_CANDIDATES = 16  # units tried per registration before concluding there is none (lost races only)


class WorkerPool:
    """Registers workers, hands out units, stores submissions. Methods run on the database writer thread."""

    def __init__(self, ctx: RunContext, uploads: UploadStore) -> None:
        self.ctx = ctx
        self.uploads = uploads

    # ---- registration -------------------------------------------------------------------------------------

    def register(self, params: Mapping[str, str], token: str | None) -> Assigned | Preview | Refused:
        """Answer a page's `hello`: the agent it already had, a newly claimed unit, the preview, or a refusal."""
        identity = self.ctx.provider.identify_worker(params)
        if identity.refusal:
            return Refused(Refusal.BAD_LINK, identity.refusal)
        if identity.worker_name is None:
            return Preview(self.ctx.blueprint.preview_data())
        worker = self._get_or_create_worker(identity.worker_name)
        refusal = self._standing_refusal(worker)
        if refusal is not None:
            # Blocked or disqualified since they took a unit: the unit goes to someone else now.
            for agent_id in self._in_task_agents_of(worker):
                self.release_agent(agent_id, AgentStatus.EXPIRED)
            return refusal
        resumed = self._resume(worker, token, identity.provider_agent_id)
        if resumed is not None:
            return resumed
        if not self.ctx.accepting:
            return Refused(Refusal.RUN_OVER)
        if self.ctx.blueprint.has_onboarding():
            passed = granted_value(worker, self.ctx.onboarding_qualification)
            if passed == 0:
                return Refused(Refusal.NOT_QUALIFIED, NOT_QUALIFIED_ONBOARDING)
            if passed is None:
                return self._start_onboarding(worker)
        refusal = self._limit_refusal(worker)
        if refusal is not None:
            return refusal
        if not self._claimable(worker).exists():
            return Refused(Refusal.NO_UNITS if self._has_incomplete_units() else Refusal.RUN_OVER)
        gold = next_gold_item(self.ctx, worker)
        if gold is not None:
            unit = create_gold_unit(self.ctx, worker, gold)
            return self._assigned(self._new_agent(unit, worker, identity.provider_agent_id))
        assigned = self._claim_unit(worker, identity.provider_agent_id)
        if assigned is not None:
            return assigned
        return Refused(Refusal.NO_UNITS if self._has_incomplete_units() else Refusal.RUN_OVER)

    def _standing_refusal(self, worker: Worker) -> Refused | None:
        """Blocks, missing qualifications and failed checks: why this worker may not work on the task at all."""
        ctx = self.ctx
        if granted_value(worker, BLOCK_QUALIFICATION) or granted_value(worker, ctx.block_qualification):
            return Refused(Refusal.BLOCKED)
        if unmet_requirement(worker.id, ctx.config.task.qualifications) is not None:
            return Refused(Refusal.NOT_QUALIFIED)
        if granted_value(worker, ctx.gold_failed_qualification):
            return Refused(Refusal.NOT_QUALIFIED, NOT_QUALIFIED_GOLD)
        screening = ctx.config.task.screening
        if screening is not None:
            screened = granted_value(worker, ctx.screening_qualification)
            if screened == 0:
                return Refused(Refusal.NOT_QUALIFIED, NOT_QUALIFIED_SCREENING)
            if screened is None and screening_units_done(ctx, worker.id) >= screening.units:
                return Refused(Refusal.PENDING_CHECK)
        return None

    def _get_or_create_worker(self, name: str) -> Worker:
        provider_type = self.ctx.run.provider_type
        worker: Worker | None = Worker.get_or_none((Worker.provider_type == provider_type) & (Worker.name == name))
        if worker is None:
            worker = Worker.create(provider_type=provider_type, name=name)
        return worker

    def _resume(self, worker: Worker, token: str | None, provider_agent_id: str | None) -> Assigned | None:
        """The agent this page (by token) or this worker (by identity) already holds in this run."""
        run = self.ctx.run
        if token:
            agent = Agent.get_or_none((Agent.token == token) & (Agent.task_run == run) & (Agent.worker == worker))
            if agent is not None and agent.status in (AgentStatus.IN_TASK, AgentStatus.COMPLETED):
                return self._assigned(agent)
            onboarding = OnboardingAgent.get_or_none(
                (OnboardingAgent.token == token)
                & (OnboardingAgent.task_run == run)
                & (OnboardingAgent.worker == worker)
                & (OnboardingAgent.status == AgentStatus.IN_TASK.value)
            )
            if onboarding is not None:
                return Assigned(onboarding.id, None, onboarding.token, self.ctx.blueprint.onboarding_data(), True)
        # No token (a reload in a fresh tab, a second tab): the provider's id of the attempt identifies it if it
        # has one; otherwise, when a worker may hold one unit at a time, it is the unit they are working on.
        in_task = (Agent.task_run == run) & (Agent.worker == worker) & (Agent.status == AgentStatus.IN_TASK.value)
        if provider_agent_id is not None:
            in_task &= Agent.provider_agent_id == provider_agent_id
        elif self.ctx.config.task.allowed_concurrent != 1:
            return None
        agent = Agent.select().where(in_task).order_by(Agent.id).first()
        return self._assigned(agent) if agent is not None else None

    def _assigned(self, agent: Agent) -> Assigned:
        unit = Unit.get_by_id(agent.unit_id)
        inputs = Assignment.select(Assignment.inputs).where(Assignment.id == unit.assignment_id).scalar()
        return Assigned(
            agent_id=agent.id,
            unit_id=unit.id,
            token=agent.token,
            init_data=self.ctx.blueprint.init_data(inputs, unit.unit_index),
            submitted=agent.status != AgentStatus.IN_TASK,
        )

    def _limit_refusal(self, worker: Worker) -> Refused | None:
        task_args = self.ctx.config.task
        if task_args.allowed_concurrent:
            holding = (
                Agent.select()
                .where(
                    (Agent.task_run == self.ctx.run)
                    & (Agent.worker == worker)
                    & (Agent.status == AgentStatus.IN_TASK.value)
                )
                .count()
            )
            if holding >= task_args.allowed_concurrent:
                return Refused(Refusal.TOO_MANY_CONCURRENT)
        if task_args.maximum_units_per_worker:
            done = (
                Unit.select()
                .where(
                    (Unit.task == self.ctx.task)
                    & (Unit.worker == worker)
                    & Unit.status.in_([UnitStatus.ASSIGNED.value, *(s.value for s in SUBMITTED_UNIT_STATUSES)])
                )
                .count()
            )
            if done >= task_args.maximum_units_per_worker:
                return Refused(Refusal.MAX_UNITS_REACHED)
        return None

    def _claimable(self, worker: Worker) -> Any:
        """Offered units of this run the worker may take (none of an assignment they already worked on)."""
        run = self.ctx.run
        taken = Unit.select(Unit.assignment).where((Unit.task_run == run) & (Unit.worker == worker))
        return Unit.select(Unit.id).where(
            (Unit.task_run == run)
            & (Unit.status == UnitStatus.LAUNCHED.value)
            & (Unit.unit_index >= 0)
            & Unit.assignment.not_in(taken)
        )

    def _claim_unit(self, worker: Worker, provider_agent_id: str | None) -> Assigned | None:
        candidates = self._claimable(worker).order_by(Unit.id).limit(CLAIM_CANDIDATES)
        for (unit_id,) in candidates.tuples():
            if not try_set_unit_status(unit_id, UnitStatus.LAUNCHED, UnitStatus.ASSIGNED, worker=worker):
                continue  # another operator process took it first
            return self._assigned(self._new_agent(Unit.get_by_id(unit_id), worker, provider_agent_id))
        return None

    def _new_agent(self, unit: Unit, worker: Worker, provider_agent_id: str | None) -> Agent:
        """The agent of `worker` on `unit`, which the worker already holds (status assigned)."""
        agent: Agent = Agent.create(
            unit=unit,
            worker=worker,
            task_run=self.ctx.run,
            assignment=unit.assignment_id,
            provider_agent_id=provider_agent_id,
            token=secrets.token_urlsafe(18),
        )
        Unit.update(agent_id=agent.id).where(Unit.id == unit.id).execute()
        return agent

    def _has_incomplete_units(self) -> bool:
        return bool(
            Unit.select(Unit.id)
            .where(
                (Unit.task_run == self.ctx.run)
                & (Unit.unit_index >= 0)
                & Unit.status.in_([s.value for s in INCOMPLETE_UNIT_STATUSES])
            )
            .exists()
        )

    def _start_onboarding(self, worker: Worker) -> Assigned:
        onboarding = OnboardingAgent.create(
            worker=worker, task=self.ctx.task, task_run=self.ctx.run, token=secrets.token_urlsafe(18)
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
        """Store a submission once; repeat answers for the same `submit_key`; refuse anything invalid."""
        if is_onboarding:
            return self._submit_onboarding(agent_id, submit_key, outputs)
        agent = Agent.get_or_none(Agent.id == agent_id)
        if agent is None:
            return Failure("not_your_unit", "This page does not hold that unit.")
        if agent.submit_key == submit_key:
            return Submitted(submit_key, replay=True)
        if agent.status == AgentStatus.COMPLETED or agent.submit_key is not None:
            return Failure("already_submitted", "This unit was already submitted.")
        if agent.status != AgentStatus.IN_TASK:
            return Failure("gone", _GONE_TEXT.get(agent.status, "This unit is no longer yours."))
        stored, problem = self._stored_uploads(agent_id, upload_ids)
        if problem is not None:
            return problem
        inputs = Assignment.select(Assignment.inputs).where(Assignment.id == agent.assignment_id).scalar()
        files = [
            UploadedFile(s.field, s.name, s.size, s.content_type, self.ctx.settings.data_dir / s.path) for s in stored
        ]
        errors = self.ctx.blueprint.validate_outputs(inputs, outputs, files)
        if errors:
            return Failure("invalid_submission", "Some answers need fixing before they can be submitted.", errors)
        now = utcnow()
        try:
            moved = try_set_agent_status(
                agent_id,
                AgentStatus.IN_TASK,
                AgentStatus.COMPLETED,
                outputs=outputs,
                submit_key=submit_key,
                submitted_at=now,
            )
        except pw.IntegrityError:
            return Failure("bad_message", "submit_key was already used for another submission; make a new one.")
        if not moved:
            return Failure("gone", "This unit is no longer yours.")
        if not try_set_unit_status(agent.unit_id, UnitStatus.ASSIGNED, UnitStatus.COMPLETED):
            raise AssertionError(f"unit {agent.unit_id} of in-task agent {agent_id} was not assigned")
        grade_submission(self.ctx, Unit.get_by_id(agent.unit_id), agent, inputs, outputs)
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
            return Submitted(submit_key, "onboarding_passed" if passed else "onboarding_failed", replay=True)
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
        grant_qualification(
            onboarding.worker_id,
            self.ctx.onboarding_qualification,
            1 if passed else 0,
            description=f"Passed the onboarding test of task {self.ctx.task.name}",
        )
        return Submitted(submit_key, "onboarding_passed" if passed else "onboarding_failed")

    # ---- release ------------------------------------------------------------------------------------------

    def release_agent(self, agent_id: int, status: AgentStatus) -> bool:
        """End an in-task agent (disconnected, timed out, returned) and offer its unit again."""
        agent = Agent.get_or_none(Agent.id == agent_id)
        if agent is None or not try_set_agent_status(agent_id, AgentStatus.IN_TASK, status):
            return False
        unit_index = Unit.select(Unit.unit_index).where(Unit.id == agent.unit_id).scalar()
        if unit_index < 0:  # a gold unit was made for this worker alone: withdraw it rather than offer it
            relaunched = try_set_unit_status(agent.unit_id, UnitStatus.ASSIGNED, UnitStatus.EXPIRED)
        else:
            relaunched = try_set_unit_status(
                agent.unit_id, UnitStatus.ASSIGNED, UnitStatus.LAUNCHED, worker=None, agent_id=None
            )
        if not relaunched:
            log.warning("unit %s of released agent %s was not assigned", agent.unit_id, agent_id)
        return True

    def release_onboarding(self, agent_id: int) -> bool:
        """End an abandoned onboarding attempt; the worker may start onboarding again later."""
        return bool(
            OnboardingAgent.update(status=AgentStatus.DISCONNECTED.value)
            .where((OnboardingAgent.id == agent_id) & (OnboardingAgent.status == AgentStatus.IN_TASK.value))
            .execute()
        )

    def agents_past_deadline(self) -> list[int]:
        """In-task agents of this run that have had their unit longer than `assignment_duration_seconds`."""
        limit = utcnow() - dt.timedelta(seconds=self.ctx.config.task.assignment_duration_seconds)
        query = Agent.select(Agent.id).where(
            (Agent.task_run == self.ctx.run) & (Agent.status == AgentStatus.IN_TASK.value) & (Agent.started_at < limit)
        )
        return [agent_id for (agent_id,) in query.tuples()]

    def _in_task_agents_of(self, worker: Worker) -> list[int]:
        query = Agent.select(Agent.id).where(
            (Agent.task_run == self.ctx.run) & (Agent.worker == worker) & (Agent.status == AgentStatus.IN_TASK.value)
        )
        return [agent_id for (agent_id,) in query.tuples()]

    def in_task_agents(self) -> list[int]:
        """Every in-task agent of this run (used after a restart to watch them for a reconnect)."""
        query = Agent.select(Agent.id).where(
            (Agent.task_run == self.ctx.run) & (Agent.status == AgentStatus.IN_TASK.value)
        )
        return [agent_id for (agent_id,) in query.tuples()]


_GONE_TEXT = {
    AgentStatus.TIMED_OUT: (
        "The time for this unit ran out, so it was offered to someone else. Your answer was not stored."
    ),
    AgentStatus.DISCONNECTED: "This page was disconnected for too long, so the unit was offered to someone else.",
    AgentStatus.EXPIRED: "This unit was withdrawn by the requester.",
    AgentStatus.RETURNED: "You returned this unit.",
}
