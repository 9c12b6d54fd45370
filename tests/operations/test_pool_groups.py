"""A batch's quick hellos and submissions together: a few statements for all the plain ones (on SQLite and on
PostgreSQL), and for every other case the usual way's own answer."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections.abc import Iterator
from typing import Any

import peewee as pw
import pytest
from pool_helpers import call, explained, hello, rows_read, rows_removed_by_join_filters

from mephisto_core.data_model import Agent, AgentStatus, OnboardingAgent, Unit, UnitStatus, Worker
from mephisto_core.data_model.qualifications import BLOCK_QUALIFICATION, grant_qualification
from mephisto_core.operations.run import db_writer
from mephisto_core.operations.run.db_writer import DatabaseWriter
from mephisto_core.operations.run.launcher import TaskLauncher
from mephisto_core.operations.run.pool_groups import HELLO, SUBMIT, HelloGroup, PoolGroup, SubmitGroup
from mephisto_core.operations.run.refusal_reads import refusal_standings
from mephisto_core.operations.run.replies import (
    NOT_QUALIFIED_ONBOARDING,
    Assigned,
    Failure,
    Refusal,
    Refused,
    Submitted,
)
from mephisto_core.operations.run.worker_pool import WorkerPool

pytestmark = pytest.mark.usefixtures("test_types")


def hellos(*names: str) -> list[tuple[Any, ...]]:
    return [({"worker_id": name}, None, None) for name in names]


def submitted_once(database: Any, pool: Any, name: str, key: str) -> Assigned:
    """`name` says hello, gets a unit and submits it: a known worker holding nothing."""
    first = hello(database, pool, name)
    assert isinstance(first, Assigned)
    assert isinstance(call(database, pool.submit, first.agent_id, False, key, {"answer": name}, []), Submitted)
    return first


def statements_sent(database: Any, monkeypatch: pytest.MonkeyPatch, executions_only: bool = False) -> list[str]:
    """The statements sent from now on (one round trip each on PostgreSQL); with `executions_only`, only those
    that execute PostgreSQL's prepared statements (those preparing one again do it in the same round trip)."""
    sent: list[str] = []
    execute_sql = database.db.execute_sql

    def recording(sql: str, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        if not executions_only or "EXECUTE mephisto_replanned_" in sql:
            sent.append(sql)
        return execute_sql(sql, params, *args, **kwargs)

    monkeypatch.setattr(database.db, "execute_sql", recording)
    return sent


@pytest.mark.usefixtures("many_at_once")
def test_known_workers_claim_a_unit_each_in_one_statement(database, make_pool):
    pool = make_pool(rows=6)
    for name in ("alice", "bob", "carol"):
        submitted_once(database, pool, name, f"{name}-1")
    results = call(database, HelloGroup(pool).run_together, hellos("alice", "bob", "carol"))
    answers = [result[0] for result in results]
    assert all(isinstance(answer, Assigned) for answer in answers)
    assert len({answer.unit_id for answer in answers}) == 3
    for name, answer in zip(("alice", "bob", "carol"), answers, strict=True):
        agent = Agent.get_by_id(answer.agent_id)
        assert (agent.status, agent.token, agent.unit_id, agent.worker.name) == (
            AgentStatus.IN_TASK,
            answer.token,
            answer.unit_id,
            name,
        )
        unit = Unit.get_by_id(answer.unit_id)
        assert (unit.status, unit.agent_id, unit.worker_id) == (UnitStatus.ASSIGNED, agent.id, agent.worker_id)
        # PostgreSQL has no foreign keys for these two (migration 14): the claim copies them from the unit
        assert (agent.task_run_id, agent.assignment_id) == (unit.task_run_id, unit.assignment_id)
        inputs = pool.queries.agent_for_submit(agent.id).inputs
        assert answer.init_data == pool.ctx.blueprint.init_data(inputs, unit.unit_index)
        assert pool.claimed_unit(agent.id) == (unit.id, unit.unit_index, inputs)


@pytest.mark.usefixtures("many_at_once")
def test_hellos_with_something_to_decide_are_left_to_the_usual_way(database, make_pool):
    pool = make_pool(rows=6)
    for name in ("alice", "bob"):
        submitted_once(database, pool, name, f"{name}-1")
    held = hello(database, pool, "carol")  # holds a unit
    call(database, grant_qualification, Worker.get(Worker.name == "bob"), BLOCK_QUALIFICATION, 1)
    jobs = [
        *hellos("alice", "alice", "bob", "carol", "dave"),  # alice's second page; blocked; holding; never seen
        ({"worker_id": "alice"}, "some-token", None),  # a page that had an attempt
        ({}, None, None),  # a preview
    ]
    results = call(database, HelloGroup(pool).run_together, jobs)
    assert isinstance(results[0][0], Assigned)
    assert results[1:4] == [None] * 3 and results[5:] == [None] * 2
    assert isinstance(results[4][0], Assigned)  # dave, seen for the first time: created, then claimed
    assert pool.known_worker_id("dave") == Worker.get(Worker.name == "dave").id
    group = HelloGroup(pool)
    again = call(database, group.run_one, *jobs[1])
    assert isinstance(again, Assigned) and again.agent_id == results[0][0].agent_id  # resumed, not doubled
    blocked = call(database, group.run_one, *jobs[2])
    assert isinstance(blocked, Refused) and blocked.reason == Refusal.BLOCKED
    resumed = call(database, group.run_one, *jobs[3])
    assert isinstance(resumed, Assigned) and resumed.agent_id == held.agent_id
    assert Agent.select().where(Agent.worker == Worker.get(Worker.name == "dave")).count() == 1


@pytest.mark.usefixtures("many_at_once")
def test_workers_met_for_the_first_time_are_found_or_created_once(database, make_pool):
    pool = make_pool(rows=6)
    submitted_once(database, pool, "erin", "erin-1")  # in the database; a second process has never met her
    other = make_pool(rows=6)
    results = call(database, HelloGroup(other).run_together, hellos("erin", "frank", "gina"))
    answers = [result[0] for result in results]
    assert all(isinstance(answer, Assigned) for answer in answers)
    workers = {w.name: w.id for w in Worker.select()}
    assert sorted(workers) == ["erin", "frank", "gina"]  # erin found, not created again
    for name, answer in zip(("erin", "frank", "gina"), answers, strict=True):
        assert Agent.get_by_id(answer.agent_id).worker_id == workers[name] == other.known_worker_id(name)


@pytest.mark.usefixtures("many_at_once")
def test_first_hellos_find_or_add_their_workers_in_the_claims_own_round_trip_on_postgresql(
    database, make_pool, monkeypatch
):
    """At 11 ms from the database, a batch of new workers' first hellos took two round trips (their workers found
    or added, then the claim): on PostgreSQL the claim does both. A worker found there keeps every check of the
    claim (erin holds nothing, ivan is blocked); one added there holds nothing to check."""
    pool = make_pool(rows=10)
    submitted_once(database, pool, "erin", "erin-1")  # in the database; a second process has never met her
    blocked = submitted_once(database, pool, "ivan", "ivan-1")
    call(database, grant_qualification, Worker.get(Worker.name == "ivan"), BLOCK_QUALIFICATION, 1)
    other = make_pool(rows=10)
    for warm in (("warm1", "warm2"), ("warm3", "warm4")):  # its statements prepared, and prepared again once
        assert all(
            isinstance(result[0], Assigned) for result in call(database, HelloGroup(other).run_together, hellos(*warm))
        )
    sent = statements_sent(database, monkeypatch)
    results = call(database, HelloGroup(other).run_together, hellos("erin", "frank", "gina", "ivan"))
    monkeypatch.undo()
    erin, frank, gina = (results[i][0] for i in range(3))
    assert all(isinstance(answer, Assigned) for answer in (erin, frank, gina)), results
    assert results[3] is None  # blocked: left to the usual way, which says so
    if not database.is_sqlite:  # workers found and added, and the claim, in one round trip
        assert [sql for sql in sent if sql.startswith("EXECUTE mephisto_replanned")] == sent[:1], sent
        assert not [sql for sql in sent[1:] if '"worker"' in sql], sent
    workers = {w.name: w.id for w in Worker.select()}
    assert sorted(workers) == ["erin", "frank", "gina", "ivan", "warm1", "warm2", "warm3", "warm4"]  # none twice
    for name, answer in (("erin", erin), ("frank", frank), ("gina", gina)):
        assert Agent.get_by_id(answer.agent_id).worker_id == workers[name] == other.known_worker_id(name)
        assert Unit.get_by_id(answer.unit_id).worker_id == workers[name]
    assert Agent.select().where(Agent.worker == workers["ivan"]).count() == 1  # the unit before the block only
    refused = call(database, HelloGroup(other).run_one, *hellos("ivan")[0])
    assert isinstance(refused, Refused) and refused.reason == Refusal.BLOCKED
    assert blocked.unit_id not in {erin.unit_id, frank.unit_id, gina.unit_id}


@pytest.mark.usefixtures("many_at_once")
def test_a_worker_found_by_the_claim_is_held_to_the_per_worker_limit_and_a_new_one_is_not(database, make_pool):
    pool = make_pool(rows=6, maximum_units_per_worker=1)
    submitted_once(database, pool, "erin", "erin-1")  # at the limit; a second process has never met her
    other = make_pool(rows=6, maximum_units_per_worker=1)
    results = call(database, HelloGroup(other).run_together, hellos("erin", "hank"))
    assert results[0] is None  # left to the usual way, which refuses her
    assert isinstance(results[1][0], Assigned)
    refused = call(database, HelloGroup(other).run_one, *hellos("erin")[0])
    assert isinstance(refused, Refused) and refused.reason == Refusal.MAX_UNITS_REACHED
    assert Agent.select().where(Agent.worker == Worker.get(Worker.name == "erin")).count() == 1


@pytest.mark.usefixtures("many_at_once")
def test_fewer_units_than_hellos_and_a_worker_never_gets_a_second_unit_of_an_assignment(database, make_pool):
    pool = make_pool(rows=3, units_per_assignment=2)  # units A0 A1 B0 B1 C0 C1, claimed oldest first
    alice = submitted_once(database, pool, "alice", "a-1")  # A0
    submitted_once(database, pool, "bob", "b-1")  # A1
    carol = submitted_once(database, pool, "carol", "c-1")  # B0
    assignment_of = {u.id: u.assignment_id for u in Unit.select()}
    # carol pairs with B1 (her assignment: not hers to take), alice with C0, bob with C1
    results = call(database, HelloGroup(pool).run_together, hellos("carol", "alice", "bob"))
    assert results[0] is None
    alice_next, bob_next = results[1][0], results[2][0]
    assert assignment_of[alice_next.unit_id] not in {assignment_of[alice.unit_id]}
    assert len({alice_next.unit_id, bob_next.unit_id}) == 2
    carol_next = call(database, HelloGroup(pool).run_one, *hellos("carol")[0])
    assert isinstance(carol_next, Refused) and carol_next.reason == Refusal.NO_UNITS  # B1 is the only one left
    assert assignment_of[carol.unit_id] == Unit.get(Unit.status == UnitStatus.LAUNCHED).assignment_id


@pytest.mark.usefixtures("many_at_once")
def test_plain_submissions_are_stored_in_one_statement(database, make_pool):
    pool = make_pool(rows=6)
    units = [hello(database, pool, name) for name in ("alice", "bob", "carol")]
    jobs = [(u.agent_id, False, f"key-{i}", {"answer": f"a{i}"}, []) for i, u in enumerate(units)]
    results = call(database, SubmitGroup(pool).run_together, jobs)
    assert [r[0] for r in results] == [Submitted(f"key-{i}") for i in range(3)]
    for i, u in enumerate(units):
        agent = Agent.get_by_id(u.agent_id)
        assert (agent.status, agent.submit_key, agent.outputs) == (
            AgentStatus.COMPLETED,
            f"key-{i}",
            {"answer": f"a{i}"},
        )
        assert agent.submitted_at is not None
        assert Unit.get_by_id(u.unit_id).status == UnitStatus.COMPLETED
        assert pool.claimed_unit(u.agent_id) is None
    replay = call(database, SubmitGroup(pool).run_one, *jobs[0])
    assert replay == Submitted("key-0", replay=True)


#: text that array literals and SQL strings treat specially: quotes, backslashes, braces, commas, NULL, non-ASCII
ODD_TEXTS = ("o'brien", 'say "hi"', "back\\slash", "{brace,comma}", "NULL", "ünïcødé ✓", " spaced ")


@pytest.mark.usefixtures("many_at_once")
def test_names_and_answers_with_quotes_backslashes_and_braces_are_stored_as_sent(database, make_pool):
    # PostgreSQL's shared claim and completion take each column as one array: every value must arrive unchanged.
    pool = make_pool(rows=len(ODD_TEXTS))
    results = call(database, HelloGroup(pool).run_together, hellos(*ODD_TEXTS))
    answers = [result[0] for result in results]
    assert all(isinstance(answer, Assigned) for answer in answers)
    assert [Agent.get_by_id(a.agent_id).worker.name for a in answers] == list(ODD_TEXTS)
    jobs = [
        (a.agent_id, False, f"key-{i}-{text}", {"answer": text, text: [text]}, [])
        for i, (a, text) in enumerate(zip(answers, ODD_TEXTS, strict=True))
    ]
    results = call(database, SubmitGroup(pool).run_together, jobs)
    assert [r[0] for r in results] == [Submitted(job[2]) for job in jobs]
    for agent_id, _, key, outputs, _ in jobs:
        agent = Agent.get_by_id(agent_id)
        assert (agent.status, agent.submit_key, agent.outputs) == (AgentStatus.COMPLETED, key, outputs)


@pytest.mark.usefixtures("many_at_once")
def test_submissions_with_something_to_decide_are_left_to_the_usual_way(database, make_pool):
    pool = make_pool(rows=6)
    alice, bob, carol, dave = (hello(database, pool, name) for name in ("alice", "bob", "carol", "dave"))
    call(database, pool.release_agent, dave.agent_id, AgentStatus.TIMED_OUT)  # dave's attempt is over
    jobs = [
        (alice.agent_id, False, "k-alice", {"answer": ""}, []),  # answers that need fixing
        (bob.agent_id, False, "k-bob", {"answer": "b"}, ["upload-1"]),  # with uploads
        (carol.agent_id, False, "k-carol", {"answer": "c"}, []),
        (carol.agent_id, False, "k-carol-2", {"answer": "c2"}, []),  # the same agent twice
        (dave.agent_id, False, "k-dave", {"answer": "d"}, []),  # the statement does not move it
        (999_999, False, "k-nobody", {"answer": "x"}, []),  # not an agent this process claimed
    ]
    results = call(database, SubmitGroup(pool).run_together, jobs)
    assert results[2] == (Submitted("k-carol"),)
    assert [results[i] for i in (0, 1, 3, 4, 5)] == [None] * 5
    group = SubmitGroup(pool)
    invalid = call(database, group.run_one, *jobs[0])
    assert isinstance(invalid, Failure) and invalid.code == "invalid_submission"
    gone = call(database, group.run_one, *jobs[4])
    assert isinstance(gone, Failure) and gone.code == "gone"
    nobody = call(database, group.run_one, *jobs[5])
    assert isinstance(nobody, Failure) and nobody.code == "not_your_unit"
    twice = call(database, group.run_one, *jobs[3])
    assert isinstance(twice, Failure) and twice.code == "already_submitted"


@pytest.mark.usefixtures("many_at_once")
def test_a_batch_of_hellos_and_submissions_claims_and_stores_in_one_postgresql_statement(
    database, make_pool, monkeypatch
):
    pool = make_pool(rows=8)
    for name in ("alice", "bob"):
        submitted_once(database, pool, name, f"{name}-1")
    carol, dave = hello(database, pool, "carol"), hello(database, pool, "dave")
    jobs = [
        (HELLO, *hellos("alice")[0]),
        (SUBMIT, carol.agent_id, False, "carol-1", {"answer": "c"}, []),
        (HELLO, *hellos("bob")[0]),
        (SUBMIT, dave.agent_id, False, "dave-1", {"answer": "d"}, []),
    ]
    sent = statements_sent(database, monkeypatch, executions_only=True)
    results = call(database, PoolGroup(pool).run_together, jobs)
    alice_next, bob_next = results[0][0], results[2][0]
    assert isinstance(alice_next, Assigned) and isinstance(bob_next, Assigned)
    assert (results[1], results[3]) == ((Submitted("carol-1"),), (Submitted("dave-1"),))
    if not database.is_sqlite:
        assert len(sent) == 1  # the claim and the completion in one round trip (two before)
    for answer, name in ((alice_next, "alice"), (bob_next, "bob")):
        agent = Agent.get_by_id(answer.agent_id)
        assert (agent.status, agent.worker.name, agent.token) == (AgentStatus.IN_TASK, name, answer.token)
        assert Unit.get_by_id(answer.unit_id).status == UnitStatus.ASSIGNED
        assert pool.claimed_unit(agent.id) is not None
    for done, key in ((carol, "carol-1"), (dave, "dave-1")):
        agent = Agent.get_by_id(done.agent_id)
        assert (agent.status, agent.submit_key) == (AgentStatus.COMPLETED, key)
        assert Unit.get_by_id(done.unit_id).status == UnitStatus.COMPLETED
        assert pool.claimed_unit(agent.id) is None
    assert len({alice_next.unit_id, bob_next.unit_id, carol.unit_id, dave.unit_id}) == 4


@pytest.mark.usefixtures("many_at_once")
def test_one_hello_and_one_submission_share_a_statement_on_postgresql_and_go_the_usual_way_on_sqlite(
    database, make_pool, monkeypatch
):
    pool = make_pool(rows=4)
    submitted_once(database, pool, "alice", "alice-1")
    bob = hello(database, pool, "bob")
    jobs = [(HELLO, *hellos("alice")[0]), (SUBMIT, bob.agent_id, False, "bob-1", {"answer": "b"}, [])]
    sent = statements_sent(database, monkeypatch, executions_only=True)
    group = PoolGroup(pool)
    results = call(database, group.run_together, jobs)
    if database.is_sqlite:  # a lone job of a kind gains nothing from a set-based statement
        assert results == [None, None]
        results = [(call(database, group.run_one, *job),) for job in jobs]
    else:
        assert len(sent) == 1
    assert isinstance(results[0][0], Assigned) and results[1] == (Submitted("bob-1"),)
    assert Agent.get_by_id(bob.agent_id).status == AgentStatus.COMPLETED


@pytest.mark.usefixtures("many_at_once")
def test_a_hello_of_a_worker_whose_submission_shares_the_batch_is_left_to_the_usual_way(database, make_pool):
    # Both halves see the database as it was before the batch: the worker still holds the unit being submitted,
    # so the shared claim leaves the hello out, and the usual way, run after, gives the next unit.
    pool = make_pool(rows=4)
    alice, bob = hello(database, pool, "alice"), hello(database, pool, "bob")
    jobs = [
        (SUBMIT, alice.agent_id, False, "alice-1", {"answer": "a"}, []),
        (SUBMIT, bob.agent_id, False, "bob-1", {"answer": "b"}, []),
        (HELLO, *hellos("alice")[0]),
        (HELLO, *hellos("bob")[0]),
    ]
    group = PoolGroup(pool)
    results = call(database, group.run_together, jobs)
    assert results == [(Submitted("alice-1"),), (Submitted("bob-1"),), None, None]
    nexts = [call(database, group.run_one, *job) for job in jobs[2:]]
    assert all(isinstance(answer, Assigned) for answer in nexts)
    assert {answer.unit_id for answer in nexts}.isdisjoint({alice.unit_id, bob.unit_id})


async def _in_one_batch(writer: DatabaseWriter, group: Any, jobs: list[tuple[Any, ...]]) -> list[Any]:
    """Queue every job before the writer starts, so that they share a batch; the answers in order."""
    loop = asyncio.get_running_loop()
    futures = [loop.create_future() for _ in jobs]
    for future, args in zip(futures, jobs, strict=True):

        def done(ok: bool, result: Any, future: asyncio.Future[Any] = future) -> None:
            future.set_result(result if ok else ("error", result))

        writer.call_grouped_then(group, args, done)
    writer.start()
    try:
        return list(await asyncio.gather(*futures))
    finally:
        writer.stop()


def test_a_key_used_twice_in_one_batch_is_stored_once_and_the_second_gets_the_usual_answer(database, make_pool):
    pool = make_pool(rows=6)
    alice, bob = hello(database, pool, "alice"), hello(database, pool, "bob")
    jobs = [
        (alice.agent_id, False, "same-key", {"answer": "a"}, []),
        (bob.agent_id, False, "same-key", {"answer": "b"}, []),
    ]
    writer = DatabaseWriter(database)
    answers = asyncio.run(_in_one_batch(writer, SubmitGroup(pool), jobs))
    assert answers[0] == Submitted("same-key")
    assert isinstance(answers[1], Failure) and answers[1].code == "bad_message"
    assert Agent.get_by_id(alice.agent_id).status == AgentStatus.COMPLETED
    assert Agent.get_by_id(bob.agent_id).status == AgentStatus.IN_TASK
    assert writer.batches == 1


class _AddingGroup:
    """Writes a worker for every job together (one by one: a worker each too)."""

    commits_per_statement = False  # all or nothing, in the batch's transaction
    alone_together = False

    def __repr__(self) -> str:
        return "<adding group>"

    def run_one(self, name: str) -> int:
        worker_id: int = Worker.create(provider_type="test", name=name).id
        return worker_id

    def run_together(self, jobs: list[tuple[Any, ...]]) -> list[tuple[Any] | None]:
        return [(Worker.create(provider_type="test", name=name).id,) for (name,) in jobs]


class _FailingGroup(_AddingGroup):
    """Writes a worker for every job together, then fails; one by one it writes a worker per job."""

    def __init__(self) -> None:
        self.together_calls = 0

    def __repr__(self) -> str:
        return "<failing group>"

    def run_together(self, jobs: list[tuple[Any, ...]]) -> list[tuple[Any] | None]:
        self.together_calls += 1
        for (name,) in jobs:
            Worker.create(provider_type="test", name=f"together-{name}")
        raise RuntimeError("the shared statement failed")


def test_a_failed_group_is_undone_and_its_jobs_run_one_by_one(database, monkeypatch, caplog):
    monkeypatch.setattr(db_writer, "_GROUP_FAILURES", db_writer._GroupFailures())  # none said recently
    caplog.set_level(logging.WARNING, logger=db_writer.__name__)
    group = _FailingGroup()
    writer = DatabaseWriter(database)
    answers = asyncio.run(_in_one_batch(writer, group, [("w1",), ("w2",), ("w3",)]))
    assert sorted(Worker.select(Worker.name).tuples()) == [("w1",), ("w2",), ("w3",)]
    assert answers == [Worker.get(Worker.name == name).id for name in ("w1", "w2", "w3")]
    assert group.together_calls == 1
    assert "1 batches of <failing group> ran one by one after their shared statement failed" in caplog.text


@pytest.mark.usefixtures("many_at_once")
def test_a_per_worker_unit_limit_is_read_for_the_batch_and_a_worker_at_it_refused_the_usual_way(database, make_pool):
    pool = make_pool(rows=8, maximum_units_per_worker=2)
    assert not pool.standing_decides_all() and pool.hellos_group()
    for key in ("a-1", "a-2"):
        submitted_once(database, pool, "alice", key)  # alice is at the limit
    submitted_once(database, pool, "bob", "b-1")  # bob has one left
    assert pool.units_done([pool.known_worker_id("alice"), pool.known_worker_id("bob")]) == {
        pool.known_worker_id("alice"): 2,
        pool.known_worker_id("bob"): 1,
    }
    read_apart: list[object] = []
    units_done = pool.units_done
    pool.units_done = lambda ids: read_apart.append(ids) or units_done(ids)
    results = call(database, HelloGroup(pool).run_together, hellos("alice", "bob", "carol"))
    del pool.units_done
    # PostgreSQL's claim counts the workers' units itself (one round trip fewer per batch); SQLite reads them first
    assert len(read_apart) == (1 if database.is_sqlite else 0)
    assert results[0] is None  # left to the usual way, which refuses her
    assert isinstance(results[1][0], Assigned) and isinstance(results[2][0], Assigned)
    refused = call(database, HelloGroup(pool).run_one, *hellos("alice")[0])
    assert isinstance(refused, Refused) and refused.reason == Refusal.MAX_UNITS_REACHED
    bob_next = results[1][0]
    assert isinstance(call(database, pool.submit, bob_next.agent_id, False, "b-2", {"answer": "bob"}, []), Submitted)
    again = call(database, HelloGroup(pool).run_together, hellos("bob", "dave"))
    assert again[0] is None  # bob reached the limit with the unit the group gave him
    assert again[1] is not None and isinstance(again[1][0], Assigned)


@pytest.mark.usefixtures("many_at_once")
@pytest.mark.parametrize("known", [True, False], ids=["passes-seen-here", "passes-read"])
def test_workers_who_passed_onboarding_claim_together_new_ones_start_it_together_and_the_others_go_the_usual_way(
    database, make_pool, known
):
    pool = make_pool(rows=8, onboarding=True)
    assert not pool.standing_decides_all() and pool.hellos_group()
    for name, answer in (("alice", "yes"), ("bob", "yes"), ("carol", "no")):
        test = hello(database, pool, name)
        assert isinstance(test, Assigned) and test.is_onboarding
        call(database, pool.submit, test.agent_id, True, f"onb-{name}", {"answer": answer}, [])
    call(database, grant_qualification, Worker.get(Worker.name == "bob"), BLOCK_QUALIFICATION, 1)
    first_test = hello(database, pool, "dave")  # dave is known, and on his onboarding test
    if not known:  # another process of the run: the passes and workers are read from the database
        pool = WorkerPool(pool.ctx, pool.uploads)
    group = HelloGroup(pool)
    results = call(database, group.run_together, hellos("alice", "bob", "carol", "dave", "erin"))
    assert isinstance(results[0][0], Assigned) and not results[0][0].is_onboarding  # passed: a unit
    assert results[1:3] == [None] * 2  # blocked, failed: each the usual way
    blocked = call(database, group.run_one, *hellos("bob")[0])
    assert isinstance(blocked, Refused) and blocked.reason == Refusal.BLOCKED
    failed = call(database, group.run_one, *hellos("carol")[0])
    assert isinstance(failed, Refused) and failed.reason == Refusal.NOT_QUALIFIED
    # on the test without its token, never seen: each starts a test, together, as the usual way starts one
    for position, name in ((3, "dave"), (4, "erin")):
        test = results[position][0]
        assert isinstance(test, Assigned) and test.is_onboarding and not test.submitted
        attempt = OnboardingAgent.get_by_id(test.agent_id)
        assert (attempt.worker.name, attempt.status, attempt.token) == (name, "in_task", test.token)
        assert test.init_data == pool.ctx.blueprint.onboarding_data()
    assert results[3][0].agent_id != first_test.agent_id
    usual = call(database, group.run_one, *hellos("frank")[0])
    assert isinstance(usual, Assigned) and usual.is_onboarding
    assert dataclasses.replace(usual, agent_id=0, token="") == dataclasses.replace(results[4][0], agent_id=0, token="")
    unit = Unit.get_by_id(results[0][0].unit_id)
    assert (unit.status, unit.worker.name) == (UnitStatus.ASSIGNED, "alice")


@pytest.mark.usefixtures("many_at_once")
def test_workers_meeting_the_required_qualifications_claim_together_and_the_others_are_refused_the_usual_way(
    database, make_pool
):
    pool = make_pool(
        rows=8,
        qualifications=[
            {"name": "english", "comparator": ">=", "value": 3},
            {"name": "pilot", "comparator": "not_exists"},
        ],
    )
    assert not pool.standing_decides_all() and pool.hellos_group()
    grants = {"ann": {"english": 4}, "bob": {"english": 2}, "cat": {"english": 5, "pilot": 1}, "dan": {"english": 3}}
    with database.write():
        for name, held in grants.items():
            worker = Worker.create(provider_type="crowd_test", name=name)
            for qualification, value in held.items():
                grant_qualification(worker, qualification, value)
        grant_qualification(Worker.get(Worker.name == "dan"), BLOCK_QUALIFICATION, 1)
    group = HelloGroup(pool)
    results = call(database, group.run_together, hellos("ann", "bob", "cat", "dan", "eve"))
    assert isinstance(results[0][0], Assigned)  # meets both
    assert results[1:] == [None] * 4  # too low, has the pilot one, blocked, holds nothing: the usual way
    answers = [call(database, group.run_one, *job) for job in hellos("bob", "cat", "dan", "eve")]
    unqualified, blocked = Refusal.NOT_QUALIFIED, Refusal.BLOCKED
    assert [a.reason for a in answers] == [unqualified, unqualified, blocked, unqualified]
    texts = [str(a.message(1)["message"]) for a in answers]
    assert texts[0].endswith("'english' is at least 3; yours is 2.") and "'pilot'" in texts[1]
    assert texts[3].endswith("'english' is at least 3; you do not have it.")


@pytest.mark.usefixtures("many_at_once")
def test_a_requirement_on_a_qualification_the_run_grants_itself_is_judged_as_the_usual_way_judges_it(
    database, make_pool
):
    """A follow-up run of a task open only to those who passed the first run's screening (`<task>-screened` = 1)
    without a screening of its own: that qualification is one the run checks itself (a failed screening refuses),
    yet a worker who never passed it must not get a unit from a batch either."""
    pool = make_pool(rows=4, qualifications=[{"name": "echo-screened", "comparator": "==", "value": 1}])
    assert pool.ctx.screening_qualification == "echo-screened"
    with database.write():
        grant_qualification(Worker.create(provider_type="crowd_test", name="passed"), "echo-screened", 1)
        Worker.create(provider_type="crowd_test", name="never")
    results = call(database, HelloGroup(pool).run_together, hellos("passed", "never", "new"))
    assert results[1:] == [None, None], results  # left to the usual way, which refuses them
    usual = [call(database, HelloGroup(pool).run_one, *job) for job in hellos("passed", "never", "new")]
    assert isinstance(usual[0], Assigned)  # a unit (theirs from the batch, or the usual way's)
    assert [answer.reason for answer in usual[1:]] == [Refusal.NOT_QUALIFIED] * 2  # type: ignore[union-attr]


_HELD = {"w-none": None, "w-0": 0, "w-1": 1, "w-2": 2, "w-3": 3}


@pytest.mark.usefixtures("many_at_once")
@pytest.mark.parametrize(
    "requirement",
    [
        {"comparator": "exists"},
        {"comparator": "not_exists"},
        *({"comparator": how, "value": 2} for how in ("==", "!=", ">", ">=", "<", "<=")),
        {"comparator": "in", "value": [1, 3]},
        {"comparator": "not_in", "value": [1, 3]},
    ],
    ids=lambda requirement: requirement["comparator"],
)
def test_a_batch_claims_for_exactly_the_workers_the_requirement_admits(database, make_pool, monkeypatch, requirement):
    """Each comparator as the usual way judges it (`unmet_requirement`): PostgreSQL's claim checks it in its own
    statement, reading no grants apart; SQLite reads the batch's grants and judges them here."""
    from mephisto_core.abstractions.task_args import QualificationRequirement
    from mephisto_core.operations.run.worker_rules import unmet_requirement

    pool = make_pool(rows=8, qualifications=[{"name": "level", **requirement}])
    with database.write():
        for name, value in _HELD.items():
            worker = Worker.create(provider_type="crowd_test", name=name)
            if value is not None:
                grant_qualification(worker, "level", value)
            pool.remember_worker_ids({name: worker.id})
    sent: list[str] = []
    if not database.is_sqlite:
        monkeypatch.setattr(pool, "grants_of", lambda *args: pytest.fail("grants read apart from the claim"))
        sent = statements_sent(database, monkeypatch)
    results = call(database, HelloGroup(pool).run_together, hellos(*_HELD, "w-new"))
    # PostgreSQL: the claim alone (prepared in its own round trip, the agent sequence's name read once), new worker
    # included; those it did not admit do not make it ask whether the run still offers units (it says how many it
    # admitted)
    claims = [sql for sql in sent if not sql.startswith("SELECT pg_get_serial_sequence")]
    assert len(claims) == (0 if database.is_sqlite else 1), sent
    admitted = {name for name, result in zip([*_HELD, "w-new"], results, strict=True) if result is not None}
    assert all(isinstance(result[0], Assigned) for result in results if result is not None)
    rule = QualificationRequirement(name="level", **requirement)
    expected = {name for name, value in _HELD.items() if unmet_requirement(_grants(value), [rule]) is None}
    if unmet_requirement({}, [rule]) is None:
        expected.add("w-new")  # never seen, holds nothing
    assert admitted == expected
    monkeypatch.undo()
    for name in sorted({*_HELD, "w-new"} - admitted):  # the usual way refuses each of the others
        refused = call(database, HelloGroup(pool).run_one, *hellos(name)[0])
        assert isinstance(refused, Refused) and refused.reason == Refusal.NOT_QUALIFIED, name


def _grants(value: int | None) -> dict[str, int]:
    return {} if value is None else {"level": value}


@pytest.mark.parametrize(
    "database_target", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)  # PostgreSQL's planner; SQLite's shared claim reads the picked units' assignments by construction
def test_a_shared_claim_reads_neither_the_workers_past_units_nor_every_worker_on_postgresql(database, make_pool):
    """Late in a long run a worker has had hundreds of units, and the provider knows thousands of workers: a claim
    reads as many rows for such a worker as for a newcomer, and a handful of workers, not all of them (as a join
    over the workers, or a walk of the worker's units, would)."""
    pool = make_pool(rows=160)
    for round_ in range(150):
        submitted_once(database, pool, "alice", f"alice-{round_}")
    submitted_once(database, pool, "bob", "bob-1")
    with database.write():
        Worker.insert_many([{"provider_type": "crowd_test", "name": f"other-{i}"} for i in range(300)]).execute()
    tables = ("unit", "worker")
    read: dict[str, dict[str, int]] = {}
    for name in ("bob", "alice"):
        with database.write():
            before = rows_read(database, tables)
            (result,) = HelloGroup(pool).run_together(hellos(name))
            after = rows_read(database, tables)
        assert result is not None and isinstance(result[0], Assigned)
        read[name] = {table: after.get(table, 0) - before.get(table, 0) for table in tables}
    assert read["alice"]["unit"] - read["bob"]["unit"] < 20, read
    assert read["alice"]["worker"] < 20 and read["bob"]["worker"] < 20, read


@pytest.mark.parametrize("database_target", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_a_shared_claim_does_not_compare_every_unit_with_every_hello(database, make_pool):
    """The planner's statistics of the unit table date from before the launch added thousands of units: a status
    check on the units to take made a nested loop over every unit for each hello."""
    pool = make_pool(rows=10)
    call(database, TaskLauncher(pool.ctx).create_assignments, [{"n": i} for i in range(3000)])
    call(database, TaskLauncher(pool.ctx).launch_available)
    names = [f"worker-{i}" for i in range(10)]
    with explained(database) as plans:
        results = call(database, HelloGroup(pool).run_together, hellos(*names))
    assert all(isinstance(result[0], Assigned) for result in results)
    assert plans and rows_removed_by_join_filters(plans) < 500


@pytest.mark.parametrize("database_target", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_submissions_stored_together_do_not_compare_every_agent_in_task_with_every_submission(database, make_pool):
    """With 300 workers holding a unit, storing ten submissions looks up those ten agents, not (a nested loop on
    the agents in task) each of the 300 for each submission: 5,000 with 5,000 workers, at every batch."""
    pool = make_pool(rows=400)
    held = []
    for batch in range(3):
        names = [f"worker-{batch}-{i}" for i in range(100)]
        held += [result[0] for result in call(database, HelloGroup(pool).run_together, hellos(*names))]
    assert len(held) == 300 and all(isinstance(answer, Assigned) for answer in held)
    jobs = [(answer.agent_id, False, f"key-{i}", {"answer": "x"}, []) for i, answer in enumerate(held[:10])]
    with explained(database) as plans:
        results = call(database, SubmitGroup(pool).run_together, jobs)
    assert [r[0] for r in results] == [Submitted(f"key-{i}") for i in range(10)]
    assert plans and rows_removed_by_join_filters(plans) < 500


@pytest.mark.parametrize("database_target", ["sqlite"], indirect=True)  # PostgreSQL takes arrays: one text
@pytest.mark.usefixtures("many_at_once")
def test_batches_of_any_size_run_on_a_few_statement_texts_on_sqlite(database, make_pool, monkeypatch):
    """SQLite's statements hold a VALUES row or IN item per hello or submission, padded to a few sizes, so that
    they stay prepared rather than one text per batch size; the padding claims and completes nothing."""
    pool = make_pool(rows=200)
    texts: set[str] = set()
    original = type(pool.queries).db_execute

    def recording(self: Any, sql: str, params: Any) -> Any:
        texts.add(sql)
        return original(self, sql, params)

    sizes = (2, 3, 7, 8, 9, 16, 17, 31)
    for size in sizes:  # the workers are created first, so that every batch below runs the same statements
        for i in range(size):
            hello(database, pool, f"w{size}-{i}")
    with database.write():
        Agent.update(status=AgentStatus.RETURNED).execute()
    monkeypatch.setattr(type(pool.queries), "db_execute", recording)
    for size in sizes:
        names = [f"w{size}-{i}" for i in range(size)]
        answers = [result[0] for result in call(database, HelloGroup(pool).run_together, hellos(*names))]
        assert all(isinstance(answer, Assigned) for answer in answers), answers
        assert len({answer.unit_id for answer in answers}) == size
        assert Agent.select().where(Agent.status == AgentStatus.IN_TASK).count() == size
        jobs = [(a.agent_id, False, f"key-{size}-{i}", {"answer": f"a{i}"}, []) for i, a in enumerate(answers)]
        results = call(database, SubmitGroup(pool).run_together, jobs)
        assert [r[0] for r in results] == [Submitted(f"key-{size}-{i}") for i in range(size)]
        assert Agent.select().where(Agent.status == AgentStatus.IN_TASK).count() == 0
    completed = Unit.select().where(Unit.status == UnitStatus.COMPLETED).count()
    assert completed == sum(sizes)
    # 8 batch sizes over 3 padded sizes (8, 16, 32): at most 3 texts of each of the 6 statements, and the fixed ones
    assert len(texts) <= 6 * 3 + 2, (len(texts), sorted(texts))


@pytest.mark.usefixtures("many_at_once")
def test_workers_met_for_the_first_time_are_looked_up_and_added_on_a_few_statement_texts(
    database, make_pool, monkeypatch
):
    """The first hellos of new workers come in batches of every size: their lookup and insert are padded like the
    claim's (on SQLite that keeps them prepared), and the padding adds no worker."""
    pool = make_pool(rows=100)
    texts: set[str] = set()
    original = type(pool.queries).db_execute

    def recording(self: Any, sql: str, params: Any) -> Any:
        if 'INTO "worker"' in sql or 'FROM "worker" WHERE' in sql:
            texts.add(sql)
        return original(self, sql, params)

    monkeypatch.setattr(type(pool.queries), "db_execute", recording)
    sizes = (1, 2, 3, 7, 9, 17)
    for size in sizes:
        names = [f"new{size}-{i}" for i in range(size)]
        answers = [result[0] for result in call(database, HelloGroup(pool).run_together, hellos(*names))]
        assert all(isinstance(answer, Assigned) for answer in answers), answers
    assert Worker.select().count() == sum(sizes)
    assert sorted(name for (name,) in Worker.select(Worker.name).tuples()) == sorted(
        f"new{size}-{i}" for size in sizes for i in range(size)
    )
    # 6 batch sizes over 3 padded sizes (8, 16, 32): at most 3 texts each of the lookup and the insert
    assert len(texts) <= 2 * 3, sorted(texts)


def test_when_the_commit_fails_the_jobs_done_together_are_told_too(database, monkeypatch):
    write = database.write

    @contextlib.contextmanager
    def commit_fails() -> Iterator[None]:
        with write():
            yield
            raise pw.OperationalError("disk I/O error")  # as a failing COMMIT would: the transaction is undone

    monkeypatch.setattr(database, "write", commit_fails)
    writer = DatabaseWriter(database)
    answers = asyncio.run(_in_one_batch(writer, _AddingGroup(), [("w1",), ("w2",)]))
    assert [(kind, str(error)) for kind, error in answers] == [("error", "disk I/O error")] * 2
    assert Worker.select().count() == 0


@pytest.mark.usefixtures("many_at_once")
def test_while_the_run_offers_nothing_a_batch_of_hellos_is_refused_together_as_the_usual_way_refuses_each(
    database, make_pool
):
    pool = make_pool(rows=4)
    for name in ("alice", "bob", "carol"):
        submitted_once(database, pool, name, f"{name}-1")
    erin = hello(database, pool, "erin")  # holds the last unit
    assert isinstance(erin, Assigned)
    assert pool.refusal_for_all() is None  # nothing remembered yet: the usual way finds out
    first = hello(database, pool, "dave")
    assert first == Refused(Refusal.NO_UNITS)
    assert pool.refusal_for_all() == Refused(Refusal.NO_UNITS)
    call(database, grant_qualification, Worker.get(Worker.name == "carol"), BLOCK_QUALIFICATION, 1)
    pool.remember_worker_ids({"carol": Worker.get(Worker.name == "carol").id})
    group = HelloGroup(pool)
    jobs = hellos("alice", "bob", "erin", "frank", "carol", "dave")
    results = call(database, group.run_together, jobs)
    refused = (Refused(Refusal.NO_UNITS),)
    # Holding nothing: refused together, frank (never seen) too, once his worker row is made as the usual way
    # makes it. Erin holds a unit and carol is blocked: the usual way.
    assert results == [refused, refused, None, refused, None, refused]
    assert pool.known_worker_id("frank") == Worker.get(Worker.name == "frank").id
    assert [call(database, group.run_one, *job) for job in jobs[:2]] == [refused[0]] * 2  # the usual way agrees
    resumed = call(database, group.run_one, *jobs[2])
    assert isinstance(resumed, Assigned) and resumed.agent_id == erin.agent_id
    assert call(database, group.run_one, *jobs[4]) == Refused(Refusal.BLOCKED)
    # The pool's group, which takes hellos and submissions, does the same with its hellos.
    both = [(HELLO, *job) for job in hellos("alice", "bob")]
    assert call(database, PoolGroup(pool).run_together, both) == [refused, refused]
    pool.ctx.accepting = False  # stopped: the usual way says the run is over
    assert pool.refusal_for_all() == Refused(Refusal.RUN_OVER)
    assert call(database, group.run_together, hellos("alice", "bob")) == [(Refused(Refusal.RUN_OVER),)] * 2


@pytest.mark.usefixtures("many_at_once")
def test_under_a_per_worker_limit_a_batch_is_refused_together_each_as_the_usual_way_says(
    database, make_pool, monkeypatch
):
    """At a run's end every worker's next hello is refused: under a per-worker limit, those at it are told so (the
    usual way checks the limit before it looks for a unit) and the others that the run is over, for the batch
    together; one by one, each took a standing read and more (seconds of the writer at the end of a run served from
    a database 11 ms away)."""
    pool = make_pool(rows=4, maximum_units_per_worker=1)
    for name in ("alice", "bob", "carol"):
        submitted_once(database, pool, name, f"{name}-1")  # each at the limit
    assert isinstance(hello(database, pool, "frank"), Assigned)  # holds the last unit
    assert hello(database, pool, "dave") == Refused(Refusal.NO_UNITS)
    assert pool.refusal_for_all() == Refused(Refusal.NO_UNITS)  # for those below the limit
    jobs = hellos("alice", "bob", "erin", "dave")
    sent = statements_sent(database, monkeypatch)
    results = call(database, HelloGroup(pool).run_together, jobs)
    monkeypatch.undo()
    # while the run offers nothing, no claim is tried (`hellos_group`), as the usual way tries none: SQLite's first
    # statement of one reads the hellos' standing, PostgreSQL's takes units SKIP LOCKED
    assert not [sql for sql in sent if "SKIP LOCKED" in sql or 'req ("k", "name", "wid") AS (VALUES' in sql], sent
    # erin, never seen, is found or added (SQLite: found, then added); then what each worker holds and their units
    # so far are one statement for the batch (one round trip, where they were two)
    assert len(sent) == (3 if database.is_sqlite else 2), sent
    at_limit, none_left = (Refused(Refusal.MAX_UNITS_REACHED),), (Refused(Refusal.NO_UNITS),)
    assert results == [at_limit, at_limit, none_left, none_left]
    assert [(call(database, HelloGroup(pool).run_one, *job),) for job in jobs] == results  # the usual way agrees
    pool.ctx.accepting = False  # stopped: the run is over for everyone, at the limit or not
    over = (Refused(Refusal.RUN_OVER),)
    assert call(database, HelloGroup(pool).run_together, hellos("alice", "erin")) == [over, over]


@pytest.mark.usefixtures("many_at_once")
def test_with_an_onboarding_test_a_batch_is_refused_together_each_as_the_usual_way_says(database, make_pool):
    """At the end of a run with an onboarding test: those who passed it hear that no unit is left, one who failed
    it is told so, for the batch together; one who never took it goes the usual way, which starts the test."""
    pool = make_pool(rows=3, onboarding=True)
    for name, answer in (("alice", "yes"), ("bob", "yes"), ("carol", "no"), ("frank", "yes")):
        test = hello(database, pool, name)
        assert isinstance(test, Assigned) and test.is_onboarding
        call(database, pool.submit, test.agent_id, True, f"onb-{name}", {"answer": answer}, [])
    for name in ("alice", "bob"):
        submitted_once(database, pool, name, f"{name}-1")
    assert isinstance(hello(database, pool, "frank"), Assigned)  # holds the last unit
    assert hello(database, pool, "alice") == Refused(Refusal.NO_UNITS)
    assert pool.refusal_for_all() == Refused(Refusal.NO_UNITS)  # for those who passed
    jobs = hellos("alice", "bob", "carol", "erin", "frank")
    results = call(database, HelloGroup(pool).run_together, jobs)
    failed = Refused(Refusal.NOT_QUALIFIED, NOT_QUALIFIED_ONBOARDING)
    assert results == [(Refused(Refusal.NO_UNITS),)] * 2 + [(failed,), None, None]
    usual = [call(database, HelloGroup(pool).run_one, *job) for job in jobs]
    assert [(answer,) for answer in usual[:3]] == results[:3]
    assert isinstance(usual[3], Assigned) and usual[3].is_onboarding  # erin starts the test, as before
    assert isinstance(usual[4], Assigned) and not usual[4].is_onboarding  # frank's unit
    pool.ctx.accepting = False  # stopped: the run is over, whatever became of the test
    over = (Refused(Refusal.RUN_OVER),)
    assert call(database, HelloGroup(pool).run_together, hellos("alice", "carol", "gus")) == [over] * 3


@pytest.mark.parametrize("database_target", ["sqlite"], indirect=True)  # SQLite's planner
def test_a_runs_end_read_looks_each_worker_up_by_their_own_agents(database, make_pool, monkeypatch):
    """At a run's end of thousands of workers the run has thousands of agents in task: each worker's lookup must go
    through the worker's own agents (the (worker, status) index), not walk the run's (0.6 s a batch at 5,000)."""
    pool = make_pool(rows=2, maximum_units_per_worker=5)
    submitted_once(database, pool, "alice", "alice-1")
    sent: list[tuple[str, Any]] = []
    execute_sql = database.db.execute_sql
    monkeypatch.setattr(
        database.db, "execute_sql", lambda sql, params=None, *a: sent.append((sql, params)) or execute_sql(sql, params)
    )
    ids = [pool.known_worker_id("alice")]
    read = call(database, refusal_standings, pool.ctx, pool.queries.qualification_names, ids, True)
    monkeypatch.undo()
    assert read.units == {ids[0]: 1} and not read.holding
    ((sql, params),) = sent
    plan = " ".join(str(row[3]) for row in database.db.execute_sql(f"EXPLAIN QUERY PLAN {sql}", params).fetchall())
    assert "agent_worker_id_status" in plan and "agent_task_run_id_status" not in plan, plan
    assert "unit_task_id_worker_id" in plan, plan


@pytest.mark.usefixtures("many_at_once")
def test_with_gold_units_a_batch_is_refused_together_at_the_runs_end(database, make_pool, tmp_path):
    """Gold units come with real work only: once none is left, every worker who holds nothing hears so, for the
    batch together, as the usual way tells each."""
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"inputs": {"n": 100}, "answers": {"answer": "gold-0"}}) + "\n")
    pool = make_pool(rows=2, gold={"data_jsonl": str(gold), "every": 2, "max_wrong": 0})
    for name in ("alice", "bob"):
        test = hello(database, pool, name)
        assert isinstance(test, Assigned) and test.init_data["n"] == 100  # the first unit is gold
        call(database, pool.submit, test.agent_id, False, f"{name}-gold", {"answer": "gold-0"}, [])
    submitted_once(database, pool, "alice", "alice-1")
    assert isinstance(hello(database, pool, "bob"), Assigned)  # holds the last unit
    assert hello(database, pool, "alice") == Refused(Refusal.NO_UNITS)
    assert pool.refusal_for_all() == Refused(Refusal.NO_UNITS)
    jobs = hellos("alice", "carol", "bob")
    results = call(database, PoolGroup(pool).run_together, [(HELLO, *job) for job in jobs])
    assert results == [(Refused(Refusal.NO_UNITS),)] * 2 + [None]  # bob holds a unit: the usual way
    usual = [call(database, HelloGroup(pool).run_one, *job) for job in jobs]
    assert [(answer,) for answer in usual[:2]] == results[:2]
    assert isinstance(usual[2], Assigned)


