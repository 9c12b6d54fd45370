"""A batch's hellos and submissions together: a few set-based statements for all of them instead of a few
statements (on PostgreSQL: round trips) each (`DatabaseWriter.call_grouped_then`, `JobGroup`, pool_sql_many.py).
The operator queues both kinds to one `PoolGroup`, so that on PostgreSQL a batch's claim and completion are one
statement.

Only the plain cases go together: a known worker's hello when their standing decides it, with the run's required
qualifications, onboarding test, gold units and per-worker unit limit read for the batch at once
(`WorkerPool.hellos_group`); and the submission of a unit this process claimed, without uploads, that its blueprint
accepts, graded together when it is a gold unit's (on PostgreSQL, gold_group.py) or screened (screening_group.py).
Everything else (and anything the shared statements did not settle) runs the usual way, one by one, with the same
answers as before.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mephisto_core.abstractions import WorkerIdentity
from mephisto_core.data_model.gold_many import GoldSubmission, complete_gold_many
from mephisto_core.data_model.models import utcnow
from mephisto_core.data_model.onboarding_many import Storing
from mephisto_core.data_model.pool_sql_many import (
    SCREENING,
    AttemptsToStart,
    Claimed,
    Hello,
    Requirement,
    Submission,
    UnitLimit,
    WorkerIds,
    claim_and_complete_many,
    claim_many,
    complete_many,
    runs_many,
    worker_ids_many,
)
from mephisto_core.data_model.qualifications import BLOCK_QUALIFICATION
from mephisto_core.data_model.screening_many import ScreenedSubmission
from mephisto_core.operations.run.db_writer import PartlyDone
from mephisto_core.operations.run.gold_group import (
    GoldHellos,
    count_wrong,
    give_gold,
    gold_completions,
    gold_submission,
    next_unit_not_gold,
    plan_gold,
)
from mephisto_core.operations.run.onboarding_group import Grading, OnboardingGroup
from mephisto_core.operations.run.onboarding_starts import start_together
from mephisto_core.operations.run.quality_checks import GOLD_UNIT_INDEX, screening_pending_of
from mephisto_core.operations.run.refusal_reads import refusal_standings
from mephisto_core.operations.run.replies import (
    NOT_QUALIFIED_ONBOARDING,
    NOT_QUALIFIED_SCREENING,
    Assigned,
    Expired,
    Failure,
    Preview,
    Refusal,
    Refused,
    Submitted,
)
from mephisto_core.operations.run.screening_group import Grants, ScreenedSubmissions
from mephisto_core.operations.run.worker_rules import requirement_refusal, unmet_requirement

if TYPE_CHECKING:
    from mephisto_core.operations.run.worker_pool import WorkerPool

Together = tuple[Any] | None  # (result,) for a job done together, None for one to run the usual way


class _PoolGroup:
    """A `JobGroup` of one worker pool's jobs (named in the writer's log by its class)."""

    commits_per_statement = False
    #: a lone hello or submission goes the usual way, as cheap as the shared statements for one
    alone_together = False

    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool

    def __repr__(self) -> str:
        return type(self).__name__


class HelloGroup(_PoolGroup):
    """Quick hellos (`WorkerPool.register` with no token): a batch's workers whose standing decides their hello
    claim their units together."""

    def run_one(
        self, params: Mapping[str, str], token: str | None, identity: WorkerIdentity | None = None
    ) -> Assigned | Expired | Preview | Refused:
        """One hello, the usual way."""
        return self.pool.register(params, token, identity)

    def run_together(self, jobs: Sequence[tuple[Any, ...]]) -> list[Together]:
        """Claim a unit for each plain hello in one statement; the others (and those it found no unit for) are
        left to `run_one`."""
        plan = self.plan(jobs)
        if plan is None:
            return self.refusals(jobs)
        self.give_gold(plan)
        claimed = claim_many(self.pool.queries, *plan.claim_args()) if plan.hellos else Claimed()
        return self.answers(plan, claimed, jobs)

    def plan(self, jobs: Sequence[tuple[Any, ...]], storing: Storing | None = None) -> _Claims | None:
        """The plain hellos among `jobs` and the standing read for them; None when this pool claims nothing
        together. `storing`: the batch's onboarding submissions, stored in the round trip that adds its new workers
        and starts their tests if there is one (its `moved` set)."""
        pool = self.pool
        if not runs_many(pool.queries) or not pool.hellos_group():
            return None
        plain = _plain_hellos(pool, jobs)
        now = utcnow()
        provider_type = pool.ctx.run.provider_type
        plan = _Claims(len(jobs), provider_type, now)
        if not plain:
            return plan
        plan.checked = _checked_here(pool)
        found: dict[str, int] = {}  # ids read before the claim
        if pool.ctx.blueprint.has_onboarding():
            plain, found = _start_onboarding(pool, plain, plan, now, storing)
            if not plain:
                return plan
        limit = pool.ctx.config.task.maximum_units_per_worker
        postgres = pool.queries.statements().postgres
        # PostgreSQL's claim leaves out the workers at the per-worker limit and those who do not meet the run's
        # requirements or have not passed its onboarding test itself (on SQLite they are read and judged here),
        # and finds or adds the workers this process has not met: a batch of first hellos takes one round trip
        # instead of two to four (their workers, their grants, their units so far, the claim).
        in_claim = postgres
        if limit and postgres:
            plan.limit = (int(pool.ctx.task.id), limit)
        if postgres:
            plan.required = _requirements(pool)
        if pool.ctx.config.task.screening is not None:  # judged here (SQLite), or by the claim's requirement
            plan.checked.add(pool.ctx.screening_qualification)
        if pool.ctx.rules.gold and postgres:  # all of them to the gold statement, which tells who is due
            plan.gold = plan_gold(pool, plain, now, found)
            return plan
        if pool.ctx.rules.gold:
            plain = next_unit_not_gold(pool, plain)
            if not plain:
                return plan
        ids, new_ids = _worker_ids(pool, [name for name in plain if name not in found], now, not in_claim)
        ids.update(found)
        plan.new_ids.update(new_ids)
        claiming: dict[str, int | None]
        if in_claim:  # None: a worker the claim finds or adds
            claiming = {name: ids.get(name) for name in plain}
        else:
            judged = _judged_here(pool, ids, plan.checked)
            if limit and not postgres:  # one at the limit is refused the usual way; the others take one unit each
                done = pool.units_done(list(judged.values()))
                judged = {name: worker_id for name, worker_id in judged.items() if done.get(worker_id, 0) < limit}
            claiming = dict(judged)
        tokens = iter(pool.new_tokens(len(claiming)))
        for name, (position, identity) in plain.items():
            if name in claiming:
                plan.positions.append(position)
                plan.hellos.append((name, claiming[name], identity.provider_agent_id, next(tokens)))
                plan.identities.append(identity)
        return plan

    def give_gold(self, plan: _Claims, completions: _Completions | None = None) -> None:
        """PostgreSQL, in a run with gold units: the gold units of the plan's hellos due for one, made in one
        statement (gold_group.py), into `plan.gold_given`; the hellos of workers not due join the plan's claim. The
        gold submissions of `completions` are stored and graded in the same statement."""
        if plan.gold is None:
            return
        storing = gold_completions(self.pool, completions.gold, completions.now) if completions is not None else None
        given = give_gold(self.pool, plan.gold, plan.provider_type, *plan.claim_args()[3:], storing)
        if completions is not None and given.completed is not None:
            completions.gold_moved, completions.gold_stored = given.completed, True
        plan.gold_given = given.answers
        for position, hello, identity in given.claiming:
            plan.positions.append(position)
            plan.hellos.append(hello)
            plan.identities.append(identity)

    def refusals(self, jobs: Sequence[tuple[Any, ...]]) -> list[Together]:
        """While the run offers nothing (`WorkerPool.refusal_for_all`): the answer for each plain hello of a worker
        who holds nothing in the run, read for all in one statement (`refusal_standings`), where the usual way reads
        each worker's standing (at a run's end, every worker still asking). As the usual way, a worker who does not
        meet a required qualification is told which, one who failed the screening or the onboarding test so, one
        whose screening waits for a person to come back later, and one at the per-worker limit that they reached
        it, before the run's refusal; one who has not taken the test goes the usual way, which starts it. Workers
        met for the first time are found or created for all at once, as the usual way creates each. The others are
        left to `run_one`."""
        pool = self.pool
        results: list[Together] = [None] * len(jobs)
        refusal = pool.refusal_for_all()
        if refusal is None:
            return results
        plain = _plain_hellos(pool, jobs)
        ids, added = _worker_ids(pool, plain, utcnow(), find_new=runs_many(pool.queries))
        pool.remember_worker_ids(added)
        requirements = pool.ctx.config.task.qualifications
        # a stop's run_over comes before the limit, as in the usual way: the units are counted only while accepting
        limit = pool.ctx.config.task.maximum_units_per_worker
        count_units = bool(limit) and pool.ctx.accepting
        judged = _checked_here(pool)
        screening = pool.ctx.config.task.screening
        if screening is not None:  # screened, or failed: told here too (at a run's end, every worker is one)
            judged.add(pool.ctx.screening_qualification)
        read = refusal_standings(
            pool.ctx,
            pool.queries.qualification_names,
            list(ids.values()),
            count_units,
            judged,
            screening.units if screening is not None else None,
        )
        onboarding = pool.ctx.onboarding_qualification if pool.ctx.blueprint.has_onboarding() else None
        for name, worker_id in ids.items():
            if worker_id in read.holding:
                continue
            held = read.grants.get(worker_id, {})
            unmet = unmet_requirement(held, requirements) if requirements else None
            passed = held.get(onboarding) if onboarding is not None else 1
            screened = held.get(pool.ctx.screening_qualification) if screening is not None else None
            answer: Refused
            if unmet is not None:
                answer = Refused(Refusal.NOT_QUALIFIED, requirement_refusal(unmet, held.get(unmet.name)))
            elif screened == 0:
                answer = Refused(Refusal.NOT_QUALIFIED, NOT_QUALIFIED_SCREENING)
            elif screened is None and worker_id in read.screening_pending:
                answer = Refused(Refusal.PENDING_CHECK)  # no screening grant yet
            elif not pool.ctx.accepting:
                answer = refusal  # run_over, before the onboarding test
            elif passed is None:
                continue  # the usual way starts their onboarding test
            elif passed == 0:
                answer = Refused(Refusal.NOT_QUALIFIED, NOT_QUALIFIED_ONBOARDING)
            elif count_units and read.units.get(worker_id, 0) >= limit:
                answer = Refused(Refusal.MAX_UNITS_REACHED)
            else:
                answer = refusal
            results[plain[name][0]] = (answer,)
        return results

    def answers(self, plan: _Claims, claimed: Claimed, jobs: Sequence[tuple[Any, ...]]) -> list[Together]:
        """Each job's answer once the plan's claim has run (`claimed`: hello position -> its unit). When a hello the
        claim admitted found no unit, the run may have run out: the usual way finds out and remembers it
        (`nothing_to_offer`), and then the hellos without a unit are refused together (`refusals`) rather than each
        with a standing read. Hellos the claim did not admit (a block, a requirement not met) go the usual way."""
        pool = self.pool
        results: list[Together] = [None] * plan.jobs
        for position, answer in {**plan.started, **plan.gold_given}.items():
            results[position] = (answer,)
        got = [(i, claimed[i]) for i in range(len(plan.hellos)) if i in claimed]
        answers = pool.answer_claims([(unit, plan.hellos[i][3]) for i, unit in got])
        for (i, _), answer in zip(got, answers, strict=True):
            completion = plan.identities[i].completion
            if completion is not None:
                answer = dataclasses.replace(answer, completion=completion)
            results[plan.positions[i]] = (answer,)
        pool.remember_worker_ids(plan.new_ids)
        # the workers the claim itself found or added (`in_claim`), for their next hellos
        met = {plan.hellos[i][0]: unit.worker_id for i, unit in got if plan.hellos[i][1] is None}
        pool.remember_worker_ids({name: worker_id for name, worker_id in met.items() if worker_id is not None})
        if len(got) < claimed.admitted:
            pool.nothing_to_offer()
            for position, refused in enumerate(self.refusals(jobs)):
                if results[position] is None:
                    results[position] = refused
        return results


@dataclasses.dataclass
class _Claims:
    """What a batch's plain hellos are to claim (`HelloGroup.plan`): the hellos and each one's job position."""

    jobs: int
    provider_type: str
    now: dt.datetime
    checked: set[str] = dataclasses.field(default_factory=set)
    positions: list[int] = dataclasses.field(default_factory=list)
    hellos: list[Hello] = dataclasses.field(default_factory=list)
    identities: list[WorkerIdentity] = dataclasses.field(default_factory=list)
    new_ids: dict[str, int] = dataclasses.field(default_factory=dict)  # workers met for the first time
    limit: UnitLimit | None = None  # the per-worker unit limit the claim checks itself (PostgreSQL)
    #: the run's requirements and onboarding test, which the claim checks itself (PostgreSQL)
    required: list[Requirement] = dataclasses.field(default_factory=list)
    #: job position -> the onboarding test started for that hello's worker (`_start_onboarding`)
    started: dict[int, Assigned] = dataclasses.field(default_factory=dict)
    #: the hellos of a run with gold units (`plan_gold`), and job position -> the gold unit given (`give_gold`)
    gold: GoldHellos | None = None
    gold_given: dict[int, Assigned] = dataclasses.field(default_factory=dict)

    def claim_args(
        self,
    ) -> tuple[str, list[Hello], dt.datetime, set[str], UnitLimit | None, list[Requirement]]:
        """`claim_many`'s arguments after its queries."""
        return self.provider_type, self.hellos, self.now, self.checked, self.limit, self.required


