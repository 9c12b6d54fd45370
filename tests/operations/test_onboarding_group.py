"""A run with an onboarding test at scale (on SQLite and PostgreSQL): a batch's onboarding submissions stored,
graded and granted together, and its new workers' tests started together; the same rows and answers as the usual
way, in a few statements for the batch; every other case left to the usual way."""

from __future__ import annotations

import asyncio
from typing import Any

import peewee as pw
import pytest
from pool_helpers import call, hello
from test_pool_groups import _in_one_batch, statements_sent

from mephisto_core.data_model import OnboardingAgent, Review, Worker
from mephisto_core.data_model.models import GrantedQualification, Qualification, utcnow
from mephisto_core.data_model.pool_sql_many import AttemptsToStart, worker_ids_many
from mephisto_core.data_model.qualifications import grant_qualification, granted_value
from mephisto_core.operations.run import pool_groups
from mephisto_core.operations.run.db_writer import DatabaseWriter
from mephisto_core.operations.run.onboarding_group import OnboardingGroup
from mephisto_core.operations.run.pool_groups import HELLO, ONBOARDING, HelloGroup, PoolGroup
from mephisto_core.operations.run.replies import Assigned, Failure, Refusal, Refused, Submitted
from mephisto_core.operations.run.worker_pool import WorkerPool

pytestmark = pytest.mark.usefixtures("test_types", "many_at_once")


def _tests_taken(database: Any, pool: Any, *names: str) -> dict[str, Assigned]:
    taken = {}
    for name in names:
        test = hello(database, pool, name)
        assert isinstance(test, Assigned) and test.is_onboarding
        taken[name] = test
    return taken


def _stored(pool: Any, names: list[str]) -> list[tuple[Any, ...]]:
    """What the database holds of each worker's onboarding: the attempt, the grant and the reviews."""
    rows = []
    for name in names:
        worker = Worker.get(Worker.name == name)
        attempt = OnboardingAgent.get(OnboardingAgent.worker == worker)
        reviews = sorted(r.kind for r in Review.select().where(Review.worker == worker))
        grant = granted_value(worker, pool.ctx.onboarding_qualification)
        rows.append((name, attempt.status, attempt.outputs, attempt.submit_key is not None, grant, reviews))
    return rows


def test_fresh_submissions_are_stored_graded_and_granted_as_the_usual_way_does(database, make_pool, monkeypatch):
    together, alone = make_pool(rows=4, onboarding=True), make_pool(rows=4, onboarding=True)
    names = ["alice", "bob", "carol"]
    answers = {"alice": "yes", "bob": "no", "carol": "yes"}
    taken = _tests_taken(database, together, *names, "yves", "zoe")
    group = OnboardingGroup(together)
    first = [(taken[n].agent_id, f"key-{n}", {"answer": "yes"}, []) for n in ("yves", "zoe")]
    assert all(r is not None for r in call(database, group.run_together, first))  # makes the qualification
    jobs = [(taken[n].agent_id, f"key-{n}", {"answer": answers[n]}, []) for n in names]
    sent = statements_sent(database, monkeypatch)
    results = call(database, group.run_together, jobs)
    assert [r[0] for r in results] == [
        Submitted("key-alice", "onboarding_passed"),
        Submitted("key-bob", "onboarding_failed"),
        Submitted("key-carol", "onboarding_passed"),
    ]
    # PostgreSQL: one statement stores, reviews and grants; SQLite: the attempts, the qualification read, reviews,
    # grants. As many for any number of submissions.
    assert len(sent) == (4 if database.is_sqlite else 1), sent
    monkeypatch.undo()
    stored_together = _stored(together, names)

    # the same workers of another run, each the usual way: the same rows
    group = OnboardingGroup(alone)
    renamed = [f"{n}-2" for n in names]
    taken = _tests_taken(database, alone, *renamed)
    for name, again in zip(names, renamed, strict=True):
        answer = call(database, group.run_one, taken[again].agent_id, f"key-{again}", {"answer": answers[name]}, [])
        assert isinstance(answer, Submitted)
    stored_alone = [(row[0][:-2], *row[1:]) for row in _stored(alone, renamed)]
    assert [row[1:] for row in stored_together] == [row[1:] for row in stored_alone]
    assert [row[4] for row in stored_together] == [1, 0, 1]


