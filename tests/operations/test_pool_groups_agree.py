"""A batch of hellos answered together must answer every worker as the usual way answers them one by one.

Each case starts from one database state: each worker's answer the usual way, then the batch's, each computed in
a transaction that is undone afterwards and by a worker pool of its own (no id or hint remembered from the other
side). Wherever the batch answered a worker itself, its answer must be the usual way's; the workers it leaves
(`None`) go the usual way anyway. Workers of every standing meet in one batch: qualified, below and above a
required value, holding an excluded qualification, failed or never took the onboarding test, blocked (everywhere
or from the task), at the per-worker limit, holding a unit, never seen; in the middle of a run, at its end and once
it stopped, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pool_helpers import call, hello

from mephisto_core.data_model import Worker
from mephisto_core.data_model.qualifications import BLOCK_QUALIFICATION, grant_qualification
from mephisto_core.operations.run.pool_groups import HelloGroup
from mephisto_core.operations.run.replies import Assigned, Refusal, Refused
from mephisto_core.operations.run.worker_pool import WorkerPool

pytestmark = pytest.mark.usefixtures("test_types")

#: worker -> qualifications granted before the run (`echo-onboarding`: the onboarding test passed, 1, or failed, 0)
PASSED = {"echo-onboarding": 1}
GRANTS: dict[str, dict[str, int]] = {
    "ok": {"english": 4, **PASSED},
    "low": {"english": 2, **PASSED},
    "pilot": {"english": 5, "pilot": 1, **PASSED},
    "failed-test": {"english": 4, "echo-onboarding": 0},
    "no-test": {"english": 4},
    "blocked": {"english": 4, BLOCK_QUALIFICATION: 1, **PASSED},
    "task-blocked": {"english": 4, "echo-blocked": 1, **PASSED},
    "at-limit": {"english": 4, **PASSED},
    "holding": {"english": 4, **PASSED},
    **{f"taker-{i}": {"english": 4, **PASSED} for i in range(12)},
}
ASKING = ["ok", "low", "pilot", "failed-test", "no-test", "blocked", "task-blocked", "at-limit", "holding", "new"]


@contextlib.contextmanager
def undone(database: Any) -> Iterator[None]:
    """A write transaction whose changes are rolled back at its end."""
    with database.write(), database.db.atomic() as savepoint:
        yield
        savepoint.rollback()


def comparable(answer: Any) -> Any:
    """What must agree: a unit (or the onboarding test) or a refusal with its reason and text."""
    if isinstance(answer, Assigned):
        return ("assigned", answer.is_onboarding)
    assert isinstance(answer, Refused), answer
    return ("refused", answer.reason, answer.detail)


def compare(
    database: Any,
    pool: WorkerPool,
    before: Callable[[WorkerPool], Any] | None = None,
    asking: list[str] = ASKING,
    met: bool = False,
) -> dict[str, Any]:
    """Each asking worker's usual answer and the batch's (None: left to the usual way), from the same state. With
    `met`, the batch's pool has met every worker in the database before and only they ask (PostgreSQL's claim then
    takes their ids, in its statement for workers met before)."""
    if met:
        asking = [name for name in asking if name != "new"]
    usual: dict[str, Any] = {}
    for name in asking:
        with undone(database):
            fresh = WorkerPool(pool.ctx, pool.uploads)
            if before is not None:
                before(fresh)
            usual[name] = comparable(fresh.register({"worker_id": name}, None))
    with undone(database):
        fresh = WorkerPool(pool.ctx, pool.uploads)
        if before is not None:
            before(fresh)
        if met:
            fresh.remember_worker_ids(
                {str(name): int(worker_id) for worker_id, name in Worker.select(Worker.id, Worker.name).tuples()}
            )
        together = HelloGroup(fresh).run_together([({"worker_id": name}, None, None) for name in asking])
    batch = {
        name: None if result is None else comparable(result[0]) for name, result in zip(asking, together, strict=True)
    }
    for name, answer in batch.items():
        assert answer is None or answer == usual[name], (name, answer, usual[name])
    return batch


@pytest.mark.usefixtures("many_at_once")
@pytest.mark.parametrize("met", [False, True], ids=["workers-new-to-the-process", "workers-met-before"])
def test_a_batch_answers_every_standing_as_the_usual_way_does(database: Any, make_pool: Any, met: bool) -> None:
    pool = make_pool(
        rows=12,
        onboarding=True,
        maximum_units_per_worker=1,
        qualifications=[
            {"name": "english", "comparator": ">=", "value": 3},
            {"name": "pilot", "comparator": "not_exists"},
        ],
    )
    with database.write():
        for name, grants in GRANTS.items():
            worker = Worker.create(provider_type="crowd_test", name=name)
            for qualification, value in grants.items():
                grant_qualification(worker, qualification, value)
    unit = hello(database, pool, "at-limit")
    assert isinstance(unit, Assigned)
    call(database, pool.submit, unit.agent_id, False, "at-limit-1", {"answer": "a"}, [])
    assert isinstance(hello(database, pool, "holding"), Assigned)

    middle = compare(database, pool, met=met)
    assert middle["ok"] == ("assigned", False)  # the batch did its work: not every worker left to the usual way
    assert middle["no-test"] == ("assigned", True)  # the onboarding test started by the batch

    def take_all(fresh: WorkerPool) -> None:  # the other units held by newcomers to the run
        for i in range(12):
            fresh.ctx.config.task.maximum_units_per_worker = 0
            fresh.register({"worker_id": f"taker-{i}"}, None)
        fresh.ctx.config.task.maximum_units_per_worker = 1
        fresh.nothing_to_offer()  # what the usual way learns when it finds none: remembered for the run's end

    end = compare(database, pool, take_all, met=met)
    assert sum(answer is not None for answer in end.values()) >= 4, end  # refused together, most of them

    pool.ctx.accepting = False
    try:
        stopped = compare(database, pool, met=met)
    finally:
        pool.ctx.accepting = True
    assert stopped["ok"] == ("refused", Refusal.RUN_OVER, None)


@pytest.mark.usefixtures("many_at_once")
def test_a_requirement_on_a_qualification_the_run_grants_itself_is_answered_as_the_usual_way_does(
    database: Any, make_pool: Any
) -> None:
    """A follow-up run open only to those who passed an earlier run's screening of the task (`echo-screened` = 1),
    with none of its own."""
    pool = make_pool(rows=4, qualifications=[{"name": "echo-screened", "comparator": "==", "value": 1}])
    grants = {"passed": {"echo-screened": 1}, "failed": {"echo-screened": 0}, "never": {}}
    with database.write():
        for name, held in grants.items():
            worker = Worker.create(provider_type="crowd_test", name=name)
            for qualification, value in held.items():
                grant_qualification(worker, qualification, value)
    asking = [*grants, "new"]
    compare(database, pool, asking=asking)

    def none_left(fresh: WorkerPool) -> None:
        for i in range(4):
            with database.db.atomic():
                grant_qualification(Worker.create(provider_type="crowd_test", name=f"taker-{i}"), "echo-screened", 1)
            fresh.register({"worker_id": f"taker-{i}"}, None)
        fresh.nothing_to_offer()

    end = compare(database, pool, none_left, asking=asking)
    assert end["never"] is not None and end["new"] is not None, end  # refused together, with the requirement's text


@pytest.mark.usefixtures("many_at_once")
def test_a_screening_runs_end_is_answered_as_the_usual_way_does(database: Any, make_pool: Any, tmp_path: Any) -> None:
    """With screening, in the middle of a run a batch claims for the workers screened or still being screened, and
    leaves the others to the usual way. At its end, a worker whose
    check waits for a person (the validator raised on one of their units) is told to come back later, before the
    run's refusal; one whose check is still running its course hears the run's."""
    (tmp_path / "checks.py").write_text(
        "def screen(inputs, outputs):\n"
        "    if outputs['answer'] == 'boom':\n"
        "        raise ValueError('the validator failed')\n"
        "    return outputs['answer'] != 'bad'\n"
    )
    pool = make_pool(rows=6, screening={"units": 2, "validator": "checks:screen"})
    with database.write():
        grant_qualification(Worker.create(provider_type="crowd_test", name="screened"), "echo-screened", 1)
        grant_qualification(Worker.create(provider_type="crowd_test", name="failed-screen"), "echo-screened", 0)
    for name, answer in (("one-in", "good"), ("erred", "boom")):
        unit = hello(database, pool, name)
        assert isinstance(unit, Assigned), (name, unit)
        call(database, pool.submit, unit.agent_id, False, f"{name}-1", {"answer": answer}, [])
    assert isinstance(hello(database, pool, "holding"), Assigned)
    asking = ["screened", "failed-screen", "one-in", "erred", "holding", "new"]
    middle = compare(database, pool, asking=asking)
    # PostgreSQL's claim checks the screening itself; on SQLite the batch reads it for its workers
    assert [middle[name] for name in ("screened", "one-in", "new")] == [("assigned", False)] * 3, middle
    assert middle["failed-screen"] is None and middle["erred"] is None and middle["holding"] is None, middle

    def none_left(fresh: WorkerPool) -> None:
        for i in range(3):
            fresh.register({"worker_id": f"taker-{i}"}, None)
        fresh.nothing_to_offer()

    end = compare(database, pool, none_left, asking=asking)
    assert end["erred"] == ("refused", Refusal.PENDING_CHECK, None), end
    assert end["one-in"] == end["new"] == ("refused", Refusal.NO_UNITS, None), end
    assert end["screened"] is not None and end["failed-screen"] is not None, end  # told together too
    pool.ctx.accepting = False
    try:
        stopped = compare(database, pool, asking=asking)
    finally:
        pool.ctx.accepting = True
    assert stopped["erred"] == ("refused", Refusal.PENDING_CHECK, None), stopped  # the check comes first
    assert stopped["new"] == ("refused", Refusal.RUN_OVER, None), stopped