def _plain_hellos(pool: WorkerPool, jobs: Sequence[tuple[Any, ...]]) -> dict[str, tuple[int, WorkerIdentity]]:
    """Worker name -> (position, identity) of the hellos among `jobs` that only ask for work: no token (a page
    that had an attempt is resumed the usual way), identified, not a preview; a worker's first page only (a second
    one goes the usual way)."""
    plain: dict[str, tuple[int, WorkerIdentity]] = {}
    for position, (params, token, identity) in enumerate(jobs):
        if token is not None:
            continue
        if identity is None:
            identity = _identify(pool, params)
        if identity is None or identity.refusal or identity.worker_name is None:
            continue  # refused, or a preview
        plain.setdefault(identity.worker_name, (position, identity))
    return plain


def _start_onboarding(
    pool: WorkerPool,
    plain: dict[str, tuple[int, WorkerIdentity]],
    plan: _Claims,
    now: dt.datetime,
    storing: Storing | None = None,
) -> tuple[dict[str, tuple[int, WorkerIdentity]], dict[str, int]]:
    """Start the onboarding test together for the workers of `plain` who have not taken it (onboarding_starts.py;
    into `plan.started`, the workers met for the first time into `plan.new_ids`); the hellos left to claim, of
    workers known or found to have passed, and the ids found of those. Any other worker this process is unsure
    of goes the usual way. `storing` rides with the new workers' statement (`HelloGroup.plan`)."""
    unsure = [name for name in plain if not pool.knows_passed_onboarding(pool.known_worker_id(name))]
    if not unsure:
        return plain, {}
    tests = None
    if pool.queries.statements().postgres and unmet_requirement({}, pool.ctx.config.task.qualifications) is None:
        # a worker added now holds nothing and meets the requirements: their test starts in the same round trip
        new = [name for name in unsure if pool.known_worker_id(name) is None]
        ctx = pool.ctx
        tests = AttemptsToStart(
            int(ctx.task.id), int(ctx.run.id), dict(zip(new, pool.new_tokens(len(new)), strict=True))
        )
    ids, added = _worker_ids(pool, unsure, now, tests=tests, storing=storing)
    plan.new_ids = dict(added)
    asking = {name: (plain[name][0], ids[name]) for name in unsure if name in ids}
    starts = start_together(pool, asking, added, plan.checked, now)
    plan.started = starts.started
    left = {name: hello for name, hello in plain.items() if name not in unsure or name in starts.passed}
    return left, {name: ids[name] for name in left if name in ids}


