"""A run with screening at scale (on SQLite and PostgreSQL): a batch's submissions stored and graded together
(screening_many.py: one statement on PostgreSQL), with the usual way's reviews and grants; the hellos claim together
(test_pool_groups_agree.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import peewee as pw
import pytest
from pool_helpers import call, hello
from test_pool_groups import _in_one_batch, statements_sent

from mephisto_core.data_model import Agent, Review, Unit, Worker
from mephisto_core.data_model.onboarding_many import ensure_qualification
from mephisto_core.data_model.qualifications import granted_value
from mephisto_core.operations.run import pool_groups
from mephisto_core.operations.run.db_writer import DatabaseWriter
from mephisto_core.operations.run.pool_groups import HELLO, SUBMIT, PoolGroup
from mephisto_core.operations.run.replies import Assigned, Submitted

pytestmark = pytest.mark.usefixtures("test_types", "many_at_once")
#: PostgreSQL only: what is counted is its round trips
postgresql_only = pytest.mark.parametrize(
    "database_target", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)

CHECKS = """def screen(inputs, outputs):
    if outputs["answer"] == "boom":
        raise ValueError("the validator failed")
    return outputs["answer"] != "bad"
"""


@pytest.fixture
def screening_pool(make_pool: Any, tmp_path: Any) -> Any:
    """A pool whose run screens each worker's first two units ('bad' fails, 'boom' makes the validator raise)."""
    (tmp_path / "checks.py").write_text(CHECKS)
    return make_pool(rows=40, screening={"units": 2, "validator": "checks:screen"})


def _holding(database: Any, pool: Any, name: str, submitted: list[str]) -> Assigned:
    """`name` submits one unit per answer of `submitted` (the usual way), then holds one more."""
    for i, answer in enumerate(submitted):
        unit = hello(database, pool, name)
        assert isinstance(unit, Assigned)
        assert call(database, pool.submit, unit.agent_id, False, f"{name}-{i}", {"answer": answer}, []) == Submitted(
            f"{name}-{i}"
        )
    unit = hello(database, pool, name)
    assert isinstance(unit, Assigned), (name, unit)
    return unit


def _standing(pool: Any, name: str) -> tuple[Any, ...]:
    """What the database holds of a worker's screening: their reviews' kinds, their grant, their agents' statuses."""
    worker = Worker.get(Worker.name == name)
    reviews = sorted(r.kind for r in Review.select().where(Review.worker == worker))
    agents = sorted(a.status for a in Agent.select().where(Agent.worker == worker))
    return reviews, granted_value(worker, pool.ctx.screening_qualification), agents


CASES = {  # the answers already submitted, and the one the batch submits
    "first-pass": ([], "good"),  # one of two screened units: a review, no grant yet
    "second-pass": (["good"], "good"),  # the last screened unit passes: screened
    "fails": (["good"], "bad"),  # a fail: stopped
    "screened": (["good", "good"], "good"),  # screened already: no review
    "after-error": (["good"], "good"),  # a validator error recorded meanwhile: no grant, a person decides
}


def test_a_batchs_submissions_are_stored_and_screened_in_one_statement_as_the_usual_way_screens_them(
    database, screening_pool, monkeypatch
):
    """The usual way took six to eight round trips per submission of a worker being screened. Each case is played
    twice, by a worker whose last submission goes with the batch and by a twin whose goes the usual way; both must
    end with the same reviews, grant and attempts."""
    pool = screening_pool
    held = {}
    for name, (before, _) in CASES.items():
        for who in (name, f"{name}-twin"):
            held[who] = _holding(database, pool, who, before)
    with database.write():  # as if the validator had raised on a unit of theirs
        for who in ("after-error", "after-error-twin"):
            Review.create(kind="screen_error", worker=Worker.get(Worker.name == who), task=pool.ctx.task)
    jobs = [(SUBMIT, held[name].agent_id, False, f"{name}-last", {"answer": CASES[name][1]}, []) for name in CASES]
    sent = statements_sent(database, monkeypatch)
    results = call(database, PoolGroup(pool).run_together, jobs)
    monkeypatch.undo()
    assert results == [(Submitted(f"{name}-last"),) for name in CASES]
    if not database.is_sqlite:  # the statement, and once per process the qualification looked up (made if missing)
        assert len([sql for sql in sent if "EXECUTE mephisto_replanned_" in sql]) == 1 and len(sent) <= 2, sent
    for name in CASES:
        twin = f"{name}-twin"
        answer = call(database, pool.submit, held[twin].agent_id, False, f"{twin}-last", {"answer": CASES[name][1]}, [])
        assert answer == Submitted(f"{twin}-last")
        assert _standing(pool, name) == _standing(pool, twin), name
    assert _standing(pool, "second-pass")[:2] == (["screen_pass", "screen_pass"], 1)
    assert _standing(pool, "fails")[:2] == (["screen_fail", "screen_pass"], 0)
    assert _standing(pool, "first-pass")[:2] == (["screen_pass"], None)
    assert _standing(pool, "screened")[:2] == (["screen_pass", "screen_pass"], 1)
    assert _standing(pool, "after-error")[:2] == (["screen_error", "screen_pass", "screen_pass"], None)


