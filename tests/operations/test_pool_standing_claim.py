"""A known worker's hello on PostgreSQL: standing and claim in one statement, claiming only when the standing
leaves nothing to decide; every other answer is the one of the usual path (on SQLite, the usual path itself)."""

from __future__ import annotations

import pytest
from pool_helpers import call, hello, statements_run

from mephisto_core.data_model import Agent, AgentStatus, Unit, UnitStatus, Worker
from mephisto_core.data_model.qualifications import BLOCK_QUALIFICATION, grant_qualification
from mephisto_core.operations.run import worker_pool as worker_pool_module
from mephisto_core.operations.run.replies import Assigned, Refusal, Refused, Submitted

pytestmark = pytest.mark.usefixtures("test_types")


def test_a_known_workers_next_unit_takes_one_statement(database, make_pool, monkeypatch):
    pool = make_pool(rows=3)
    first = hello(database, pool, "alice")
    assert isinstance(first, Assigned)
    assert isinstance(call(database, pool.submit, first.agent_id, False, "alice-key-1", {"answer": "a"}, []), Submitted)
    names = statements_run(monkeypatch)
    second = hello(database, pool, "alice")
    assert isinstance(second, Assigned) and second.unit_id != first.unit_id
    expected = ["standing_claim"] if not database.is_sqlite else ["standing", "claim", "agent"]
    assert names == expected
    agent = Agent.get_by_id(second.agent_id)
    assert (agent.status, agent.token, agent.unit_id) == (AgentStatus.IN_TASK, second.token, second.unit_id)
    unit = Unit.get_by_id(second.unit_id)
    assert (unit.status, unit.agent_id, unit.worker_id) == (UnitStatus.ASSIGNED, second.agent_id, agent.worker_id)
    # PostgreSQL has no foreign keys for these two (migration 14): both claims copy them from the unit
    for claimed in (first, second):
        agent, unit = Agent.get_by_id(claimed.agent_id), Unit.get_by_id(claimed.unit_id)
        assert (agent.task_run_id, agent.assignment_id) == (unit.task_run_id, unit.assignment_id)
    assert second.init_data == pool.ctx.blueprint.init_data(pool.queries.agent_for_submit(second.agent_id).inputs, 0)


def test_a_held_unit_is_resumed_not_doubled_and_a_block_refuses(database, make_pool, monkeypatch):
    pool = make_pool(rows=3)
    first = hello(database, pool, "alice")
    again = hello(database, pool, "alice")  # the same unit, still held: the statement claimed nothing
    assert isinstance(again, Assigned) and again.agent_id == first.agent_id
    assert Agent.select().count() == 1
    bob = hello(database, pool, "bob")
    assert isinstance(call(database, pool.submit, bob.agent_id, False, "bob-key-1", {"answer": "b"}, []), Submitted)
    worker = Worker.get(Worker.name == "bob")
    call(database, grant_qualification, worker, BLOCK_QUALIFICATION, 1)
    names = statements_run(monkeypatch)
    refused = hello(database, pool, "bob")
    assert isinstance(refused, Refused) and refused.reason == Refusal.BLOCKED
    assert "claim" not in names
    assert Agent.select().where(Agent.worker == worker).count() == 1


def test_the_last_unit_then_the_usual_refusals(database, make_pool, monkeypatch):
    monkeypatch.setattr(worker_pool_module, "NO_UNITS_HINT_SECONDS", 0.0)  # each hello asks the database
    pool = make_pool(rows=2)
    alice = hello(database, pool, "alice")
    assert isinstance(call(database, pool.submit, alice.agent_id, False, "alice-key-1", {"answer": "a"}, []), Submitted)
    bob = hello(database, pool, "bob")
    assert isinstance(bob, Assigned)
    # Alice is known and holds nothing; the one launched unit is Bob's now: nothing to claim for her.
    nothing = hello(database, pool, "alice")
    assert isinstance(nothing, Refused) and nothing.reason == Refusal.NO_UNITS
    assert isinstance(call(database, pool.submit, bob.agent_id, False, "bob-key-1", {"answer": "b"}, []), Submitted)
    over = hello(database, pool, "alice")
    assert isinstance(over, Refused) and over.reason == Refusal.RUN_OVER