def _worker_ids(
    pool: WorkerPool,
    names: Collection[str],
    now: dt.datetime,
    find_new: bool = True,
    tests: AttemptsToStart | None = None,
    storing: Storing | None = None,
) -> tuple[dict[str, int], WorkerIds]:
    """The ids of the workers `names` and, of those, the ones this process had not met: found, or created as the
    usual way would (`created`; with `tests`, their onboarding tests started, and `storing` stored), for all at
    once (a name another process creates at the same moment is left out). Without `find_new`, only those this
    process met."""
    ids = {name: worker_id for name in names if (worker_id := pool.known_worker_id(name)) is not None}
    new = [name for name in names if name not in ids]
    added = (
        worker_ids_many(pool.queries, pool.ctx.run.provider_type, new, now, tests, storing)
        if new and find_new
        else WorkerIds()
    )
    return {**ids, **added}, added


def _checked_here(pool: WorkerPool) -> set[str]:
    """The qualification names a batch's hellos are judged on here (`_judged_here`: the run's required ones and its
    onboarding test's), which the shared claim then leaves out of its check. Block and check qualifications stay in
    the claim's check, even when a requirement names one."""
    ctx, task = pool.ctx, pool.ctx.config.task
    own = {BLOCK_QUALIFICATION, ctx.block_qualification, ctx.gold_failed_qualification, ctx.screening_qualification}
    checked = {requirement.name for requirement in task.qualifications} - own
    if ctx.blueprint.has_onboarding():
        checked.add(ctx.onboarding_qualification)
    return checked


