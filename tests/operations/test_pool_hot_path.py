"""The worker pool's per-unit statements (`data_model.pool_sql`): the same answers on every database and SQLite
version, reused submit keys, and the remembered "nothing to offer" answer."""

from __future__ import annotations

import time

import pytest
from pool_helpers import call, hello, rows_read, statements_run

from mephisto_core.data_model import Agent, AgentStatus, Unit, UnitStatus
from mephisto_core.data_model import pool_sql as pool_sql_module
from mephisto_core.errors import DatabaseError
from mephisto_core.operations.run import worker_pool as worker_pool_module
from mephisto_core.operations.run.launcher import TaskLauncher
from mephisto_core.operations.run.replies import Assigned, Failure, Refusal, Refused, Submitted

pytestmark = pytest.mark.usefixtures("test_types")


def refused_for(result: object, reason: Refusal) -> bool:
    return isinstance(result, Refused) and result.reason == reason


@pytest.mark.parametrize("returning", [True, False], ids=["returning", "select-then-update"])
def test_claims_hand_out_every_unit_once_and_never_two_of_one_assignment(
    sqlite_database, mephisto_settings, task_file, monkeypatch, returning
):
    # SQLite before 3.35 has no RETURNING: the claim is then a SELECT and the same conditional UPDATE.
    monkeypatch.setattr(pool_sql_module, "SQLITE_HAS_RETURNING", returning)
    from pool_helpers import build_pool

    database = sqlite_database
    pool = build_pool(database, mephisto_settings, task_file(architect="null_test", rows=3, units_per_assignment=2))
    taken: dict[str, list[int]] = {"alice": [], "bob": []}
    for turn in range(3):
        for name in taken:
            got = hello(database, pool, name)
            assert isinstance(got, Assigned), (turn, name, got)
            assert got.init_data["unit_index"] in (0, 1)
            taken[name].append(Unit.get_by_id(got.unit_id).assignment_id)
            ack = call(database, pool.submit, got.agent_id, False, f"key-{name}-{turn}", {"answer": name}, [])
            assert ack == Submitted(f"key-{name}-{turn}")
    assert sorted(taken["alice"]) == sorted(set(taken["alice"])) == sorted(taken["bob"])
    assert refused_for(hello(database, pool, "carol"), Refusal.RUN_OVER)
    assert {u.status for u in Unit.select()} == {UnitStatus.COMPLETED}
    assert all(u.agent_id == Agent.get(Agent.unit == u.id).id for u in Unit.select())


def test_a_submit_key_used_for_another_unit_is_refused_and_the_unit_stays_open(database, make_pool):
    pool = make_pool(rows=2)
    alice, bob = hello(database, pool, "alice"), hello(database, pool, "bob")
    first = call(database, pool.submit, alice.agent_id, False, "shared-key-1", {"answer": "a"}, [])
    assert isinstance(first, Submitted)
    reused = call(database, pool.submit, bob.agent_id, False, "shared-key-1", {"answer": "b"}, [])
    assert isinstance(reused, Failure) and reused.code == "bad_message" and "submit_key" in reused.text
    agent = Agent.get_by_id(bob.agent_id)
    assert (agent.status, agent.submit_key, agent.outputs) == (AgentStatus.IN_TASK, None, None)
    assert isinstance(call(database, pool.submit, bob.agent_id, False, "bob-own-key", {"answer": "b"}, []), Submitted)


def test_a_unit_offered_again_by_this_process_is_handed_out_at_once(database, make_pool):
    pool = make_pool(rows=1)
    alice = hello(database, pool, "alice")
    assert refused_for(hello(database, pool, "bob"), Refusal.NO_UNITS)  # remembered: nothing is offered
    assert call(database, pool.release_agent, alice.agent_id, AgentStatus.DISCONNECTED)
    bob = hello(database, pool, "bob")
    assert isinstance(bob, Assigned) and bob.unit_id == alice.unit_id


def test_nothing_to_offer_is_believed_for_a_moment_only(database, make_pool, monkeypatch):
    monkeypatch.setattr(worker_pool_module, "NO_UNITS_HINT_SECONDS", 2.0)
    pool = make_pool(rows=1)
    alice = hello(database, pool, "alice")
    assert refused_for(hello(database, pool, "bob"), Refusal.NO_UNITS)
    refused_at = time.monotonic()
    # Another process offers the unit again: this one goes on believing there is nothing while the hint holds.
    with database.write():
        Agent.update(status=AgentStatus.RETURNED.value).where(Agent.id == alice.agent_id).execute()
        Unit.update(status=UnitStatus.LAUNCHED.value, worker=None).where(Unit.id == alice.unit_id).execute()
    still = hello(database, pool, "bob")
    if time.monotonic() - refused_at < 1.5:  # a stalled machine may have outlived the hint already
        assert refused_for(still, Refusal.NO_UNITS)
    time.sleep(max(0.0, refused_at + 2.05 - time.monotonic()))
    bob = hello(database, pool, "bob")
    assert isinstance(bob, Assigned) and bob.unit_id == alice.unit_id


def test_a_worker_with_nothing_left_to_take_does_not_make_others_refused(database, make_pool, monkeypatch):
    monkeypatch.setattr(worker_pool_module, "NO_UNITS_HINT_SECONDS", 60.0)
    pool = make_pool(rows=1, units_per_assignment=2)
    alice = hello(database, pool, "alice")
    call(database, pool.submit, alice.agent_id, False, "key-alice-1", {"answer": "a"}, [])
    assert refused_for(hello(database, pool, "alice"), Refusal.NO_UNITS)  # only units of her assignment are left
    assert isinstance(hello(database, pool, "bob"), Assigned)