def test_replays_second_keys_unknown_attempts_and_failing_graders_go_the_usual_way(database, make_pool, monkeypatch):
    pool = make_pool(rows=4, onboarding=True)
    taken = _tests_taken(database, pool, "alice", "bob", "carol", "dave")
    done = call(database, pool.submit, taken["alice"].agent_id, True, "key-alice", {"answer": "yes"}, [])
    assert done == Submitted("key-alice", "onboarding_passed")
    group = OnboardingGroup(pool)
    jobs = [
        (taken["alice"].agent_id, "key-alice", {"answer": "yes"}, []),  # a replay
        (taken["bob"].agent_id, "key-bob", {"answer": "yes"}, []),  # fresh
        (taken["bob"].agent_id, "key-bob-2", {"answer": "no"}, []),  # the same attempt again in the batch
        (999_999, "key-nobody", {"answer": "yes"}, []),  # no such attempt
        (taken["carol"].agent_id, "key-bob", {"answer": "yes"}, []),  # bob's key again
        (taken["dave"].agent_id, "key-dave", {"answer": object()}, []),  # the grader raises on it
    ]
    real = pool.ctx.blueprint.validate_onboarding
    monkeypatch.setattr(
        pool.ctx.blueprint,
        "validate_onboarding",
        lambda outputs: real(outputs) if isinstance(outputs.get("answer"), str) else 1 / 0,
    )
    results = call(database, group.run_together, jobs)
    assert results[1] == (Submitted("key-bob", "onboarding_passed"),)
    assert [results[i] for i in (0, 2, 3, 4, 5)] == [None] * 5
    # ... whose answers are the usual way's
    assert call(database, group.run_one, *jobs[0]) == Submitted("key-alice", "onboarding_passed", replay=True)
    second = call(database, group.run_one, *jobs[2])
    assert isinstance(second, Failure) and second.code == "already_submitted"
    nobody = call(database, group.run_one, *jobs[3])
    assert isinstance(nobody, Failure) and nobody.code == "not_your_unit"
    assert OnboardingAgent.get_by_id(taken["carol"].agent_id).status == "in_task"


def test_a_key_another_attempt_holds_leaves_that_submission_to_the_usual_way_and_stores_the_others(database, make_pool):
    """Not a failed statement: on PostgreSQL the batch's statement also adds its new workers and starts their
    tests, which a reused key would undo with it."""
    pool = make_pool(rows=4, onboarding=True)
    taken = _tests_taken(database, pool, "alice", "bob", "carol")
    call(database, pool.submit, taken["alice"].agent_id, True, "key-alice", {"answer": "yes"}, [])
    jobs = [
        (taken["bob"].agent_id, "key-alice", {"answer": "yes"}, []),  # alice's key, from an earlier batch
        (taken["carol"].agent_id, "key-carol", {"answer": "yes"}, []),
    ]
    results = call(database, OnboardingGroup(pool).run_together, jobs)
    assert results == [None, (Submitted("key-carol", "onboarding_passed"),)]
    assert OnboardingAgent.get_by_id(taken["bob"].agent_id).status == "in_task"


def test_a_grant_keeps_its_time_when_its_value_does_not_change(database, make_pool):
    pool = make_pool(rows=4, onboarding=True)
    taken = _tests_taken(database, pool, "alice", "bob")
    name = pool.ctx.onboarding_qualification
    # granted before (say by a reviewer): alice already with the value she is about to get, bob with another
    for worker, value in (("alice", 1), ("bob", 1)):
        call(database, grant_qualification, Worker.get(Worker.name == worker), name, value)
    before = {
        g.worker.name: g.updated_at
        for g in GrantedQualification.select().join(Qualification).where(Qualification.name == name)
    }
    jobs = [
        (taken["alice"].agent_id, "key-alice", {"answer": "yes"}, []),
        (taken["bob"].agent_id, "key-bob", {"answer": "no"}, []),
    ]
    assert all(r is not None for r in call(database, OnboardingGroup(pool).run_together, jobs))
    after = {
        g.worker.name: (g.value, g.updated_at)
        for g in GrantedQualification.select().join(Qualification).where(Qualification.name == name)
    }
    assert after["alice"] == (1, before["alice"])
    assert after["bob"][0] == 0 and after["bob"][1] > before["bob"]


def test_a_batch_of_onboarding_submissions_through_the_writer_is_one_batch(database, make_pool):
    pool = make_pool(rows=4, onboarding=True)
    taken = _tests_taken(database, pool, "alice", "bob", "carol")
    jobs = [(t.agent_id, f"key-{n}", {"answer": "yes"}, []) for n, t in taken.items()]
    writer = DatabaseWriter(database)
    answers = asyncio.run(_in_one_batch(writer, OnboardingGroup(pool), jobs))
    assert answers == [Submitted(f"key-{n}", "onboarding_passed") for n in taken]
    assert writer.batches == 1
    assert all(a.status == "approved" for a in OnboardingAgent.select())