def _requirements(pool: WorkerPool) -> list[Requirement]:
    """What `_judged_here` judges, for PostgreSQL's claim to check itself: the run's required qualifications and,
    with an onboarding test, its qualification granted with a value other than 0 (a worker without it takes the
    test, one with 0 failed it)."""
    ctx = pool.ctx
    required: list[Requirement] = []
    for requirement in ctx.config.task.qualifications:
        value = requirement.value
        if isinstance(value, list):
            required.append((requirement.name, requirement.comparator, None, value))
        else:
            required.append((requirement.name, requirement.comparator, value, None))
    if ctx.blueprint.has_onboarding():
        required.append((ctx.onboarding_qualification, "not_in", None, [0]))
    screening = ctx.config.task.screening
    if screening is not None:
        required.append((ctx.screening_qualification, SCREENING, screening.units, [int(ctx.task.id)]))
    return required


def _judged_here(pool: WorkerPool, ids: dict[str, int], checked: set[str]) -> dict[str, int]:
    """The workers of `ids` whose grants meet the run's requirements, who passed its onboarding test and are
    screened or still being screened (the others go the usual way: refused, or to the test). A requirement may name
    a qualification the claim checks itself (a follow-up run open only to `<task>-screened` = 1): it is judged here
    too, as the usual way judges every requirement, and the claim still leaves out those who hold it."""
    ctx, task = pool.ctx, pool.ctx.config.task
    if not checked and not task.qualifications:
        return ids
    onboarding = ctx.blueprint.has_onboarding()
    names = set(checked) | {requirement.name for requirement in task.qualifications}
    grants = pool.grants_of(list(ids.values()), names)
    screened = ctx.screening_qualification
    unscreened = [w for w in ids.values() if grants.get(w, {}).get(screened) is None]
    pending = screening_pending_of(ctx, unscreened) if task.screening is not None else set()
    claiming = {}
    for name, worker_id in ids.items():
        held = grants.get(worker_id, {})
        if onboarding and held.get(ctx.onboarding_qualification) in (None, 0):
            continue  # the test to take, or failed
        if task.screening is not None and (held.get(screened) == 0 or worker_id in pending):
            continue  # failed the screening, or waits for a person
        if unmet_requirement(held, task.qualifications) is None:
            claiming[name] = worker_id
    return claiming