@pytest.mark.parametrize("database_target", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_statements_the_session_lost_give_a_clear_error_once_and_are_prepared_again(database, make_pool):
    # DISCARD ALL, or a pooler in transaction mode, drops a session's prepared statements.
    pool = make_pool(rows=2)
    assert isinstance(hello(database, pool, "alice"), Assigned)
    database.db.execute_sql("DEALLOCATE ALL")
    with pytest.raises(DatabaseError, match="pooler in session mode"):
        hello(database, pool, "bob")
    assert isinstance(hello(database, pool, "bob"), Assigned)


def test_the_pool_keeps_working_on_a_new_database_connection(database, make_pool):
    # PostgreSQL's prepared statements belong to a connection: a reconnect must prepare them again.
    pool = make_pool(rows=2)
    alice = hello(database, pool, "alice")
    database.db.close()
    database.db.connect()
    assert isinstance(call(database, pool.submit, alice.agent_id, False, "key-alice-1", {"answer": "a"}, []), Submitted)
    assert isinstance(hello(database, pool, "bob"), Assigned)


def test_run_over_is_not_remembered_while_the_launch_may_add_data(database, make_pool):
    # A limit, so new units wait as `created` until launch_available offers them (the test provider publishes
    # nothing per unit: without a limit they would be born offered).
    pool = make_pool(rows=1, max_num_concurrent_units=5)
    alice = hello(database, pool, "alice")
    call(database, pool.submit, alice.agent_id, False, "key-alice-1", {"answer": "a"}, [])
    assert refused_for(hello(database, pool, "bob"), Refusal.RUN_OVER)
    launcher = TaskLauncher(pool.ctx)
    call(database, launcher.create_assignments, [{"n": 1}])  # the next chunk of data, not offered yet
    assert refused_for(hello(database, pool, "bob"), Refusal.NO_UNITS)
    call(database, launcher.launch_available)
    assert isinstance(hello(database, pool, "bob"), Assigned)


def test_run_over_is_remembered_once_all_the_data_is_created(database, make_pool, monkeypatch):
    """The run's end, with 1,000 workers asking at once: once nothing more can come, the first refusal asks the
    database and the next ones, for NO_UNITS_HINT_SECONDS, do not."""
    monkeypatch.setattr(worker_pool_module, "NO_UNITS_HINT_SECONDS", 60.0)
    pool = make_pool(rows=1)
    alice = hello(database, pool, "alice")
    call(database, pool.submit, alice.agent_id, False, "key-alice-1", {"answer": "a"}, [])
    pool.ctx.all_created = True  # the feeder reached the end of the data
    assert refused_for(hello(database, pool, "bob"), Refusal.RUN_OVER)
    statements = statements_run(monkeypatch)
    assert refused_for(hello(database, pool, "carol"), Refusal.RUN_OVER)
    assert "offer_state" not in statements and "claim" not in statements, statements


def _work_of(database, fn):
    """Run `fn` in a write transaction; what the database did for it: unit rows read (PostgreSQL's per-transaction
    statistics) or virtual-machine steps (SQLite's progress handler, called every 10 steps)."""
    with database.write():
        if database.is_sqlite:
            steps = [0]

            def count() -> int:
                steps[0] += 10
                return 0  # go on

            connection = database.db.connection()
            connection.set_progress_handler(count, 10)
            try:
                result = fn()
            finally:
                connection.set_progress_handler(None, 0)
            return result, steps[0]
        before = rows_read(database, ("unit",)).get("unit", 0)
        result = fn()
        return result, rows_read(database, ("unit",)).get("unit", 0) - before


def test_a_claim_costs_no_more_for_a_worker_with_a_long_history(database, make_pool):
    """A hello that arrives alone claims one by one. Late in a long study a worker has had hundreds of units; the
    check "none of an assignment they already had" looks at the candidate unit's assignment, not at every unit
    they had in the run, so their claim costs what a newcomer's does."""
    pool = make_pool(rows=160)
    for round_ in range(150):
        first = hello(database, pool, "alice")
        assert isinstance(first, Assigned), round_
        assert isinstance(
            call(database, pool.submit, first.agent_id, False, f"a-{round_}", {"answer": "a"}, []), Submitted
        )
    newcomer, newcomer_work = _work_of(database, lambda: pool.register({"worker_id": "bob"}, None))
    veteran, veteran_work = _work_of(database, lambda: pool.register({"worker_id": "alice"}, None))
    assert isinstance(newcomer, Assigned) and isinstance(veteran, Assigned)
    # Without the per-assignment lookup the veteran's claim read all 150 of their units: 150 more rows on
    # PostgreSQL, over a thousand more steps on SQLite.
    allowance = 20 if not database.is_sqlite else 300
    assert veteran_work - newcomer_work < allowance, (veteran_work, newcomer_work)


def test_a_refusal_reads_a_few_units_however_many_the_run_has_moved_on(database, make_pool):
    """A hello with nothing to take asks whether the run has units offered or work left. Asked of a run whose 300
    units all moved on moments after their launch (their rows and index entries rewritten, no statistics yet),
    the answer reads a handful of rows: it probes each status through the (run, status) index."""
    pool = make_pool(rows=300)
    with database.write():
        Unit.update(status=UnitStatus.ASSIGNED).execute()
        Unit.update(status=UnitStatus.COMPLETED).execute()
    refused, work = _work_of(database, lambda: pool.register({"worker_id": "late"}, None))
    assert refused_for(refused, Refusal.RUN_OVER)
    # With one `status IN (...)` PostgreSQL read all 300 units through the index on the run alone. SQLite's
    # count is the steps of the whole hello (about 130); a scan of the run's units would take thousands.
    assert work < (10 if not database.is_sqlite else 400), work
