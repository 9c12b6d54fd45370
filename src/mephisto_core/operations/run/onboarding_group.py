"""A batch's onboarding submissions together (`DatabaseWriter.call_grouped_then`): graded, then stored, reviewed
and granted with a statement for all of each, where the usual way (`WorkerPool.submit`) takes about seven round
trips per submission. With the database 11 ms away and 1,000 new workers, each taking the test before their first
unit, those round trips one after the other made connect→data p99 51 s (see docs/performance.md).

Only a fresh submission goes together: an attempt still in task, its key and attempt once in the batch. A replay,
a second key, an attempt that is gone or a grader that raises go the usual way, which gives the answer it always
gave. On PostgreSQL the batch's submissions are one statement, committing on its own (before the batch's
transaction), so their pages get their answers after one round trip.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mephisto_core.data_model import onboarding_many
from mephisto_core.data_model.models import utcnow
from mephisto_core.data_model.pool_sql_many import runs_many
from mephisto_core.operations.run import platform_grants
from mephisto_core.operations.run.replies import Failure, Submitted

if TYPE_CHECKING:
    from mephisto_core.operations.run.worker_pool import WorkerPool


class OnboardingGroup:
    """A `JobGroup` of one worker pool's onboarding submissions (jobs: agent id, submit key, outputs, uploads)."""

    #: on PostgreSQL its one statement stores, reviews and grants: it commits on its own, before the batch's others
    commits_per_statement = True
    #: a lone submission too: the usual way takes about seven round trips on PostgreSQL, the batch's statement one
    alone_together = True

    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool
        self._qualification_made = False

    def __repr__(self) -> str:
        return type(self).__name__

    def run_one(self, agent_id: int, submit_key: str, outputs: dict[str, Any], upload_ids: list[str]) -> Any:
        """One onboarding submission, the usual way."""
        return self.pool.submit(agent_id, True, submit_key, outputs, upload_ids)

    def run_together(self, jobs: Sequence[tuple[Any, ...]]) -> list[tuple[Submitted | Failure] | None]:
        """Store the fresh submissions among `jobs` together; the others are left to `run_one`."""
        grading = self.grade(jobs)
        if grading is None:
            return [None] * len(jobs)
        return self.answers(grading, self.store(grading), len(jobs))

    def grade(self, jobs: Sequence[tuple[Any, ...]]) -> Grading | None:
        """The fresh submissions among `jobs`, graded, ready to store (their qualification made once); None when
        there is none, or when this pool stores nothing together."""
        pool = self.pool
        if not runs_many(pool.queries):
            return None
        ctx = pool.ctx
        grader = ctx.rules.onboarding or ctx.blueprint.validate_onboarding
        graded: dict[int, onboarding_many.Graded] = {}  # position -> submission
        agents: set[int] = set()
        keys: set[str] = set()
        for position, (agent_id, submit_key, outputs, _uploads) in enumerate(jobs):
            if agent_id in agents or submit_key in keys:
                continue
            try:
                passed = bool(grader(outputs))
            except Exception:  # the usual way meets the same error and reports it to the page
                continue
            agents.add(agent_id)
            keys.add(submit_key)
            graded[position] = onboarding_many.Graded(agent_id, submit_key, outputs, passed)
        if not graded:
            return None
        name = ctx.onboarding_qualification
        if not self._qualification_made:  # once: the statement finds it by name (and fails if it was deleted)
            onboarding_many.ensure_qualification(name, ctx.onboarding_description)
            self._qualification_made = True
        return Grading(graded, onboarding_many.Storing(list(graded.values()), int(ctx.task.id), name, utcnow()))

    def store(self, grading: Grading) -> dict[int, int]:
        """Store the graded submissions in a statement of their own (their attempts that moved: id -> worker id)."""
        storing = grading.storing
        postgres = self.pool.queries.statements().postgres
        return onboarding_many.store_graded(
            storing.graded, storing.task_id, storing.qualification, storing.now, postgres
        )

    def answers(self, grading: Grading, moved: dict[int, int], jobs: int) -> list[tuple[Submitted | Failure] | None]:
        """Each of the `jobs`' answer once the graded submissions were stored (`moved`: the attempts that moved, id
        -> worker id). An attempt that did not move (submitted before: a replay or a second key; another run's;
        gone; its key held by another attempt) is left to the usual way, which says which."""
        pool = self.pool
        results: list[tuple[Submitted | Failure] | None] = [None] * jobs
        stored = {position: g for position, g in grading.graded.items() if g.agent_id in moved}
        pool.remember_passed_onboarding(moved[g.agent_id] for g in stored.values() if g.passed)
        name = grading.storing.qualification
        told = platform_grants.to_tell(pool.ctx, name, {moved[g.agent_id]: int(g.passed) for g in stored.values()})
        for position, g in stored.items():
            grant = told.get(moved[g.agent_id])
            answer = Submitted.onboarding(g.submit_key, g.passed)
            results[position] = (dataclasses.replace(answer, platform_grants=(grant,) if grant else ()),)
        return results


@dataclasses.dataclass
class Grading:
    """A batch's fresh onboarding submissions, graded: job position -> submission, and what to store."""

    graded: dict[int, onboarding_many.Graded]
    storing: onboarding_many.Storing
