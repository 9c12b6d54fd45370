"""A run with gold units at scale on PostgreSQL: a batch's hellos due for a gold unit get theirs in one statement,
and its gold submissions are stored and graded in one (gold_many.py); the same rows and answers as the usual way,
and every other case left to the usual way. (SQLite makes and grades each the usual way: test_pool_groups.py.)"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import peewee as pw
import pytest
from pool_helpers import call, hello
from test_pool_groups import _in_one_batch, hellos, statements_sent, submitted_once

from mephisto_core.data_model import Agent, Assignment, Review, Unit, UnitStatus, Worker
from mephisto_core.data_model.qualifications import BLOCK_QUALIFICATION, grant_qualification, granted_value
from mephisto_core.operations.run import pool_groups
from mephisto_core.operations.run.db_writer import DatabaseWriter
from mephisto_core.operations.run.pool_groups import HELLO, SUBMIT, HelloGroup, PoolGroup
from mephisto_core.operations.run.replies import Assigned, Refusal, Refused, Submitted

pytestmark = [
    pytest.mark.usefixtures("test_types"),
    pytest.mark.parametrize("database_target", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True),
]


@pytest.fixture
def gold_pool(make_pool: Any, tmp_path: Any) -> Any:
    """`gold_pool(max_wrong=...)`: a pool whose run has three gold items (inputs n = 100, 101, 102; the right
    answer of item i is "gold-i"), a worker's first unit and every second one gold."""

    def make(max_wrong: int = 5, rows: int = 8, **task: Any) -> Any:
        gold = tmp_path / "gold.jsonl"
        lines = [json.dumps({"inputs": {"n": 100 + i}, "answers": {"answer": f"gold-{i}"}}) for i in range(3)]
        gold.write_text("\n".join(lines) + "\n")
        return make_pool(rows=rows, gold={"data_jsonl": str(gold), "every": 2, "max_wrong": max_wrong}, **task)

    return make


def _gold_unit_rows(answer: Assigned) -> tuple[Any, ...]:
    """What the database holds of a gold unit given to a worker, with the answer's agent."""
    agent = Agent.get_by_id(answer.agent_id)
    unit = Unit.get_by_id(answer.unit_id)
    assignment = Assignment.get_by_id(unit.assignment_id)
    return (
        assignment.gold_index,
        assignment.inputs,
        assignment.task_run_id,
        unit.unit_index,
        unit.status,
        unit.pay_amount,
        unit.task_id,
        unit.worker_id == agent.worker_id,
        unit.agent_id == agent.id,
        agent.status,
        agent.token == answer.token,
        agent.assignment_id == assignment.id,
        answer.init_data,
        round(answer.seconds_left or 0),
    )


def _given_gold(database: Any, pool: Any, name: str, outputs: dict[str, Any]) -> Assigned:
    """`name`'s first hello (a gold unit, the usual way), submitted with `outputs`."""
    first = hello(database, pool, name)
    assert isinstance(first, Assigned) and first.init_data["n"] == 100
    assert isinstance(call(database, pool.submit, first.agent_id, False, f"{name}-gold", outputs, []), Submitted)
    return first


def test_due_and_new_workers_get_their_gold_units_in_one_statement_as_the_usual_way_makes_them(
    database, gold_pool, monkeypatch
):
    """At 11 ms from PostgreSQL a gold hello took about ten round trips one after the other: a run with gold
    units served 24 units/s to 100 workers. Now a batch's due workers (one known, two new) get theirs together in
    one statement, which reads their gold standing too."""
    pool = gold_pool()
    _given_gold(database, pool, "alice", {"answer": "gold-0"})
    submitted_once(database, pool, "alice", "alice-1")  # two attempts given: due for gold again
    sent = statements_sent(database, monkeypatch)
    results = call(database, HelloGroup(pool).run_together, hellos("alice", "carol", "dave"))
    monkeypatch.undo()
    # (and, once per statement text, the id sequences' names)
    assert len([sql for sql in sent if "pg_get_serial_sequence" not in sql]) == 1, sent
    answers = [result[0] for result in results]
    assert [answer.init_data["n"] for answer in answers] == [101, 100, 100]  # gold items not seen
    usual = hello(database, pool, "erin")  # a new worker's gold unit, the usual way
    assert isinstance(usual, Assigned)
    assert _gold_unit_rows(answers[1]) == _gold_unit_rows(usual)
    assert _gold_unit_rows(answers[0])[0] == 1
    assert [Worker.get_by_id(Agent.get_by_id(a.agent_id).worker_id).name for a in answers] == ["alice", "carol", "dave"]
    # the next batch of that form sends its one statement only: the id sequences are looked up once per form
    sent = statements_sent(database, monkeypatch)
    more = call(database, HelloGroup(pool).run_together, hellos("fay", "gus"))
    monkeypatch.undo()
    assert len(sent) == 1 and all(result[0].init_data["n"] == 100 for result in more), sent
    # their next hello resumes the gold unit they hold, as the usual way's would
    again = call(database, HelloGroup(pool).run_one, *hellos("carol")[0])
    assert isinstance(again, Assigned) and again.agent_id == answers[1].agent_id


