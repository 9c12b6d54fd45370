"""The worker pool against a real database (SQLite and PostgreSQL): claims, limits, submissions, releases."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from pool_helpers import call, hello

from mephisto_core.data_model import Agent, AgentFile, AgentStatus, Unit, UnitStatus
from mephisto_core.operations.run.replies import Assigned, Failure, Preview, Refusal, Refused, Submitted

pytestmark = pytest.mark.usefixtures("test_types")


def test_new_worker_gets_a_unit_and_a_reload_returns_the_same_one(database, make_pool, mephisto_settings):
    pool = make_pool()
    first = hello(database, pool, "alice")
    assert isinstance(first, Assigned)
    assert first.init_data == {"n": 0, "unit_index": 0}
    again = hello(database, pool, "alice")
    assert isinstance(again, Assigned) and again.agent_id == first.agent_id
    by_token = hello(database, pool, "alice", first.token)
    assert isinstance(by_token, Assigned) and by_token.unit_id == first.unit_id
    assert Unit.get_by_id(first.unit_id).status == UnitStatus.ASSIGNED


def test_visitor_without_worker_id_sees_preview_and_bad_link_is_refused(database, make_pool, mephisto_settings):
    pool = make_pool()
    assert hello(database, pool, None) == Preview({"preview": True})
    refused = hello(database, pool, "")
    assert isinstance(refused, Refused) and refused.reason == Refusal.BAD_LINK
    assert refused.message(1)["message"] == "empty worker id"


def test_worker_never_gets_two_units_of_one_assignment(database, make_pool, mephisto_settings):
    pool = make_pool(rows=1, units_per_assignment=2)
    alice = hello(database, pool, "alice")
    assert isinstance(call(database, pool.submit, alice.agent_id, False, "key-alice-1", {"answer": "a"}, []), Submitted)
    refused = hello(database, pool, "alice")
    assert isinstance(refused, Refused) and refused.reason == Refusal.NO_UNITS
    bob = hello(database, pool, "bob")
    assert isinstance(bob, Assigned) and bob.unit_id != alice.unit_id


def test_allowed_concurrent_and_maximum_units_per_worker(database, make_pool, mephisto_settings):
    pool = make_pool(rows=5, allowed_concurrent=2, maximum_units_per_worker=3)
    a1, a2 = hello(database, pool, "alice"), hello(database, pool, "alice")
    assert isinstance(a1, Assigned) and isinstance(a2, Assigned) and a1.unit_id != a2.unit_id
    third = hello(database, pool, "alice")
    assert isinstance(third, Refused) and third.reason == Refusal.TOO_MANY_CONCURRENT
    call(database, pool.submit, a1.agent_id, False, "key-a1-xxxx", {"answer": "x"}, [])
    a3 = hello(database, pool, "alice")
    assert isinstance(a3, Assigned)
    call(database, pool.submit, a2.agent_id, False, "key-a2-xxxx", {"answer": "x"}, [])
    limit = hello(database, pool, "alice")
    assert isinstance(limit, Refused) and limit.reason == Refusal.MAX_UNITS_REACHED


def test_submit_is_stored_once_and_repeats_are_answered(database, make_pool, mephisto_settings):
    pool = make_pool()
    got = hello(database, pool, "alice")
    first = call(database, pool.submit, got.agent_id, False, "key-12345678", {"answer": "yes"}, [])
    assert first == Submitted("key-12345678")
    replay = call(database, pool.submit, got.agent_id, False, "key-12345678", {"answer": "changed"}, [])
    assert isinstance(replay, Submitted) and replay.replay
    other = call(database, pool.submit, got.agent_id, False, "key-other-123", {"answer": "no"}, [])
    assert isinstance(other, Failure) and other.code == "already_submitted"
    agent = Agent.get_by_id(got.agent_id)
    assert agent.outputs == {"answer": "yes"} and agent.status == AgentStatus.COMPLETED
    assert Unit.get_by_id(got.unit_id).status == UnitStatus.COMPLETED


def test_invalid_submission_is_refused_with_field_errors_and_nothing_stored(database, make_pool, mephisto_settings):
    pool = make_pool()
    got = hello(database, pool, "alice")
    refused = call(database, pool.submit, got.agent_id, False, "key-12345678", {"answer": ""}, [])
    assert isinstance(refused, Failure) and refused.code == "invalid_submission"
    assert refused.fields == {"answer": "This field is required."}
    agent = Agent.get_by_id(got.agent_id)
    assert agent.outputs is None and agent.status == AgentStatus.IN_TASK and agent.submit_key is None


def test_uploads_are_linked_only_to_the_agent_that_sent_them(database, make_pool, mephisto_settings):
    pool = make_pool()
    alice, bob = hello(database, pool, "alice"), hello(database, pool, "bob")
    stored = pool.uploads.save("upload-alice-1", alice.agent_id, "doc", "../../etc/passwd", "text/plain", b"data")
    assert stored.path.endswith("file/passwd") and ".." not in stored.path
    stolen = call(database, pool.submit, bob.agent_id, False, "key-bob-1234", {"answer": "b"}, ["upload-alice-1"])
    assert isinstance(stolen, Failure) and stolen.code == "unknown_upload"
    ok = call(database, pool.submit, alice.agent_id, False, "key-alice-12", {"answer": "a"}, ["upload-alice-1"])
    assert isinstance(ok, Submitted)
    (row,) = AgentFile.select().where(AgentFile.agent == alice.agent_id)
    assert (row.field, row.name, row.size) == ("doc", "../../etc/passwd", 4)
    assert (mephisto_settings.data_dir / row.path).read_bytes() == b"data"


def test_released_unit_goes_to_someone_else_and_the_late_submit_is_refused(database, make_pool, mephisto_settings):
    pool = make_pool(rows=1)
    alice = hello(database, pool, "alice")
    assert call(database, pool.release_agent, alice.agent_id, AgentStatus.TIMED_OUT)
    assert Unit.get_by_id(alice.unit_id).status == UnitStatus.LAUNCHED
    bob = hello(database, pool, "bob")
    assert isinstance(bob, Assigned) and bob.unit_id == alice.unit_id
    late = call(database, pool.submit, alice.agent_id, False, "key-late-123", {"answer": "a"}, [])
    assert isinstance(late, Failure) and late.code == "gone" and "time for this unit ran out" in late.text


def test_onboarding_pass_then_units_and_fail_then_never(database, make_pool, mephisto_settings):
    pool = make_pool(onboarding=True)
    first = hello(database, pool, "alice")
    assert isinstance(first, Assigned) and first.is_onboarding and first.init_data == {"question": "say yes"}
    passed = call(database, pool.submit, first.agent_id, True, "key-onb-alice", {"answer": "yes"}, [])
    assert passed.next == "onboarding_passed"
    unit = hello(database, pool, "alice")
    assert isinstance(unit, Assigned) and not unit.is_onboarding
    bob = hello(database, pool, "bob")
    failed = call(database, pool.submit, bob.agent_id, True, "key-onb-bob1", {"answer": "no"}, [])
    assert failed.next == "onboarding_failed"
    refused = hello(database, pool, "bob")
    assert isinstance(refused, Refused) and refused.reason == Refusal.NOT_QUALIFIED


def test_run_over_when_every_unit_is_done(database, make_pool, mephisto_settings):
    pool = make_pool(rows=1)
    alice = hello(database, pool, "alice")
    call(database, pool.submit, alice.agent_id, False, "key-12345678", {"answer": "a"}, [])
    over = hello(database, pool, "bob")
    assert isinstance(over, Refused) and over.reason == Refusal.RUN_OVER


def test_concurrent_registrations_never_share_a_unit(database, make_pool, mephisto_settings):
    pool = make_pool(rows=20)
    results: list[Any] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        for j in range(3):
            got = hello(database, pool, f"w{i}-{j}")
            with lock:
                results.append(got)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assigned = [r for r in results if isinstance(r, Assigned)]
    assert len(assigned) == 20
    assert len({r.unit_id for r in assigned}) == 20
    assert Agent.select().count() == 20