class SubmitGroup(_PoolGroup):
    """Quick submissions (`WorkerPool.submit`): a batch's plain submissions stored together."""

    def __init__(self, pool: WorkerPool) -> None:
        super().__init__(pool)
        self.screened = ScreenedSubmissions(pool)

    def run_one(
        self, agent_id: int, is_onboarding: bool, submit_key: str, outputs: dict[str, Any], upload_ids: list[str]
    ) -> Submitted | Failure:
        """One submission, the usual way."""
        return self.pool.submit(agent_id, is_onboarding, submit_key, outputs, upload_ids)

    def run_together(self, jobs: Sequence[tuple[Any, ...]]) -> list[Together]:
        """Store each plain submission in one statement; the others (and any agent that did not move: a replay,
        a unit gone) are left to `run_one`, which gives the answer it always gave."""
        plan = self.plan(jobs)
        if plan is None:
            return [None] * len(jobs)
        self.complete_gold(plan)
        self.complete_screened(plan)
        moved = complete_many(self.pool.queries, plan.rows, plan.now) if plan.rows else {}
        return self.answers(plan, moved)

    def plan(self, jobs: Sequence[tuple[Any, ...]]) -> _Completions | None:
        """The plain submissions among `jobs`; None when this pool stores nothing together."""
        pool = self.pool
        ctx = pool.ctx
        if not runs_many(pool.queries):
            return None
        plan = _Completions(len(jobs), utcnow())
        agents: set[int] = set()
        keys: set[str] = set()
        screening = ctx.rules.screening is not None and self.screened.together()
        for position, (agent_id, is_onboarding, submit_key, outputs, upload_ids) in enumerate(jobs):
            claim = None if is_onboarding or upload_ids else pool.claimed_unit(agent_id)
            if claim is None or agent_id in agents or submit_key in keys:
                continue
            unit_id, unit_index, inputs = claim
            if ctx.rules.screening is not None and unit_index != GOLD_UNIT_INDEX and not screening:
                continue  # screened when stored, the usual way
            if ctx.blueprint.validate_outputs(inputs, outputs, []):
                continue  # answered with the errors the usual way
            gold = screened = None
            if unit_index == GOLD_UNIT_INDEX:
                gold = gold_submission(pool, agent_id, unit_id, outputs, submit_key)
                if gold is None:
                    continue  # graded when stored, the usual way
            elif screening:
                screened = self.screened.row(agent_id, unit_id, inputs, outputs, submit_key)
                if screened is None:
                    continue  # the validator raised: the usual way
            agents.add(agent_id)
            keys.add(submit_key)
            if gold is not None:
                plan.gold_positions.append(position)
                plan.gold.append(gold)
            elif screened is not None:
                plan.screened_positions.append(position)
                plan.screened.append(screened)
            else:
                plan.positions.append(position)
                plan.rows.append((agent_id, unit_id, outputs, submit_key))
        count_wrong(plan.gold)
        return plan

    def complete_screened(self, plan: _Completions) -> None:
        """Store and grade the plan's submissions of a run with screening together (screening_group.py: one
        statement on PostgreSQL): into `plan.screened_moved` and `plan.screened_grants`."""
        if plan.screened and not plan.screened_stored:
            plan.screened_moved, plan.screened_grants = self.screened.store(plan.screened, plan.now)
            plan.screened_stored = True

    def complete_gold(self, plan: _Completions) -> None:
        """Store and grade the plan's gold submissions in one statement (PostgreSQL, gold_group.py), unless the
        batch's gold statement did (`HelloGroup.give_gold`): into `plan.gold_moved`."""
        storing = gold_completions(self.pool, plan.gold, plan.now)
        if storing is not None and not plan.gold_stored:
            plan.gold_moved, plan.gold_stored = complete_gold_many(self.pool.queries, storing), True

    def answers(self, plan: _Completions, moved: Mapping[int, bool]) -> list[Together]:
        """Each job's answer once the plan's completion has run (`moved`: agent id -> whether its unit moved)."""
        results: list[Together] = [None] * plan.jobs
        stored = [(position, row[0], row[1], row[3]) for position, row in zip(plan.positions, plan.rows, strict=True)]
        stored += [
            (position, row[0], row[1], row[3]) for position, row in zip(plan.gold_positions, plan.gold, strict=True)
        ]
        stored += [
            (position, row[0], row[1], row[3])
            for position, row in zip(plan.screened_positions, plan.screened, strict=True)
        ]
        if plan.gold_moved or plan.screened_moved:
            moved = {**moved, **plan.gold_moved, **plan.screened_moved}
        for position, agent_id, unit_id, submit_key in stored:
            unit_moved = moved.get(agent_id)
            if unit_moved is None:
                continue  # the agent did not move: the usual way says why
            if not unit_moved:
                raise AssertionError(f"unit {unit_id} of in-task agent {agent_id} was not assigned")
            results[position] = (Submitted(submit_key, platform_grants=plan.screened_grants.get(agent_id, ())),)
        for position, agent_id, *_ in stored:
            if results[position] is not None:
                self.pool.forget_claim(agent_id)
        return results


