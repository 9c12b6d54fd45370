"""In-run platform sync (`CrowdProvider.sync_interval_seconds`): work returned at the platform frees its unit at
once, a submission there is stored (never over one stored here), live-but-unknown work is withdrawn, and a failing
sync never stops the run.

A test provider whose "platform" is the `Platform` state below, which each test flips while a real operator runs
with a real router, real WebSocket pages and real SQLite; the safety rules against a live pool are checked on the
worker pool directly.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest
from pool_helpers import call, hello
from socket_page import Page, run_with_operator

from mephisto_core.abstractions import CrowdProvider, DriftKind, UnitDrift, WorkerIdentity
from mephisto_core.data_model import Agent, AgentStatus, TaskRun, Unit, UnitStatus
from mephisto_core.hookspecs import hookimpl
from mephisto_core.operations.run.platform_sync_loop import apply_live_drifts, snapshot
from mephisto_core.operations.run.reconcile import RECONCILIATION_LOG
from mephisto_core.operations.run.replies import Assigned
from mephisto_core.task_config import load_task_config

pytestmark = pytest.mark.usefixtures("test_types")

INTERVAL = 0.2


class Platform:
    """What the platform says; the test changes it while the run goes on."""

    returned: set[int] = set()  # units whose worker returned the work there (reported once)
    submitted: dict[int, tuple[str, dict[str, Any]]] = {}  # unit id -> (worker, outputs) submitted there
    unknown: list[str] = []  # ids of work live there that the database has no unit for
    failures_left = 0  # the next syncs that fail (the platform is down)
    syncs = 0
    withdrawn: list[str | None] = []
    asked_about: set[str] = set()  # the statuses of the units the in-run syncs handed the provider

    @classmethod
    def reset(cls) -> None:
        cls.returned, cls.submitted, cls.unknown, cls.withdrawn = set(), {}, [], []
        cls.failures_left = cls.syncs = 0
        cls.asked_about = set()


class SyncedProvider(CrowdProvider):
    """Reports `Platform`'s state for the units it is asked about, every INTERVAL seconds during the run."""

    type_name: ClassVar[str] = "sync_loop_test"
    default_requester_name: ClassVar[str | None] = "TEST_REQUESTER"
    publishes_units: ClassVar[bool] = False
    sync_interval_seconds: ClassVar[float | None] = INTERVAL
    idempotent_calls: ClassVar[frozenset[str]] = frozenset()  # a failed sync waits for the next interval
    in_run_sync_units: ClassVar[Literal["held", "open"]] = "open"  # it reports work submitted for any unit

    def identify_worker(self, params: Any) -> WorkerIdentity:
        return WorkerIdentity(params.get("worker_id"))

    def reconcile_units(self, run: TaskRun, units: Sequence[Unit]) -> list[UnitDrift]:
        Platform.syncs += 1
        if Platform.failures_left:
            Platform.failures_left -= 1
            raise ConnectionError("the platform is down")
        drifts = []
        Platform.asked_about.update(unit.status for unit in units)
        for unit in units:
            if unit.id in Platform.returned and unit.status == UnitStatus.ASSIGNED.value:
                Platform.returned.discard(unit.id)
                drifts.append(UnitDrift(DriftKind.ABANDONED_THERE, unit.id, f"HIT-{unit.id}"))
            if unit.id in Platform.submitted:
                worker, outputs = Platform.submitted[unit.id]
                drifts.append(UnitDrift(DriftKind.SUBMITTED_THERE, unit.id, f"HIT-{unit.id}", worker, outputs))
        drifts += [UnitDrift(DriftKind.UNKNOWN_HERE, None, hit) for hit in Platform.unknown]
        return drifts

    def expire_units(self, units: Sequence[Unit]) -> None:
        Platform.withdrawn += [unit.provider_unit_id for unit in units]
        Platform.unknown = [hit for hit in Platform.unknown if hit not in Platform.withdrawn]


class _Plugin:
    @hookimpl
    def mephisto_register_providers(self, register: Any) -> None:
        register(SyncedProvider)


@pytest.fixture
def synced_task(mephisto_register_plugin: Any, task_file: Any) -> Callable[..., Any]:
    """`synced_task(**task_args)`: a loaded echo task on the syncing provider."""
    mephisto_register_plugin(_Plugin())
    Platform.reset()

    def make(**task: Any) -> Any:
        path: Path = task_file(**task)
        path.write_text(path.read_text().replace('type = "crowd_test"', 'type = "sync_loop_test"'))
        return load_task_config(path)

    return make