@pytest.mark.usefixtures("many_at_once")
def test_under_required_qualifications_a_batch_is_refused_together_each_as_the_usual_way_says(
    database, make_pool, monkeypatch
):
    """A study that requires a qualification, at its end: those who do not meet it are told which (as the usual
    way tells them before anything else), the others that no unit is left, for the batch in one statement after its
    workers are found, where each took a standing read and more (seconds of the writer at 11 ms)."""
    pool = make_pool(rows=4, qualifications=[{"name": "english", "comparator": ">=", "value": 3}])
    levels = {"alice": 4, "bob": 3, "carol": 2, "frank": 5, "gina": 3, "dave": 3}
    with database.write():
        for name, level in levels.items():
            grant_qualification(Worker.create(provider_type="crowd_test", name=name), "english", level)
        grant_qualification(Worker.get(Worker.name == "gina"), BLOCK_QUALIFICATION, 1)
    for name in ("alice", "bob", "dave"):
        submitted_once(database, pool, name, f"{name}-1")
    assert isinstance(hello(database, pool, "frank"), Assigned)  # holds the last unit
    assert hello(database, pool, "bob") == Refused(Refusal.NO_UNITS)
    assert pool.refusal_for_all() == Refused(Refusal.NO_UNITS)  # for those who meet the requirement
    jobs = hellos("alice", "carol", "erin", "frank", "gina")
    sent = statements_sent(database, monkeypatch)
    results = call(database, HelloGroup(pool).run_together, jobs)
    monkeypatch.undo()
    # carol, gina and erin are found or added (SQLite: found, then erin added); then one statement for the batch
    assert len(sent) == (3 if database.is_sqlite else 2), sent
    no_units = (Refused(Refusal.NO_UNITS),)
    assert results[0] == no_units
    assert [result[0].reason for result in results[1:3]] == [Refusal.NOT_QUALIFIED] * 2  # type: ignore[index]
    assert results[3:] == [None, None]  # frank holds a unit, gina is blocked: the usual way
    usual = [call(database, HelloGroup(pool).run_one, *job) for job in jobs]
    assert [(answer,) for answer in usual[:3]] == results[:3]  # the same refusals, texts included
    assert str(usual[1].message(1)["message"]).endswith("'english' is at least 3; yours is 2.")
    assert isinstance(usual[3], Assigned) and usual[4] == Refused(Refusal.BLOCKED)
    pool.ctx.accepting = False  # stopped: the run is over for those who meet it; the others still hear why not
    over = call(database, HelloGroup(pool).run_together, hellos("alice", "carol"))
    assert over[0] == (Refused(Refusal.RUN_OVER),) and over[1] == results[1]