@dataclasses.dataclass
class _Completions:
    """What a batch's plain submissions are to store (`SubmitGroup.plan`): the rows and each one's job position."""

    jobs: int
    now: dt.datetime
    positions: list[int] = dataclasses.field(default_factory=list)
    rows: list[Submission] = dataclasses.field(default_factory=list)
    #: the gold submissions of units a batch made (PostgreSQL), graded as they are stored (`complete_gold`)
    gold_positions: list[int] = dataclasses.field(default_factory=list)
    gold: list[GoldSubmission] = dataclasses.field(default_factory=list)
    gold_moved: dict[int, bool] = dataclasses.field(default_factory=dict)
    gold_stored: bool = False  # the gold submissions' statement ran (committed, on PostgreSQL)
    #: the submissions of a run with screening, graded as they are stored (`complete_screened`)
    screened_positions: list[int] = dataclasses.field(default_factory=list)
    screened: list[ScreenedSubmission] = dataclasses.field(default_factory=list)
    screened_moved: dict[int, bool] = dataclasses.field(default_factory=dict)
    screened_grants: dict[int, Grants] = dataclasses.field(default_factory=dict)
    screened_stored: bool = False  # they were stored (on PostgreSQL committed by their statement)


class PoolGroup(_PoolGroup):
    """A batch's hellos (jobs `(HELLO, *args)`), submissions (`(SUBMIT, *args)`) and onboarding submissions
    (`(ONBOARDING, *args)`) of one pool: each kind as `HelloGroup`, `SubmitGroup` and `OnboardingGroup` run it,
    and on PostgreSQL the claim and the completion in one statement, one round trip fewer per batch
    (`claim_and_complete_many`), and the onboarding submissions stored in the statement that adds the batch's new
    workers and starts their tests, when it has some (`HelloGroup.plan`).

    Its statements stand on their own (`JobGroup.commits_per_statement`): reads of the workers' standing, the
    batch's new workers found or created, then the one statement that claims and stores. So on PostgreSQL a batch
    of only hellos and submissions is one round trip: that statement, committing as it completes; in a run's
    arrivals with an onboarding test, two (the new workers with their tests and the tests submitted, then the
    claim of those who passed)."""

    commits_per_statement = True
    #: an onboarding submission alone runs together (its usual way: seven round trips on PostgreSQL, against
    #: one), so does the first hello of a run with an onboarding test (the usual way: four for a new worker);
    #: another lone hello or submission is left to the usual way, as cheap as the shared statements for one
    alone_together = True

    def __init__(self, pool: WorkerPool) -> None:
        super().__init__(pool)
        self.hellos = HelloGroup(pool)
        self.submits = SubmitGroup(pool)
        self.tests = OnboardingGroup(pool)

    def run_one(self, kind: str, *args: Any) -> Any:
        """One hello, submission or onboarding submission, the usual way."""
        if kind == ONBOARDING:
            return self.tests.run_one(*args)
        return (self.hellos if kind == HELLO else self.submits).run_one(*args)

    def run_together(self, jobs: Sequence[tuple[Any, ...]]) -> list[Together]:
        """The batch's plain hellos claim together, its plain submissions are stored together and so are its
        fresh onboarding submissions. A kind with a single hello or submission runs the usual way, unless it
        shares the statement of the other kind or the hello is in a run with an onboarding test."""
        at: dict[str, list[int]] = {HELLO: [], SUBMIT: [], ONBOARDING: []}
        for position, job in enumerate(jobs):
            at[job[0]].append(position)
        hellos, submits, tests = ([jobs[i][1:] for i in at[kind]] for kind in (HELLO, SUBMIT, ONBOARDING))
        queries = self.pool.queries
        postgres = queries.statements().postgres
        grading = self.tests.grade(tests) if tests else None
        shared = bool(hellos) and bool(submits) and postgres
        onboarding_run = bool(hellos) and self.pool.ctx.blueprint.has_onboarding()
        # a lone hello or submission of a run with gold units or screening runs together too on PostgreSQL: alone,
        # the usual way takes about ten round trips for a gold hello, four or five for a hello being screened and
        # six to eight for such a submission, against one or two
        ctx = self.pool.ctx
        checks_run = postgres and (bool(ctx.rules.gold) or ctx.rules.screening is not None)
        claims = completions = None
        if len(hellos) > 1 or shared or onboarding_run or (hellos and checks_run):
            claims = self.hellos.plan(hellos, grading.storing if grading is not None and postgres else None)
        try:
            if grading is not None and grading.storing.moved is None:  # it did not ride with the new workers
                grading.storing.moved = self.tests.store(grading)
            if len(submits) > 1 or shared or (submits and checks_run):
                completions = self.submits.plan(submits)
            if claims is not None:  # the gold submissions ride with the gold units made, when there are some
                self.hellos.give_gold(claims, completions)
            refused = self.hellos.refusals(hellos) if claims is None and hellos else None
            if completions is not None:
                self.submits.complete_gold(completions)
                self.submits.complete_screened(completions)
            to_claim = claims.hellos if claims is not None else []
            to_store = completions.rows if completions is not None else []
            if to_claim and to_store:
                assert claims is not None and completions is not None
                provider_type, _, now, checked, limit, required = claims.claim_args()
                claimed, moved = claim_and_complete_many(
                    queries, provider_type, to_claim, to_store, now, checked, limit, required
                )
            else:
                claimed = claim_many(queries, *claims.claim_args()) if claims is not None and to_claim else Claimed()
                moved = (
                    complete_many(queries, to_store, completions.now) if completions is not None and to_store else {}
                )
        except Exception as exc:
            done = self._done_before(len(jobs), at, claims, grading, completions) if postgres else None
            if done is None:
                raise
            raise PartlyDone(done, exc) from exc
        results: list[Together] = [None] * len(jobs)
        if claims is not None:
            for position, result in zip(at[HELLO], self.hellos.answers(claims, claimed, hellos), strict=True):
                results[position] = result
        elif refused is not None:
            for position, result in zip(at[HELLO], refused, strict=True):
                results[position] = result
        if completions is not None:
            for position, result in zip(at[SUBMIT], self.submits.answers(completions, moved), strict=True):
                results[position] = result
        if grading is not None:
            stored = grading.storing.moved
            assert stored is not None
            for position, result in zip(at[ONBOARDING], self.tests.answers(grading, stored, len(tests)), strict=True):
                results[position] = result
        return results

    def _done_before(
        self,
        jobs: int,
        at: dict[str, list[int]],
        claims: _Claims | None,
        grading: Grading | None,
        completions: _Completions | None,
    ) -> list[Together] | None:
        """On PostgreSQL, after a statement failed: the answers of what the statements before it committed and the
        usual way would do again (a second test for a worker whose test started, a second gold unit for one given
        one; a test or gold submission stored answered as a replay, with no grant for the platform); None when they
        did nothing of the kind."""
        results: list[Together] = [None] * jobs
        if claims is not None:
            for position, answer in {**claims.started, **claims.gold_given}.items():
                results[at[HELLO][position]] = (answer,)
        if completions is not None and (completions.gold_stored or completions.screened_stored):
            for position, result in zip(at[SUBMIT], self.submits.answers(completions, {}), strict=True):
                results[position] = result
        if grading is not None and grading.storing.moved is not None:
            answered = self.tests.answers(grading, grading.storing.moved, len(at[ONBOARDING]))
            for position, result in zip(at[ONBOARDING], answered, strict=True):
                results[position] = result
        return results if any(result is not None for result in results) else None


#: the kind of a `PoolGroup` job
HELLO, SUBMIT, ONBOARDING = "hello", "submit", "onboarding"


def _identify(pool: WorkerPool, params: Mapping[str, str]) -> WorkerIdentity | None:
    """The provider's identity of the page's worker; None when identifying it failed: `run_one` asks again and
    reports the failure as it always did."""
    try:
        return pool.ctx.provider.identify_worker(params)
    except Exception:  # reported by the usual way, which meets the same error
        return None
