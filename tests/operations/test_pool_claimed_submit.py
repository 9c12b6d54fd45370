"""A submission of an agent this process claimed is stored without reading the agent first; every answer stays
the one the full path gives (replays, invalid answers, gone, reused keys), and one statement fewer is run."""

from __future__ import annotations

import pytest
from pool_helpers import call, hello, statements_run

from mephisto_core.data_model import Agent, AgentStatus, Unit, UnitStatus
from mephisto_core.operations.run.replies import Assigned, Failure, Submitted

pytestmark = pytest.mark.usefixtures("test_types")


def test_a_claimed_unit_is_stored_without_reading_its_agent_and_a_resend_replays(database, make_pool, monkeypatch):
    pool = make_pool(rows=2)
    got = hello(database, pool, "alice")
    assert isinstance(got, Assigned)
    names = statements_run(monkeypatch)
    assert call(database, pool.submit, got.agent_id, False, "alice-key-1", {"answer": "a"}, []) == Submitted(
        "alice-key-1"
    )
    assert "agent_for_submit" not in names
    agent = Agent.get_by_id(got.agent_id)
    assert (agent.status, agent.submit_key, agent.outputs) == (AgentStatus.COMPLETED, "alice-key-1", {"answer": "a"})
    assert Unit.get_by_id(got.unit_id).status == UnitStatus.COMPLETED
    # The resend of the same submission: the full path answers it as a replay, and nothing is stored twice.
    names.clear()
    replay = call(database, pool.submit, got.agent_id, False, "alice-key-1", {"answer": "other"}, [])
    assert replay == Submitted("alice-key-1", replay=True)
    assert "agent_for_submit" in names
    assert Agent.get_by_id(got.agent_id).outputs == {"answer": "a"}
    again = call(database, pool.submit, got.agent_id, False, "alice-key-2", {"answer": "b"}, [])
    assert isinstance(again, Failure) and again.code == "already_submitted"


def test_invalid_answers_gone_agents_and_reused_keys_get_the_full_paths_answers(database, make_pool):
    pool = make_pool(rows=3)
    alice, bob, carol = (hello(database, pool, name) for name in ("alice", "bob", "carol"))
    invalid = call(database, pool.submit, alice.agent_id, False, "alice-key-1", {"answer": ""}, [])
    assert isinstance(invalid, Failure) and invalid.code == "invalid_submission"
    assert Agent.get_by_id(alice.agent_id).status == AgentStatus.IN_TASK
    assert isinstance(call(database, pool.submit, alice.agent_id, False, "alice-key-1", {"answer": "a"}, []), Submitted)

    call(database, lambda: Agent.update(status=AgentStatus.TIMED_OUT.value).where(Agent.id == bob.agent_id).execute())
    gone = call(database, pool.submit, bob.agent_id, False, "bob-key-1", {"answer": "b"}, [])
    assert isinstance(gone, Failure) and gone.code == "gone"

    reused = call(database, pool.submit, carol.agent_id, False, "alice-key-1", {"answer": "c"}, [])
    assert isinstance(reused, Failure) and reused.code == "bad_message" and "submit_key" in reused.text
    assert Agent.get_by_id(carol.agent_id).status == AgentStatus.IN_TASK
    assert isinstance(call(database, pool.submit, carol.agent_id, False, "carol-key-1", {"answer": "c"}, []), Submitted)


def test_a_remembered_claim_that_names_another_unit_stores_nothing(database, make_pool):
    # A claim whose transaction never committed leaves its memory behind, and SQLite may give the next agent the
    # same id: the statement checks the unit too, so such a memory can never complete another unit.
    pool = make_pool(rows=2)
    alice, bob = hello(database, pool, "alice"), hello(database, pool, "bob")
    pool._claimed[alice.agent_id] = (bob.unit_id, 0, {"n": 0})
    result = call(database, pool.submit, alice.agent_id, False, "alice-key-1", {"answer": "a"}, [])
    assert result == Submitted("alice-key-1")
    assert Unit.get_by_id(alice.unit_id).status == UnitStatus.COMPLETED
    assert Unit.get_by_id(bob.unit_id).status == UnitStatus.ASSIGNED
    assert Agent.get_by_id(bob.agent_id).status == AgentStatus.IN_TASK