def test_a_worker_this_process_has_not_met_gets_the_item_not_seen_and_a_blocked_one_goes_the_usual_way(
    database, gold_pool
):
    """A worker this process has not met may have had gold units (another process, or this one before a restart):
    the statement reads what they were given, as the usual way does. A blocked worker due for gold gets none, and
    a worker not due claims real work in the batch's claim."""
    pool = gold_pool()
    for name in ("alice", "bob"):
        _given_gold(database, pool, name, {"answer": "gold-0"})
    submitted_once(database, pool, "alice", "alice-1")  # due again; bob is not
    pool._worker_ids.clear()  # as after a restart
    with database.write():
        grant_qualification(Worker.create(provider_type="crowd_test", name="gina"), BLOCK_QUALIFICATION, 1)
    jobs = [(HELLO, *job) for job in hellos("alice", "gina", "hal", "bob")]
    results = call(database, PoolGroup(pool).run_together, jobs)
    alice, gina, hal, bob = results
    assert isinstance(alice[0], Assigned) and alice[0].init_data["n"] == 101
    assert isinstance(hal[0], Assigned) and hal[0].init_data["n"] == 100  # added: a first gold unit
    assert isinstance(bob[0], Assigned) and bob[0].init_data["n"] < 100  # real work
    assert gina is None
    assert call(database, HelloGroup(pool).run_one, *hellos("gina")[0]) == Refused(Refusal.BLOCKED)


def test_no_gold_unit_is_made_when_no_real_work_is_left(database, gold_pool):
    """A gold unit comes with real work only, as the usual way gives it."""
    pool = gold_pool()
    with database.write():
        Unit.update(status=UnitStatus.EXPIRED.value).where(Unit.unit_index >= 0).execute()
    results = call(database, PoolGroup(pool).run_together, [(HELLO, *job) for job in hellos("ann", "ben")])
    assert Unit.select().where(Unit.unit_index < 0).count() == 0
    usual = [call(database, HelloGroup(pool).run_one, *hellos(name)[0]) for name in ("ann", "ben")]
    assert results == [None, None] and all(isinstance(answer, Refused) for answer in usual)


def test_gold_submissions_are_stored_and_graded_in_one_statement_as_the_usual_way_grades_them(
    database, gold_pool, monkeypatch
):
    """A gold submission took about six round trips the usual way. Now a batch's are stored and graded in one
    statement, with the usual way's reviews. A wrong answer that takes its worker past `max_wrong` is left to the
    usual way, which fails the worker; a replay is answered the usual way."""
    pool = gold_pool(max_wrong=1)
    _given_gold(database, pool, "carol", {"answer": "wrong"})  # one wrong answer: at the limit, not past it
    submitted_once(database, pool, "carol", "carol-1")
    given = call(database, HelloGroup(pool).run_together, hellos("alice", "bob", "carol"))
    alice, bob, carol = (result[0] for result in given)
    jobs = [
        (SUBMIT, alice.agent_id, False, "alice-gold2", {"answer": "gold-0"}, []),
        (SUBMIT, bob.agent_id, False, "bob-gold2", {"answer": "gold-2"}, []),
        (SUBMIT, carol.agent_id, False, "carol-gold2", {"answer": "wrong"}, []),
    ]
    sent = statements_sent(database, monkeypatch)
    results = call(database, PoolGroup(pool).run_together, jobs)
    monkeypatch.undo()
    assert len(sent) == 1, sent
    assert results[:2] == [(Submitted("alice-gold2"),), (Submitted("bob-gold2"),)]
    assert results[2] is None  # past the limit: the usual way
    reviews = {
        r.worker.name: (r.kind, r.feedback, r.unit_id, r.task_id)
        for r in Review.select().where(Review.unit.in_([alice.unit_id, bob.unit_id]))
    }
    task = pool.ctx.task.id
    assert reviews == {
        "alice": ("gold_correct", "all answers as expected", alice.unit_id, task),
        "bob": ("gold_wrong", "wrong fields: answer", bob.unit_id, task),
    }
    usual = Review.get(Review.unit == Unit.get(Unit.worker == Worker.get(Worker.name == "carol"), Unit.unit_index < 0))
    assert (usual.kind, usual.feedback) == ("gold_wrong", "wrong fields: answer")  # the usual way's, same texts
    for submission in (alice, bob):
        assert Agent.get_by_id(submission.agent_id).status == "completed"
        assert Unit.get_by_id(submission.unit_id).status == UnitStatus.COMPLETED.value
    assert granted_value(Worker.get(Worker.name == "bob"), pool.ctx.gold_failed_qualification) is None
    assert call(database, PoolGroup(pool).run_one, *jobs[2]) == Submitted("carol-gold2")
    assert granted_value(Worker.get(Worker.name == "carol"), pool.ctx.gold_failed_qualification) == 1
    replay = call(database, PoolGroup(pool).run_together, jobs[:2])
    assert replay == [None, None]
    assert call(database, PoolGroup(pool).run_one, *jobs[0]) == Submitted("alice-gold2", replay=True)
    assert Review.select().where(Review.unit == alice.unit_id).count() == 1