def test_a_lone_onboarding_submission_is_stored_by_the_batch_statement_too(database, make_pool):
    """Its usual way took seven round trips on PostgreSQL (the last tests of a run's arrivals came one a batch)."""
    pool = make_pool(rows=4, onboarding=True)
    (test,) = _tests_taken(database, pool, "alice").values()
    group = OnboardingGroup(pool)
    together: list[int] = []
    run_together = group.run_together
    group.run_together = lambda jobs: together.append(len(jobs)) or run_together(jobs)  # type: ignore[method-assign]
    group.run_one = lambda *args: pytest.fail("the usual way")  # type: ignore[method-assign]
    writer = DatabaseWriter(database)
    answers = asyncio.run(_in_one_batch(writer, group, [(test.agent_id, "key-alice", {"answer": "yes"}, [])]))
    assert answers == [Submitted("key-alice", "onboarding_passed")] and together == [1]
    assert _stored(pool, ["alice"]) == [("alice", "approved", {"answer": "yes"}, True, 1, ["onboarding_pass"])]


def test_new_workers_start_the_test_together_without_a_standing_read(database, make_pool, monkeypatch):
    pool = make_pool(rows=4, onboarding=True)
    group = HelloGroup(pool)
    call(database, pool.queries.statements)  # the run's statements made once (PostgreSQL reads a sequence's name)
    sent = statements_sent(database, monkeypatch)
    results = call(database, group.run_together, [({"worker_id": n}, None, None) for n in ("ann", "ben", "cat")])
    monkeypatch.undo()
    tests = [r[0] for r in results]
    assert all(isinstance(t, Assigned) and t.is_onboarding for t in tests)
    assert {OnboardingAgent.get_by_id(t.agent_id).worker.name for t in tests} == {"ann", "ben", "cat"}
    # PostgreSQL: the workers found or added with their attempts; SQLite: the workers looked for, added, the attempts
    assert len(sent) == (3 if database.is_sqlite else 1), sent
    assert not any("granted_qualification" in sql for sql in sent)  # nothing to read of a worker just made
    usual = call(database, group.run_one, {"worker_id": "dan"}, None, None)
    assert isinstance(usual, Assigned) and usual.is_onboarding

    def attempt(test: Assigned) -> tuple[Any, ...]:
        row = OnboardingAgent.get_by_id(test.agent_id)
        assert row.token == test.token and row.started_at is not None
        return (row.task_id, row.task_run_id, row.status, row.outputs, row.submit_key, row.submitted_at)

    assert all(attempt(t) == attempt(usual) for t in tests)  # as the usual way makes them
    assert all(t.init_data == usual.init_data for t in tests)


def test_new_workers_go_the_usual_way_when_a_requirement_needs_a_grant(database, make_pool):
    pool = make_pool(rows=4, onboarding=True, qualifications=[{"name": "english", "comparator": ">=", "value": 3}])
    group = HelloGroup(pool)
    results = call(database, group.run_together, [({"worker_id": n}, None, None) for n in ("ann", "ben")])
    assert results == [None, None]
    refused = call(database, group.run_one, {"worker_id": "ann"}, None, None)
    assert isinstance(refused, Refused) and refused.reason == Refusal.NOT_QUALIFIED


def test_a_batch_of_new_and_known_workers_each_get_one_test(database, make_pool):
    pool = make_pool(rows=4, onboarding=True)
    for name in ("old", "passed"):
        test = hello(database, pool, name)
        answer = {"answer": "yes" if name == "passed" else "x"}
        call(database, pool.submit, test.agent_id, True, f"key-{name}", answer, [])
    other = WorkerPool(pool.ctx, pool.uploads)  # another process: it has met nobody
    call(database, lambda: Worker.create(provider_type="crowd_test", name="known"))
    names = ("new-1", "known", "new-2", "passed", "old")
    results = call(database, HelloGroup(other).run_together, [({"worker_id": n}, None, None) for n in names])
    for position in (0, 1, 2):  # the new ones and the one known without a test: their tests started together
        test = results[position][0]
        assert isinstance(test, Assigned) and test.is_onboarding
        attempt = OnboardingAgent.get_by_id(test.agent_id)
        assert (attempt.worker.name, attempt.status, attempt.token) == (names[position], "in_task", test.token)
    unit = results[3][0]
    assert isinstance(unit, Assigned) and not unit.is_onboarding  # passed: a unit, claimed with the batch
    assert results[4] is None  # failed the test: the usual way refuses
    for name in ("new-1", "known", "new-2"):
        assert OnboardingAgent.select().join(Worker).where(Worker.name == name).count() == 1