@pytest.mark.usefixtures("many_at_once")
def test_when_a_batch_takes_the_last_unit_its_other_hellos_are_refused_together(database, make_pool):
    pool = make_pool(rows=3)
    for name in ("alice", "bob"):
        submitted_once(database, pool, name, f"{name}-1")
    results = call(database, PoolGroup(pool).run_together, [(HELLO, *job) for job in hellos("alice", "bob")])
    got = [result[0] for result in results if result is not None]
    assert sorted(type(answer).__name__ for answer in got) == ["Assigned", "Refused"], results
    assert Refused(Refusal.NO_UNITS) in got  # as the usual way answers, and remembers for the next hellos
    assert pool.refusal_for_all() == Refused(Refusal.NO_UNITS)


@pytest.mark.usefixtures("many_at_once")
def test_with_gold_units_workers_whose_next_unit_is_real_work_claim_together(database, make_pool, tmp_path):
    """Every hello of a run with gold units went the usual way, one after the other (at 1,000 workers on SQLite a
    page waited up to half a second; at 11 ms from PostgreSQL the run served 12 units/s). Now a worker this process
    knows whose next unit is not gold claims with the batch. One due for a gold unit, and a new worker (whose first
    unit is gold), get it together on PostgreSQL (test_gold_groups.py); on SQLite they go the usual way, which
    makes it."""
    gold = tmp_path / "gold.jsonl"
    gold.write_text(
        "\n".join(json.dumps({"inputs": {"n": 100 + i}, "answers": {"answer": f"gold-{i}"}}) for i in range(3)) + "\n"
    )
    pool = make_pool(rows=8, gold={"data_jsonl": str(gold), "every": 2, "max_wrong": 5})
    for name in ("alice", "bob"):  # a gold unit each, then alice a real one: she is due for gold next, bob is not
        first = hello(database, pool, name)
        assert isinstance(first, Assigned) and first.init_data["n"] == 100
        call(database, pool.submit, first.agent_id, False, f"{name}-gold", {"answer": "gold-0"}, [])
    submitted_once(database, pool, "alice", "alice-1")
    jobs = hellos("alice", "bob", "carol")
    results = call(database, PoolGroup(pool).run_together, [(HELLO, *job) for job in jobs])
    bob = results[1][0]
    assert isinstance(bob, Assigned) and bob.init_data["n"] < 100  # a unit of the data: real work
    if database.is_sqlite:
        assert results[0] is None and results[2] is None  # due for gold, and new: the usual way
        given = [call(database, HelloGroup(pool).run_one, *hellos(name)[0]) for name in ("alice", "carol")]
    else:
        given = [results[0][0], results[2][0]]  # type: ignore[index]
    assert [answer.init_data.get("n") for answer in given] == [101, 100]  # gold units they have not seen