def test_a_claim_that_fails_after_the_gold_statements_keeps_their_answers(database, gold_pool, monkeypatch):
    """The gold statements commit on their own: when the claim after them fails, the gold units they gave and the
    gold submissions they stored are answered (else the usual way would give a second gold unit, and answer a
    stored submission as a replay); the claim's hellos run the usual way."""
    pool = gold_pool()
    submitted = _given_gold(database, pool, "alice", {"answer": "gold-0"})
    assert isinstance(submitted, Assigned)
    submitted_once(database, pool, "alice", "alice-1")
    bob = call(database, HelloGroup(pool).run_together, hellos("bob"))[0][0]
    _given_gold(database, pool, "carol", {"answer": "gold-0"})  # known, not due: claims

    def failing(*args: Any) -> Any:
        raise pw.OperationalError("the server closed the connection")

    monkeypatch.setattr(pool_groups, "claim_and_complete_many", failing)
    monkeypatch.setattr(pool_groups, "claim_many", failing)
    jobs = [
        (HELLO, {"worker_id": "alice"}, None, None),
        (SUBMIT, bob.agent_id, False, "bob-gold", {"answer": "gold-0"}, []),
        (HELLO, {"worker_id": "carol"}, None, None),
    ]
    answers = asyncio.run(_in_one_batch(DatabaseWriter(database), PoolGroup(pool), jobs))
    gold, stored, unit = answers
    assert isinstance(gold, Assigned) and gold.init_data["n"] == 101
    assert stored == Submitted("bob-gold")  # not a replay
    assert isinstance(unit, Assigned) and unit.init_data["n"] < 100  # the usual way claimed it
    alice = Worker.get(Worker.name == "alice")
    assert Unit.select().where((Unit.worker == alice) & (Unit.unit_index < 0)).count() == 2  # one gold unit given
    assert Review.select().where(Review.unit == bob.unit_id).count() == 1


def test_a_batch_of_gold_and_plain_hellos_and_submissions_takes_two_round_trips(database, gold_pool, monkeypatch):
    """The gold units made and the gold submissions stored share one statement, and the claim of the workers not
    due and the plain submissions another: the usual way took about ten round trips per gold hello and six per
    gold submission."""
    pool = gold_pool()
    _given_gold(database, pool, "carol", {"answer": "gold-0"})  # not due: claims
    alice, bob = (result[0] for result in call(database, HelloGroup(pool).run_together, hellos("alice", "bob")))
    assert call(database, pool.submit, alice.agent_id, False, "alice-gold", {"answer": "gold-0"}, []) == Submitted(
        "alice-gold"
    )
    real = call(database, HelloGroup(pool).run_one, *hellos("alice")[0])
    assert isinstance(real, Assigned) and real.init_data["n"] < 100
    jobs = [
        (HELLO, {"worker_id": "zoe"}, None, None),
        (SUBMIT, bob.agent_id, False, "bob-gold", {"answer": "gold-0"}, []),
        (HELLO, {"worker_id": "carol"}, None, None),
        (SUBMIT, real.agent_id, False, "alice-1", {"answer": "x"}, []),
    ]
    sent = statements_sent(database, monkeypatch)
    zoe, stored, carol, plain = call(database, PoolGroup(pool).run_together, jobs)
    monkeypatch.undo()
    assert len([sql for sql in sent if "pg_get_serial_sequence" not in sql]) == 2, sent
    assert zoe[0].init_data["n"] == 100 and carol[0].init_data["n"] < 100
    assert stored == (Submitted("bob-gold"),) and plain == (Submitted("alice-1"),)
    assert Review.get(Review.unit == bob.unit_id).kind == "gold_correct"


def test_gold_units_are_given_only_to_workers_who_meet_the_requirements_and_are_under_the_limit(database, gold_pool):
    """The gold statement checks the standing as the batch's claim does: the run's required qualifications and the
    per-worker unit limit, which gold units count towards (docs/workers.md)."""
    pool = gold_pool(maximum_units_per_worker=2, qualifications=[{"name": "english", "comparator": ">=", "value": 3}])
    with database.write():
        for name, level in {"ann": 4, "bob": 2, "cat": 5}.items():
            grant_qualification(Worker.create(provider_type="crowd_test", name=name), "english", level)
    _given_gold(database, pool, "cat", {"answer": "gold-0"})
    submitted_once(database, pool, "cat", "cat-1")  # due for gold again, and at the limit
    results = call(database, HelloGroup(pool).run_together, hellos("ann", "bob", "cat", "dan"))
    assert isinstance(results[0][0], Assigned) and results[0][0].init_data["n"] == 100
    assert results[1:] == [None, None, None]  # too low, at the limit, without the qualification: the usual way
    answers = [call(database, HelloGroup(pool).run_one, *job) for job in hellos("bob", "cat", "dan")]
    assert [answer.reason for answer in answers] == [
        Refusal.NOT_QUALIFIED,
        Refusal.MAX_UNITS_REACHED,
        Refusal.NOT_QUALIFIED,
    ]