async def until(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def synced_lines(run_dir: Path) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in (run_dir / RECONCILIATION_LOG).read_text().splitlines()]
    return [line for line in lines if line["phase"] == "during run"]


def test_a_unit_returned_at_the_platform_is_freed_and_offered_again_within_the_interval(
    database, mephisto_settings, synced_task, monkeypatch
):
    monkeypatch.setattr(SyncedProvider, "in_run_sync_units", "held")  # as MTurk and Prolific

    async def scenario(url: str) -> None:
        alice = await Page.open(url)
        held = await alice.hello("alice", None)
        assert held["type"] == "assigned"
        await asyncio.sleep(INTERVAL * 2)  # a few syncs with nothing to say change nothing
        assert Agent.get_by_id(held["agent_id"]).status == AgentStatus.IN_TASK
        Platform.returned.add(held["unit_id"])
        returned_at = time.monotonic()
        # Alice's page is told at once, as for any lost unit (the assignment lasts an hour here).
        assert await alice.push() == {"type": "status", "status": "returned"}
        assert time.monotonic() - returned_at < INTERVAL + 1.5
        bob = await Page.open(url)
        offered = await bob.hello("bob", None)
        assert offered["type"] == "assigned" and offered["unit_id"] == held["unit_id"]
        late = await alice.submit("alice-key-1", "too late", agent_id=held["agent_id"])
        assert late["code"] == "gone" and late["message"] == "You returned this unit."
        stored = await bob.submit("bob-key-1", "mine", agent_id=offered["agent_id"])
        assert stored["type"] == "submitted"
        await alice.ws.close()
        await bob.ws.close()

    stats = run_with_operator(database, mephisto_settings, synced_task(rows=3), scenario)
    alice, bob = Agent.select().order_by(Agent.id)
    assert (alice.status, bob.status) == (AgentStatus.RETURNED, AgentStatus.COMPLETED)
    # The syncs asked about the held unit only (the run's other two stayed offered): `in_run_sync_units`.
    assert Platform.asked_about == {UnitStatus.ASSIGNED.value}
    assert bob.outputs == {"answer": "mine"} and alice.outputs is None
    (line,) = synced_lines(mephisto_settings.runs_dir / str(stats.run_id))
    assert [(d["kind"], d["unit_id"], d["action"]) for d in line["drifts"]] == [
        ("abandoned_there", alice.unit_id, "freed: returned, offered again")
    ]


def test_a_failing_sync_is_logged_tried_again_and_never_stops_the_run(database, mephisto_settings, synced_task, caplog):
    caplog.set_level(logging.WARNING, logger="mephisto_core.operations.run.platform_sync_loop")
    Platform.failures_left = 3

    async def scenario(url: str) -> None:
        alice = await Page.open(url)
        held = await alice.hello("alice", None)
        Platform.returned.add(held["unit_id"])
        # Three syncs fail; the fourth frees the unit. Meanwhile pages are served as ever.
        other = await Page.open(url)
        second = await other.hello("carol", None)
        assert second["type"] == "assigned"
        assert await alice.push() == {"type": "status", "status": "returned"}
        assert Platform.syncs >= 4 and Platform.failures_left == 0
        stored = await other.submit("carol-key-1", "still served", agent_id=second["agent_id"])
        assert stored["type"] == "submitted"
        await alice.ws.close()
        await other.ws.close()

    run_with_operator(database, mephisto_settings, synced_task(rows=2), scenario)
    failures = [r.message for r in caplog.records if "in-run sync with provider sync_loop_test failed" in r.message]
    assert len(failures) == 3 and "ConnectionError: the platform is down" in failures[0]
    assert "trying again in 0.2 s" in failures[0]


