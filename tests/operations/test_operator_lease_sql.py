"""The operator leases of a run served by several processes: claims name their process, a dead process's agents
go back to the pool once, a live one's stay, and `--join` finds (or refuses) the run to serve. SQLite and
PostgreSQL (`database` runs on both), with real rows made by a real worker pool."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import peewee as pw
import pytest
from pool_helpers import call, hello

from mephisto_core.data_model import Agent, AgentStatus, Database, TaskRun, Unit, UnitStatus
from mephisto_core.data_model import operator_leases as leases
from mephisto_core.data_model.models import utcnow
from mephisto_core.data_model.operator_leases import OperatorLease
from mephisto_core.errors import ConfigError
from mephisto_core.operations.run import operator_lease
from mephisto_core.operations.run.replies import Assigned, Submitted
from mephisto_core.task_config import load_task_config

pytestmark = pytest.mark.usefixtures("test_types")

A, B = "host-a:101", "host-b:202"


def _claim_as(database: Database, pool: Any, owner: str, worker: str) -> Assigned:
    pool.queries.held_by = owner
    reply = hello(database, pool, worker)
    assert isinstance(reply, Assigned), reply
    return reply


def _held_by(database: Database, agent_id: int) -> str | None:
    with database.write():
        p = database.db.param
        row = database.db.execute_sql(f'SELECT "held_by" FROM "agent" WHERE "id" = {p}', (agent_id,)).fetchone()
    return None if row is None else row[0]


def _beat(database: Database, run_id: int, owner: str, seconds_ago: float = 0.0) -> None:
    call(database, leases.beat, run_id, owner, utcnow() - dt.timedelta(seconds=seconds_ago))


def test_a_claim_names_the_process_whose_page_holds_the_agent(database, make_pool):
    pool = make_pool()
    mine = _claim_as(database, pool, A, "w1")
    theirs = _claim_as(database, pool, B, "w2")
    assert _held_by(database, mine.agent_id) == A
    assert _held_by(database, theirs.agent_id) == B
    pool.queries.held_by = None  # a single process that names nobody still claims
    assert _held_by(database, _claim_as(database, pool, None, "w3").agent_id) is None  # type: ignore[arg-type]


def test_a_gold_unit_s_agent_names_its_process_and_goes_back_when_that_process_dies(database, make_pool, tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"inputs": {"n": 100}, "answers": {"answer": "g"}}\n')
    pool = make_pool(rows=3, gold={"data_jsonl": str(gold), "every": 1})
    got = _claim_as(database, pool, A, "w1")
    gold_unit = Unit.get_by_id(got.unit_id)
    assert gold_unit.unit_index < 0  # the worker's first unit is the gold one
    assert _held_by(database, got.agent_id) == A
    _beat(database, pool.ctx.run.id, A, seconds_ago=leases.LEASE_TIMEOUT_SECONDS + 5)
    assert call(database, leases.reclaim_expired, pool.ctx.run.id) == ([A], 1)
    assert Agent.get_by_id(got.agent_id).status != AgentStatus.IN_TASK
    assert Unit.get_by_id(gold_unit.id).status == UnitStatus.EXPIRED  # made for its worker alone


def test_a_dead_process_s_agents_go_back_to_the_pool_once_and_a_live_one_s_stay(database, make_pool):
    pool = make_pool(allowed_concurrent=0)
    run_id = pool.ctx.run.id
    dead = [_claim_as(database, pool, A, "w1"), _claim_as(database, pool, A, "w2")]
    alive = _claim_as(database, pool, B, "w3")
    _beat(database, run_id, A, seconds_ago=leases.LEASE_TIMEOUT_SECONDS + 5)
    _beat(database, run_id, B)

    assert call(database, leases.reclaim_expired, run_id) == ([A], 2)
    with database.write():
        for reply in dead:
            assert Agent.get_by_id(reply.agent_id).status == AgentStatus.DISCONNECTED
            unit = Unit.get_by_id(reply.unit_id)
            assert (unit.status, unit.worker_id, unit.agent_id) == (UnitStatus.LAUNCHED, None, None)
        assert Agent.get_by_id(alive.agent_id).status == AgentStatus.IN_TASK
        assert Unit.get_by_id(alive.unit_id).status == UnitStatus.ASSIGNED
        assert [lease.owner for lease in OperatorLease.select()] == [B]
    assert call(database, leases.reclaim_expired, run_id) == ([], 0)  # done once
    # The returned units are claimed again, by anyone.
    again = {_claim_as(database, pool, B, name).unit_id for name in ("w4", "w5")}
    assert again == {reply.unit_id for reply in dead}


def test_a_fresh_lease_is_not_reclaimed_and_a_submitted_unit_is_never_taken_back(database, make_pool):
    pool = make_pool(allowed_concurrent=0)
    run_id = pool.ctx.run.id
    held = _claim_as(database, pool, A, "w1")
    done = _claim_as(database, pool, A, "w2")
    assert call(database, pool.submit, done.agent_id, False, "key-12345678", {"answer": "yes"}, []) == Submitted(
        "key-12345678"
    )
    _beat(database, run_id, A)
    assert call(database, leases.reclaim_expired, run_id) == ([], 0)
    _beat(database, run_id, A, seconds_ago=leases.LEASE_TIMEOUT_SECONDS + 1)
    assert call(database, leases.reclaim_expired, run_id) == ([A], 1)
    with database.write():
        assert Unit.get_by_id(done.unit_id).status == UnitStatus.COMPLETED
        assert Agent.get_by_id(done.agent_id).status == AgentStatus.COMPLETED
        assert Unit.get_by_id(held.unit_id).status == UnitStatus.LAUNCHED


def test_two_processes_reclaiming_at_once_return_the_agents_once(database, make_pool):
    pool = make_pool(rows=6, allowed_concurrent=0)
    run_id = pool.ctx.run.id
    for i in range(5):
        _claim_as(database, pool, A, f"w{i}")
    _beat(database, run_id, A, seconds_ago=leases.LEASE_TIMEOUT_SECONDS + 5)
    results: list[Any] = []
    both_in = threading.Barrier(2) if not database.is_sqlite else None  # SQLite: one writer at a time anyway

    def reclaim() -> None:
        try:
            with database.write():  # each thread its own connection (and transaction), as another process has
                if both_in is not None:
                    both_in.wait(10)
                results.append(leases.reclaim_expired(run_id))
        finally:
            database.db.close()

    threads = [threading.Thread(target=reclaim) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [([], 0), ([A], 5)]


def test_a_take_over_watches_only_agents_no_live_process_holds(database, make_pool):
    pool = make_pool(allowed_concurrent=0)
    run_id = pool.ctx.run.id
    mine = _claim_as(database, pool, A, "w1")
    joined = _claim_as(database, pool, B, "w2")
    unnamed = _claim_as(database, pool, None, "w3")  # type: ignore[arg-type]
    _beat(database, run_id, B)
    expected = sorted([mine.agent_id, unnamed.agent_id])
    assert call(database, leases.orphaned_in_task_agents, run_id, A) == expected
    # Without live --join processes every in-task agent is the crash resume's, as for a single process.
    call(database, leases.drop, run_id, B)
    assert call(database, leases.orphaned_in_task_agents, run_id, A) == sorted([*expected, joined.agent_id])


def test_each_process_times_out_the_agents_it_holds_and_the_owner_those_no_live_process_holds(database, make_pool):
    pool = make_pool(rows=8, allowed_concurrent=0)
    run_id = pool.ctx.run.id
    dead, replaced = "host-c:303", "host-d:404"  # a lease not beaten for long; a previous owner, no lease at all
    agents = {
        name: _claim_as(database, pool, owner, f"w-{name}").agent_id  # type: ignore[arg-type]
        for name, owner in (("A", A), ("B", B), ("null", None), ("dead", dead), ("replaced", replaced))
    }
    recent = _claim_as(database, pool, B, "w-recent").agent_id  # within its time: nobody times it out
    _beat(database, run_id, A)
    _beat(database, run_id, B)
    _beat(database, run_id, dead, seconds_ago=leases.LEASE_TIMEOUT_SECONDS + 5)
    overdue = utcnow() - dt.timedelta(seconds=pool.ctx.config.task.assignment_duration_seconds + 60)
    call(database, lambda: Agent.update(started_at=overdue).where(Agent.id.in_(list(agents.values()))).execute())
    ids = {agent_id: name for name, agent_id in agents.items()}

    def past_deadline(*args: Any) -> set[str]:
        return {ids[agent_id] for agent_id in call(database, pool.agents_past_deadline, *args)}

    # The --join process B: only the one whose page is connected to it, not the owner's nor a NULL one.
    assert past_deadline(B, True) == {"B"}
    # The owner A: all but the one the live process B holds (a dead process's too, before or after its reclaim).
    assert past_deadline(A, False) == {"A", "null", "dead", "replaced"}
    # A process that asks for no holder (a single SQLite process): every overdue agent, as before leases.
    assert past_deadline() == set(agents)
    # B gone (left or reclaimed): its agents are the owner's to time out again.
    call(database, leases.drop, run_id, B)
    assert past_deadline(A, False) == set(agents)
    assert recent not in call(database, pool.agents_past_deadline)
    # Timing out is the conditional update: of the owner and a joined process racing, one wins.
    assert call(database, pool.release_agent, agents["B"], AgentStatus.TIMED_OUT)
    assert not call(database, pool.release_agent, agents["B"], AgentStatus.TIMED_OUT)
    assert past_deadline(B, True) == set()


def test_leaving_returns_what_the_process_held_and_drops_its_lease(database, make_pool):
    pool = make_pool(allowed_concurrent=0)
    run_id = pool.ctx.run.id
    mine = _claim_as(database, pool, B, "w1")
    other = _claim_as(database, pool, A, "w2")
    _beat(database, run_id, A)
    _beat(database, run_id, B)
    assert call(database, leases.held_count, run_id, B) == 1
    assert call(database, operator_lease.leave, run_id, B) == 1
    assert call(database, leases.held_count, run_id, B) == 0
    assert call(database, leases.live_owners, run_id) == [A]
    with database.write():
        assert Unit.get_by_id(mine.unit_id).status == UnitStatus.LAUNCHED
        assert Unit.get_by_id(other.unit_id).status == UnitStatus.ASSIGNED


def test_join_needs_a_run_with_a_live_owner(database, make_pool, task_file):
    pool = make_pool()
    run_id = pool.ctx.run.id
    config = load_task_config(Path(task_file(architect="null_test")))
    selection = call(database, operator_lease.join_run, config, B)  # build_pool's run, owned by "test:1" just now
    assert (selection.run.id, selection.previous_owner) == (run_id, "test:1")
    assert call(database, leases.live_owners, run_id) == [B]

    stale = utcnow() - dt.timedelta(seconds=60)
    call(database, lambda: TaskRun.update(heartbeat_at=stale).where(TaskRun.id == run_id).execute())
    with pytest.raises(operator_lease.NothingToJoinError, match=r"no live owner.*without --join"):
        call(database, operator_lease.join_run, config, B)
    call(database, lambda: TaskRun.update(is_completed=True).where(TaskRun.id == run_id).execute())
    with pytest.raises(operator_lease.NothingToJoinError, match=r"no unfinished run.*without --join"):
        call(database, operator_lease.join_run, config, B)


def test_join_refuses_sqlite_and_platform_providers():
    with pytest.raises(ConfigError, match="--join needs PostgreSQL"):
        operator_lease.check_can_join(pw.SqliteDatabase(":memory:"))
    operator_lease.check_can_join(pw.PostgresqlDatabase("unused"))  # nothing is connected to check
    with pytest.raises(ConfigError, match="cannot serve a task of provider 'mturk'"):
        operator_lease.check_provider_can_join("mturk", publishes_units=True)
    operator_lease.check_provider_can_join("mock", publishes_units=False)
