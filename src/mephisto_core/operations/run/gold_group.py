"""A batch's gold units together (pool_groups.py): on PostgreSQL the hellos due for a gold unit get theirs in one
statement and the gold submissions are stored and graded in it too (data_model/gold_many.py), where the usual way
took about ten round trips per gold hello and six per gold submission. With the database 11 ms away, a run with
gold units served 24 units/s to 100 workers that way (see docs/performance.md).

SQLite makes and grades each gold unit the usual way (a few local statements): its batch only claims for the
workers this process knows whose next unit is real work (`next_unit_not_gold`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mephisto_core.abstractions import WorkerIdentity
from mephisto_core.data_model.gold_many import GoldCompletions, GoldSubmission, GoldUnits, make_gold_many
from mephisto_core.data_model.pool_sql_many import Hello, Requirement, UnitLimit
from mephisto_core.data_model.statuses import ReviewKind
from mephisto_core.operations.run.quality_checks import (
    GOLD_UNIT_INDEX,
    GoldStanding,
    due_gold_item,
    gold_grade,
    gold_standings,
)
from mephisto_core.operations.run.replies import Assigned

if TYPE_CHECKING:
    from mephisto_core.operations.run.worker_pool import WorkerPool

Plain = dict[str, tuple[int, WorkerIdentity]]  # worker name -> (job position, identity) of a batch's plain hellos


@dataclasses.dataclass
class GoldHellos:
    """A batch's hellos in a run with gold units (`plan_gold`): each one's job position, hello and identity, and
    what the gold units to make for those due take."""

    positions: list[int]
    hellos: list[Hello]
    identities: list[WorkerIdentity]
    units: GoldUnits


@dataclasses.dataclass
class GoldGiven:
    """What `give_gold` did: job position -> the gold unit given; the hellos of workers not due, to claim (job
    position, hello with the worker's id, identity); and the gold submissions stored with it (agent id -> whether
    its unit moved), or None when it stored none."""

    answers: dict[int, Assigned]
    claiming: list[tuple[int, Hello, WorkerIdentity]]
    completed: dict[int, bool] | None


def next_unit_not_gold(pool: WorkerPool, plain: Plain) -> Plain:
    """SQLite: the hellos of `plain` whose worker's next unit is real work, which claim with the batch: workers this
    process knows who are not due for a gold unit they have not seen, read for all at once. A worker met for the
    first time (their first unit is gold) and one due for a gold unit go the usual way, which makes it."""
    ctx = pool.ctx
    ids = {name: worker_id for name in plain if (worker_id := pool.known_worker_id(name)) is not None}
    standings = gold_standings(ctx, list(ids.values()))
    return {
        name: hello
        for name, hello in plain.items()
        if name in ids and due_gold_item(ctx, standings.get(ids[name], GoldStanding())) is None
    }


def plan_gold(pool: WorkerPool, plain: Plain, now: dt.datetime, found: Mapping[str, int]) -> GoldHellos:
    """PostgreSQL: every hello of `plain` (with the worker's id when this process knows it, or `found` it), for
    `give_gold`, whose statement reads each worker's gold standing itself."""
    ctx = pool.ctx
    gold = ctx.config.task.gold
    assert gold is not None
    tokens = iter(pool.new_tokens(len(plain)))
    positions, hellos, identities = [], [], []
    for name, (position, identity) in plain.items():
        positions.append(position)
        hellos.append((name, pool.known_worker_id(name) or found.get(name), identity.provider_agent_id, next(tokens)))
        identities.append(identity)
    items = [(item.index, item.inputs) for item in ctx.rules.gold]
    units = GoldUnits(items, gold.every, int(ctx.task.id), GOLD_UNIT_INDEX, ctx.config.task.reward, now)
    return GoldHellos(positions, hellos, identities, units)


def give_gold(
    pool: WorkerPool,
    gold: GoldHellos,
    provider_type: str,
    checked: Collection[str],
    limit: UnitLimit | None,
    required: Sequence[Requirement],
    completing: GoldCompletions | None = None,
) -> GoldGiven:
    """Make the gold units of the hellos due for one in one statement (`make_gold_many`, checked as the batch's
    claim checks the standing), each answered as a claim and remembered for its submission; the workers met are
    remembered. A hello due for gold that the statement gave none (its standing, or no real work left to claim)
    is in neither list: it goes the usual way. `completing` rides in the same statement."""
    made = make_gold_many(pool.queries, provider_type, gold.hellos, gold.units, checked, limit, required, completing)
    got = sorted(made.units.items())
    answers = pool.answer_claims([(unit, gold.hellos[i][3]) for i, unit in got])
    workers: dict[int, int] = dict(made.not_due)
    for i, unit in got:
        assert unit.worker_id is not None  # the statement gives each unit's worker
        workers[i] = unit.worker_id
    pool.remember_gold_claims({unit.agent_id: (made.gold_index[i], workers[i]) for i, unit in got})
    pool.remember_worker_ids({gold.hellos[i][0]: worker_id for i, worker_id in workers.items()})
    given = GoldGiven({}, [], made.completed if completing is not None else None)
    for (i, _), answer in zip(got, answers, strict=True):
        completion = gold.identities[i].completion
        if completion is not None:
            answer = dataclasses.replace(answer, completion=completion)
        given.answers[gold.positions[i]] = answer
    for i, worker_id in sorted(made.not_due.items()):
        name, _, provider_agent_id, token = gold.hellos[i]
        given.claiming.append((gold.positions[i], (name, worker_id, provider_agent_id, token), gold.identities[i]))
    return given


def gold_submission(
    pool: WorkerPool, agent_id: int, unit_id: int, outputs: dict[str, Any], submit_key: str
) -> GoldSubmission | None:
    """PostgreSQL: the submission of a gold unit a batch made (`WorkerPool.gold_claim`) with its grade, to store
    together; None for any other (graded the usual way)."""
    gold = pool.gold_claim(agent_id) if pool.queries.statements().postgres else None
    if gold is None:
        return None
    index, worker_id = gold
    kind, feedback = gold_grade(pool.ctx.rules.gold[index], outputs)
    return (agent_id, unit_id, outputs, submit_key, worker_id, kind.value, feedback, 0)


def count_wrong(gold: list[GoldSubmission]) -> None:
    """Set each wrong gold submission's count of its worker's wrong ones in the batch (`GoldSubmission`)."""
    wrong = ReviewKind.GOLD_WRONG.value
    counts = Counter(row[4] for row in gold if row[5] == wrong)
    for i, row in enumerate(gold):
        if row[5] == wrong:
            gold[i] = (*row[:7], counts[row[4]])


def gold_completions(pool: WorkerPool, rows: Sequence[GoldSubmission], now: dt.datetime) -> GoldCompletions | None:
    """A batch's gold submissions as the gold statements take them; None when it has none."""
    gold = pool.ctx.config.task.gold
    if not rows or gold is None:
        return None
    return GoldCompletions(rows, int(pool.ctx.task.id), gold.max_wrong, now)