def test_found_and_created_workers_are_told_apart(database, make_pool):
    pool = make_pool(rows=1)
    call(database, lambda: Worker.create(provider_type="crowd_test", name="old"))
    ids = call(database, worker_ids_many, pool.queries, "crowd_test", ["old", "new"], utcnow())
    assert set(ids) == {"old", "new"} and ids.created == {"new"}
    again = call(database, worker_ids_many, pool.queries, "crowd_test", ["old", "new"], utcnow())
    assert dict(again) == dict(ids) and again.created == set()


def test_postgresql_starts_the_tests_of_the_workers_it_adds_and_of_no_other(database, make_pool):
    pool = make_pool(rows=1, onboarding=True)
    call(database, lambda: Worker.create(provider_type="crowd_test", name="old"))
    tests = AttemptsToStart(int(pool.ctx.task.id), int(pool.ctx.run.id), {"old": "token-old", "new": "token-new"})
    ids = call(database, worker_ids_many, pool.queries, "crowd_test", ["old", "new"], utcnow(), tests)
    assert ids.created == {"new"}
    attempts = [(a.worker.name, a.token, a.status) for a in OnboardingAgent.select()]
    if database.is_sqlite:  # no writing CTE: the batch inserts the attempts itself (onboarding_starts.py)
        assert ids.started == {} and attempts == []
        return
    (attempt,) = OnboardingAgent.select()
    assert ids.started == {"new": (attempt.id, "token-new")}
    assert attempts == [("new", "token-new", "in_task")]
    again = call(database, worker_ids_many, pool.queries, "crowd_test", ["new"], utcnow(), tests)
    assert again.started == {} and OnboardingAgent.select().count() == 1  # found, not added: nothing started


def test_a_batch_notes_each_grant_for_a_provider_whose_platform_has_qualifications(database, make_pool):
    pool = make_pool(rows=4, onboarding=True)
    provider = pool.ctx.provider

    class Granting(type(provider)):  # type: ignore[misc]
        def grant_qualification(self, worker: Any, name: str, value: int) -> None:
            raise AssertionError("the pool only notes grants; the operator tells the platform later")

    provider.__class__ = Granting
    taken = _tests_taken(database, pool, "alice", "bob", "carol")
    jobs = [(taken[n].agent_id, f"key-{n}", {"answer": a}, []) for n, a in (("alice", "yes"), ("bob", "no"))]
    results = call(database, OnboardingGroup(pool).run_together, jobs)
    name = pool.ctx.onboarding_qualification
    qualification_id = Qualification.get(Qualification.name == name).id
    grants = [grant for result in results for grant in result[0].platform_grants]
    noted = [(g.worker.name, g.qualification, g.qualification_id, g.value) for g in grants]
    assert noted == [("alice", name, qualification_id, 1), ("bob", name, qualification_id, 0)]
    usual = call(database, OnboardingGroup(pool).run_one, taken["carol"].agent_id, "key-carol", {"answer": "yes"}, [])
    assert [(g.worker.name, g.value) for g in usual.platform_grants] == [("carol", 1)]


def test_new_workers_tests_and_submitted_tests_share_one_round_trip_on_postgresql(database, make_pool, monkeypatch):
    """In a run's arrivals each batch held new workers' first hellos, tests submitted and hellos of workers who
    passed: three round trips at 11 ms from the database, now two (the claim apart)."""
    pool = make_pool(rows=4, onboarding=True)
    taken = _tests_taken(database, pool, "alice", "bob", "carol")
    group = PoolGroup(pool)
    carol = (ONBOARDING, taken["carol"].agent_id, "key-carol", {"answer": "yes"}, [])
    assert call(database, group.run_together, [carol]) == [(Submitted("key-carol", "onboarding_passed"),)]
    call(database, pool.queries.statements)  # the run's statements made once (PostgreSQL reads a sequence's name)
    jobs = [
        (HELLO, {"worker_id": "new-1"}, None, None),
        (ONBOARDING, taken["alice"].agent_id, "key-alice", {"answer": "yes"}, []),
        (HELLO, {"worker_id": "new-2"}, None, None),
        (ONBOARDING, taken["bob"].agent_id, "key-bob", {"answer": "no"}, []),
        (HELLO, {"worker_id": "carol"}, None, None),  # passed before this batch: a unit
    ]
    sent = statements_sent(database, monkeypatch)
    results = call(database, group.run_together, jobs)
    monkeypatch.undo()
    answers = [result[0] for result in results]
    assert [a.is_onboarding for a in (answers[0], answers[2])] == [True, True]
    assert answers[1] == Submitted("key-alice", "onboarding_passed")
    assert answers[3] == Submitted("key-bob", "onboarding_failed")
    assert isinstance(answers[4], Assigned) and not answers[4].is_onboarding
    assert _stored(pool, ["alice", "bob"]) == [
        ("alice", "approved", {"answer": "yes"}, True, 1, ["onboarding_pass"]),
        ("bob", "rejected", {"answer": "no"}, True, 0, ["onboarding_fail"]),
    ]
    for name, answer in (("new-1", answers[0]), ("new-2", answers[2])):
        attempt = OnboardingAgent.get_by_id(answer.agent_id)
        assert (attempt.worker.name, attempt.status, attempt.token) == (name, "in_task", answer.token)
    if database.is_sqlite:
        return
    # the new workers with their tests and the tests submitted; the claim (carol's pass was seen here)
    assert len(sent) == 2, sent
    assert '"moved"' in sent[0] and '"started"' in sent[0], sent[0]