def test_work_submitted_there_is_stored_and_work_unknown_here_is_withdrawn(database, mephisto_settings, synced_task):
    async def scenario(url: str) -> None:
        await until(lambda: Platform.syncs >= 1)
        unit_id = Unit.select(Unit.id).order_by(Unit.id).scalar()
        Platform.submitted[unit_id] = ("wanda", {"answer": "from there"})
        Platform.unknown.append("HIT-stray")
        await until(lambda: Unit.get_by_id(unit_id).status == UnitStatus.COMPLETED.value)
        await until(lambda: Platform.withdrawn == ["HIT-stray"])
        # The unit is done: nobody is offered it any more.
        page = await Page.open(url)
        other = await page.hello("dave", None)
        assert other["type"] == "assigned" and other["unit_id"] != unit_id
        await page.ws.close()

    run_with_operator(database, mephisto_settings, synced_task(rows=2), scenario)
    assert UnitStatus.LAUNCHED.value in Platform.asked_about  # every open unit: `in_run_sync_units = "open"`
    (stored,) = Agent.select().where(Agent.status == AgentStatus.COMPLETED.value)
    assert stored.worker.name == "wanda" and stored.outputs == {"answer": "from there"}
    assert Platform.withdrawn == ["HIT-stray"]


# ---- the safety rules against a live pool (the worker pool driven directly) -------------------------------


def test_a_submission_stored_here_after_the_platform_was_asked_is_never_overwritten(database, make_pool):
    pool = make_pool(rows=1)
    alice = hello(database, pool, "alice")
    assert isinstance(alice, Assigned)
    taken = call(database, snapshot, pool.ctx.run.id, "held")
    call(database, pool.submit, alice.agent_id, False, "alice-key-1", {"answer": "mine"}, [])
    drift = UnitDrift(DriftKind.SUBMITTED_THERE, alice.unit_id, "HIT-1", "wanda", {"answer": "theirs"})
    outcome = call(database, apply_live_drifts, pool, taken, [drift])
    (applied,) = outcome.applied
    assert applied.action == "not stored: the unit is completed here"
    assert Agent.get_by_id(alice.agent_id).outputs == {"answer": "mine"}
    assert Agent.select().count() == 1


def test_a_return_reported_for_an_earlier_holder_does_not_free_the_unit_from_its_new_worker(database, make_pool):
    pool = make_pool(rows=1)
    alice = hello(database, pool, "alice")
    taken = call(database, snapshot, pool.ctx.run.id, "held")
    # Alice's page went away here meanwhile, and Bob took the unit.
    call(database, pool.release_agent, alice.agent_id, AgentStatus.DISCONNECTED)
    bob = hello(database, pool, "bob")
    assert isinstance(bob, Assigned) and bob.unit_id == alice.unit_id
    outcome = call(
        database, apply_live_drifts, pool, taken, [UnitDrift(DriftKind.ABANDONED_THERE, alice.unit_id, "HIT-1")]
    )
    assert [a.action for a in outcome.applied] == ["kept: someone else holds it here since the platform was asked"]
    assert outcome.returned_agents == []
    assert Agent.get_by_id(bob.agent_id).status == AgentStatus.IN_TASK


def test_a_sync_asks_about_the_held_units_or_every_open_one_as_the_provider_says(database, make_pool):
    pool = make_pool(rows=3)
    alice = hello(database, pool, "alice")
    held = call(database, snapshot, pool.ctx.run.id, "held")
    assert [unit.id for unit in held.units] == [alice.unit_id] and held.holders == {alice.unit_id: alice.agent_id}
    every = call(database, snapshot, pool.ctx.run.id, "open")
    assert len(every.units) == 3 and {u.status for u in every.units} == {"assigned", "launched"}


def test_a_held_unit_returned_there_is_released_through_the_pool(database, make_pool):
    pool = make_pool(rows=1)
    alice = hello(database, pool, "alice")
    offers = pool.ctx.offers
    taken = call(database, snapshot, pool.ctx.run.id, "held")
    drift = UnitDrift(DriftKind.ABANDONED_THERE, alice.unit_id, "HIT-1")
    outcome = call(database, apply_live_drifts, pool, taken, [drift])
    assert outcome.returned_agents == [alice.agent_id]
    assert Agent.get_by_id(alice.agent_id).status == AgentStatus.RETURNED
    assert Unit.get_by_id(alice.unit_id).status == UnitStatus.LAUNCHED.value
    assert pool.ctx.offers == offers + 1  # the pool's "nothing to offer" hint is dropped
    # Reported again (a platform slow to forget it): nothing more happens.
    again = call(database, apply_live_drifts, pool, call(database, snapshot, pool.ctx.run.id, "held"), [drift])
    assert [a.action for a in again.applied] == ["kept: the platform was not asked about it (launched here)"]
