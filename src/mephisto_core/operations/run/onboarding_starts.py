"""A batch's first hellos in a run with an onboarding test: the workers who have not taken it start it together.

The batch's claim (pool_groups.py) leaves out workers without a passing grant of the test, and each of them took
the usual way (`WorkerPool.register`): their standing, their worker row, their attempt, a round trip each, one
worker after the other. With the database 11 ms away and 1,000 new workers arriving over 5 s that queue made the
first page's data wait 18 s at p99. Here the workers this process does not know to have passed have their
standing read in one statement (not those whose worker row the batch just made: they have none), and those who
hold nothing, meet the run's requirements and have no grant of the test get their attempts in one more. On
PostgreSQL the workers the batch adds start theirs in the statement that adds them (`AttemptsToStart`): a batch
of new workers' first hellos is one round trip, where it was two. Those who passed go on to the claim; any other
standing (blocked, failed the test, a requirement not met, a unit in hand) goes the usual way, which says why. A
worker whose page lost the token of an attempt under way starts another, as the usual way starts one for a hello
without a token.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING

from mephisto_core.data_model.models import OnboardingAgent
from mephisto_core.data_model.pool_sql_many import WorkerIds
from mephisto_core.data_model.statuses import AgentStatus
from mephisto_core.operations.run.refusal_reads import refusal_standings
from mephisto_core.operations.run.replies import Assigned
from mephisto_core.operations.run.worker_rules import unmet_requirement

if TYPE_CHECKING:
    from mephisto_core.operations.run.worker_pool import WorkerPool


@dataclasses.dataclass
class OnboardingStarts:
    """What the batch's unsure workers got: `started` (job position -> the test's `Assigned`) and those who
    `passed` (worker names, for the claim); the others go the usual way."""

    started: dict[int, Assigned] = dataclasses.field(default_factory=dict)
    passed: set[str] = dataclasses.field(default_factory=set)


def start_together(
    pool: WorkerPool,
    workers: Mapping[str, tuple[int, int]],
    created: WorkerIds,
    judged: set[str],
    now: dt.datetime,
) -> OnboardingStarts:
    """Start the onboarding test of each of `workers` (name -> (job position, worker id)) whose standing allows
    it, as the usual way would; `created`: the workers whose row the batch just made (nothing granted, nothing
    held: no standing to read), their tests maybe started with their rows (PostgreSQL); `judged`: the
    qualifications whose grants are read to judge (`_checked_here`)."""
    ctx = pool.ctx
    outcome = OnboardingStarts()
    data = ctx.blueprint.onboarding_data()
    for worker, (attempt_id, token) in created.started.items():
        outcome.started[workers[worker][0]] = Assigned(attempt_id, None, token, data, True)
    requirements = ctx.config.task.qualifications
    starting: dict[str, tuple[int, int]] = {}
    if unmet_requirement({}, requirements) is None:
        starting = {
            worker: workers[worker] for worker in created.created if worker in workers and worker not in created.started
        }
    known = [
        worker_id
        for worker, (_, worker_id) in workers.items()
        if worker not in starting and worker not in created.started
    ]
    read = refusal_standings(ctx, pool.queries.qualification_names, known, False, judged)
    name = ctx.onboarding_qualification
    for worker, (position, worker_id) in workers.items():
        if worker in starting or worker in created.started:
            continue
        if worker_id in read.holding or worker_id in read.screening_pending:
            continue
        held = read.grants.get(worker_id, {})
        passed = held.get(name)
        if passed is not None:
            if passed != 0:
                outcome.passed.add(worker)
                pool.remember_passed_onboarding([worker_id])
            continue
        if unmet_requirement(held, requirements) is None:
            starting[worker] = (position, worker_id)
    if not starting:
        return outcome
    tokens = pool.new_tokens(len(starting))
    rows = [
        (worker_id, ctx.task.id, ctx.run.id, token, AgentStatus.IN_TASK.value, now)
        for (_, worker_id), token in zip(starting.values(), tokens, strict=True)
    ]
    query = OnboardingAgent.insert_many(
        rows,
        fields=[
            OnboardingAgent.worker,
            OnboardingAgent.task,
            OnboardingAgent.task_run,
            OnboardingAgent.token,
            OnboardingAgent.status,
            OnboardingAgent.started_at,
        ],
    ).returning(OnboardingAgent.id, OnboardingAgent.token)
    made = {str(token): int(agent_id) for agent_id, token in query.tuples().execute()}
    for (position, _), token in zip(starting.values(), tokens, strict=True):
        outcome.started[position] = Assigned(made[token], None, token, data, True)
    return outcome
