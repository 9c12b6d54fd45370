"""A page whose attempt is over is told so and never handed another unit in its place (real router, real socket)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from socket_page import Page, run_with_operator

from mephisto_core.data_model import Agent, AgentStatus, Assignment, Unit
from mephisto_core.task_config import load_task_config

pytestmark = pytest.mark.usefixtures("test_types")


def inputs_of(unit_id: int) -> dict[str, Any]:
    return dict(Assignment.get_by_id(Unit.get_by_id(unit_id).assignment_id).inputs)


def test_a_page_reconnecting_after_its_time_ran_out_is_told_expired_and_its_answer_is_stored_nowhere(
    database, mephisto_settings, task_file
):
    config = load_task_config(task_file(rows=2, assignment_duration_seconds=1))

    async def scenario(url: str) -> None:
        page = await Page.open(url)
        first = await page.hello("alice", None)
        assert first["type"] == "assigned" and 0 < first["seconds_left"] <= 1
        assert await page.push() == {"type": "status", "status": "timed_out"}
        await page.ws.close()
        # The page comes back with the token of the unit whose data it shows.
        back = await Page.open(url)
        told = await back.hello("alice", first["token"])
        assert told["type"] == "expired"
        assert (told["status"], told["agent_id"], told["unit_id"]) == ("timed_out", first["agent_id"], first["unit_id"])
        assert "time for this unit ran out" in told["message"]
        late = await back.submit("late-key-1", "answer for the first unit", agent_id=first["agent_id"])
        assert late["code"] == "gone" and "time for this unit ran out" in late["message"]
        # Saying the same token again changes nothing: still expired, still no unit.
        assert (await back.hello("alice", first["token"]))["type"] == "expired"
        assert (await back.submit("late-key-2", "again"))["code"] == "gone"
        await back.ws.close()

    run_with_operator(database, mephisto_settings, config, scenario)
    assert Agent.select().where(Agent.outputs.is_null(False)).count() == 0
    assert [a.status for a in Agent.select()] == [AgentStatus.TIMED_OUT]


def test_a_page_back_after_the_grace_period_gets_the_next_unit_only_when_it_asks_and_with_its_own_data(
    database, mephisto_settings, task_file
):
    config = load_task_config(task_file(rows=2, disconnect_grace_seconds=0.3))

    async def scenario(url: str) -> None:
        page = await Page.open(url)
        first = await page.hello("alice", None)
        assert first["init_data"]["n"] == inputs_of(first["unit_id"])["n"]
        await page.ws.close()
        for _ in range(100):  # the operator releases the unit once the grace period is over
            await asyncio.sleep(0.1)
            if Agent.get_by_id(first["agent_id"]).status == AgentStatus.DISCONNECTED:
                break
        back = await Page.open(url)
        told = await back.hello("alice", first["token"])
        assert (told["type"], told["status"]) == ("expired", "disconnected")
        assert (await back.submit("stale-key-1", "meant for the first unit"))["code"] == "gone"
        # The page asks for the next unit explicitly (no token) and draws it with that unit's own data.
        nxt = await back.hello("alice", None)
        assert nxt["type"] == "assigned" and nxt["token"] != first["token"]
        assert nxt["init_data"]["n"] == inputs_of(nxt["unit_id"])["n"]
        mismatched = await back.submit("wrong-page-1", "x", agent_id=first["agent_id"])
        assert mismatched["code"] == "not_your_unit"
        done = await back.submit("next-key-1", f"n={nxt['init_data']['n']}", agent_id=nxt["agent_id"])
        assert done["type"] == "submitted"
        await back.ws.close()

    run_with_operator(database, mephisto_settings, config, scenario)
    (stored,) = Agent.select().where(Agent.outputs.is_null(False))
    # The answer sits on the unit whose data the page showed when it was given.
    assert stored.outputs == {"answer": f"n={inputs_of(stored.unit_id)['n']}"}
    assert Agent.get(Agent.token != stored.token).outputs is None


def test_an_onboarding_page_that_reconnects_after_its_result_is_not_handed_a_unit(database, make_pool):
    from pool_helpers import call, hello

    from mephisto_core.operations.run.replies import Assigned, Refusal, Refused

    pool = make_pool(onboarding=True)
    onboarding = hello(database, pool, "alice")
    assert call(database, pool.submit, onboarding.agent_id, True, "onb-key-1", {"answer": "yes"}, []).next == (
        "onboarding_passed"
    )
    # The page still shows its result: its token names the onboarding test, now submitted, and no unit.
    again = hello(database, pool, "alice", onboarding.token)
    assert isinstance(again, Assigned) and again.is_onboarding and again.submitted and again.unit_id is None
    assert Agent.select().count() == 0
    # A failed test's token is told the refusal, exactly as a fresh hello would be.
    bob = hello(database, pool, "bob")
    assert call(database, pool.submit, bob.agent_id, True, "onb-key-2", {"answer": "no"}, []).next == (
        "onboarding_failed"
    )
    refused = hello(database, pool, "bob", bob.token)
    assert isinstance(refused, Refused) and refused.reason == Refusal.NOT_QUALIFIED
    assert "did not pass the qualification test" in refused.message(1)["message"]
