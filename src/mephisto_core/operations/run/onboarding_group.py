"""A batch's onboarding submissions together (`DatabaseWriter.call_grouped_then`): read, graded, stored, reviewed
and granted with a statement for all of each, where the usual way (`WorkerPool.submit`) takes about seven round
trips per submission. With the database 11 ms away and 1,000 new workers, each taking the test before their first
unit, those round trips one after the other made connect→data p99 51 s (see docs/performance.md).

Only a fresh submission goes together: an attempt still in task, not already submitted, its key and attempt once
in the batch. A replay, a second key, an attempt that is gone or a grader that raises go the usual way, which
gives the answer it always gave.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mephisto_core.data_model import onboarding_many
from mephisto_core.data_model.models import utcnow
from mephisto_core.data_model.pool_sql_many import runs_many
from mephisto_core.data_model.statuses import AgentStatus
from mephisto_core.operations.run import platform_grants
from mephisto_core.operations.run.replies import Failure, Submitted

if TYPE_CHECKING:
    from mephisto_core.operations.run.worker_pool import WorkerPool

_IN_TASK = AgentStatus.IN_TASK.value


class OnboardingGroup:
    """A `JobGroup` of one worker pool's onboarding submissions (jobs: agent id, submit key, outputs, uploads)."""

    #: its statements depend on each other: they run in the batch's transaction
    commits_per_statement = False

    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool

    def __repr__(self) -> str:
        return type(self).__name__

    def run_one(self, agent_id: int, submit_key: str, outputs: dict[str, Any], upload_ids: list[str]) -> Any:
        """One onboarding submission, the usual way."""
        return self.pool.submit(agent_id, True, submit_key, outputs, upload_ids)

    def run_together(self, jobs: Sequence[tuple[Any, ...]]) -> list[tuple[Submitted | Failure] | None]:
        """Store the fresh submissions among `jobs` together; the others are left to `run_one`."""
        results: list[tuple[Submitted | Failure] | None] = [None] * len(jobs)
        pool = self.pool
        if not runs_many(pool.queries):
            return results
        ctx = pool.ctx
        found = onboarding_many.attempts({job[0] for job in jobs})
        grader = ctx.rules.onboarding or ctx.blueprint.validate_onboarding
        graded: dict[int, onboarding_many.Graded] = {}  # position -> submission
        agents: set[int] = set()
        keys: set[str] = set()
        for position, (agent_id, submit_key, outputs, _uploads) in enumerate(jobs):
            attempt = found.get(agent_id)
            if attempt is None or attempt.status != _IN_TASK or attempt.submit_key is not None:
                continue
            if agent_id in agents or submit_key in keys:
                continue
            try:
                passed = bool(grader(outputs))
            except Exception:  # the usual way meets the same error and reports it to the page
                continue
            agents.add(agent_id)
            keys.add(submit_key)
            graded[position] = onboarding_many.Graded(agent_id, attempt.worker_id, submit_key, outputs, passed)
        if not graded:
            return results
        now = utcnow()
        moved = onboarding_many.store_graded(list(graded.values()), now)
        stored = {position: g for position, g in graded.items() if g.agent_id in moved}
        if not stored:
            return results
        name = ctx.onboarding_qualification
        qualification_id = onboarding_many.review_and_grant(
            list(stored.values()), ctx.task, name, f"Passed the onboarding test of task {ctx.task.name}", now
        )
        pool.remember_passed_onboarding(g.worker_id for g in stored.values() if g.passed)
        told = platform_grants.tells_platform(ctx.provider)
        workers = onboarding_many.workers({g.worker_id for g in stored.values()}) if told else {}
        for position, g in stored.items():
            grants = (
                (platform_grants.PlatformGrant(workers[g.worker_id], name, qualification_id, int(g.passed)),)
                if told
                else ()
            )
            outcome = "onboarding_passed" if g.passed else "onboarding_failed"
            results[position] = (Submitted(g.submit_key, outcome, platform_grants=grants),)
        return results