def test_without_new_workers_the_submitted_tests_are_stored_in_a_statement_of_their_own(
    database, make_pool, monkeypatch
):
    pool = make_pool(rows=4, onboarding=True)
    taken = _tests_taken(database, pool, "alice", "bob")
    group = PoolGroup(pool)
    jobs = [(ONBOARDING, t.agent_id, f"key-{n}", {"answer": "yes"}, []) for n, t in taken.items()]
    results = call(database, group.run_together, jobs)
    assert [r[0] for r in results] == [Submitted(f"key-{n}", "onboarding_passed") for n in taken]
    assert all(a.status == "approved" for a in OnboardingAgent.select())


def test_a_lone_first_hello_in_a_run_with_a_test_starts_it_together(database, make_pool, monkeypatch):
    """The usual way took four round trips for a new worker's first hello on PostgreSQL (its standing, its row,
    its attempt, the commit)."""
    pool = make_pool(rows=4, onboarding=True)
    group = PoolGroup(pool)
    call(database, pool.queries.statements)
    group.hellos.run_one = lambda *args: pytest.fail("the usual way")  # type: ignore[method-assign]
    sent = statements_sent(database, monkeypatch)
    (result,) = call(database, group.run_together, [(HELLO, {"worker_id": "ann"}, None, None)])
    monkeypatch.undo()
    test = result[0]
    assert isinstance(test, Assigned) and test.is_onboarding
    assert OnboardingAgent.get_by_id(test.agent_id).worker.name == "ann"
    assert len(sent) == (3 if database.is_sqlite else 1), sent


def test_a_claim_that_fails_after_the_new_workers_statement_keeps_its_answers(database, make_pool, monkeypatch):
    """On PostgreSQL the new workers' statement commits on its own: when the claim after it fails, the tests it
    started and stored are answered (else the usual way would start each new worker a second test, and answer a
    stored test as a replay, telling the platform nothing); the claim's hellos run the usual way."""
    pool = make_pool(rows=4, onboarding=True)
    taken = _tests_taken(database, pool, "alice", "carol")
    group = PoolGroup(pool)
    carol = (ONBOARDING, taken["carol"].agent_id, "key-carol", {"answer": "yes"}, [])
    assert call(database, group.run_together, [carol]) == [(Submitted("key-carol", "onboarding_passed"),)]

    def failing(*args: Any) -> Any:
        raise pw.OperationalError("the server closed the connection")

    monkeypatch.setattr(pool_groups, "claim_many", failing)
    jobs = [
        (HELLO, {"worker_id": "new-1"}, None, None),
        (ONBOARDING, taken["alice"].agent_id, "key-alice", {"answer": "yes"}, []),
        (HELLO, {"worker_id": "carol"}, None, None),
    ]
    writer = DatabaseWriter(database)
    answers = asyncio.run(_in_one_batch(writer, group, jobs))
    test, alice, unit = answers
    assert isinstance(test, Assigned) and test.is_onboarding
    assert alice == Submitted("key-alice", "onboarding_passed")  # not a replay
    assert isinstance(unit, Assigned) and not unit.is_onboarding  # the usual way claimed it
    # on SQLite, one transaction, the group's savepoint undid it all and the usual way did it again: once too
    assert OnboardingAgent.select().join(Worker).where(Worker.name == "new-1").count() == 1