def test_a_submission_whose_validator_raises_goes_the_usual_way(database, screening_pool):
    pool = screening_pool
    unit = _holding(database, pool, "ann", [])
    results = call(
        database, PoolGroup(pool).run_together, [(SUBMIT, unit.agent_id, False, "ann-0", {"answer": "boom"}, [])]
    )
    assert results == [None]
    assert call(database, pool.submit, unit.agent_id, False, "ann-0", {"answer": "boom"}, []) == Submitted("ann-0")
    assert _standing(pool, "ann")[:2] == (["screen_error"], None)


def test_a_claim_that_fails_after_the_screened_submissions_keeps_their_answers(database, screening_pool, monkeypatch):
    """The screened submissions' statement commits on its own on PostgreSQL: when the claim after it fails, its
    submissions are answered (else the usual way would answer them as replays, and tell the platform of no grant).
    On SQLite the group's savepoint undoes it all and the usual way stores and screens them once."""
    pool = screening_pool
    unit = _holding(database, pool, "bob", ["good"])
    hello(database, pool, "cat")  # met: her next hello claims with the batch
    call(
        database,
        pool.submit,
        Agent.get(Agent.worker == Worker.get(Worker.name == "cat")).id,
        False,
        "c",
        {"answer": "good"},
        [],
    )

    def failing(*args: Any) -> Any:
        raise pw.OperationalError("the server closed the connection")

    monkeypatch.setattr(pool_groups, "claim_many", failing)
    jobs = [(SUBMIT, unit.agent_id, False, "bob-1", {"answer": "good"}, []), (HELLO, {"worker_id": "cat"}, None, None)]
    stored, claimed = asyncio.run(_in_one_batch(DatabaseWriter(database), PoolGroup(pool), jobs))
    assert stored == Submitted("bob-1")  # not a replay
    assert isinstance(claimed, Assigned)  # the usual way claimed it
    assert _standing(pool, "bob")[:2] == (["screen_pass", "screen_pass"], 1)
    assert Unit.select().where(Unit.worker == Worker.get(Worker.name == "bob")).count() == 2


@postgresql_only
def test_a_lone_submission_and_a_lone_hello_of_a_run_with_screening_run_together(database, screening_pool, monkeypatch):
    """Alone, the usual way takes six to eight round trips for a submission being screened, and four or five for
    a hello (the worker's standing, their units submitted, their validator errors, the claim): one each here."""
    pool = screening_pool
    unit = _holding(database, pool, "dan", [])
    with database.write():  # made by the run's first grant (or first batch of submissions): not counted here
        ensure_qualification(pool.ctx.screening_qualification, "")
    group = PoolGroup(pool)
    sent = statements_sent(database, monkeypatch)
    submitted = call(database, group.run_together, [(SUBMIT, unit.agent_id, False, "dan-0", {"answer": "good"}, [])])
    again = call(database, group.run_together, [(HELLO, {"worker_id": "dan"}, None, None)])
    monkeypatch.undo()
    assert submitted == [(Submitted("dan-0"),)] and isinstance(again[0][0], Assigned)
    # one statement each, and once per process the qualification looked up
    assert len(sent) == 3, "\n".join(sql[:200] for sql in sent)
