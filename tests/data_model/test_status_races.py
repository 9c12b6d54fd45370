"""Many threads claiming the same unit: the conditional UPDATE lets exactly one win, on both databases."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from data_model_rows import RowFactory

from mephisto_core.data_model import Agent, AgentStatus, Database, Unit, UnitStatus
from mephisto_core.data_model.transitions import try_set_agent_status, try_set_unit_status

CLAIMANTS = 12


def _run_together(database: Database, attempts: list[Callable[[], bool]]) -> list[bool]:
    """Run every attempt in its own thread, all released at once; each uses its own connection."""
    start = threading.Barrier(len(attempts))

    def attempt(index: int) -> bool:
        start.wait()
        try:
            with database.write():
                return attempts[index]()
        finally:
            database.db.close()  # this thread's connection; peewee keeps one per thread

    with ThreadPoolExecutor(max_workers=len(attempts)) as pool:
        return list(pool.map(attempt, range(len(attempts))))


def test_exactly_one_thread_claims_a_launched_unit(database: Database, rows: RowFactory) -> None:
    with database.write():
        unit = rows.unit(status=UnitStatus.LAUNCHED)
        workers = [rows.worker() for _ in range(CLAIMANTS)]

    def claim_for(worker_id: int) -> Callable[[], bool]:
        return lambda: try_set_unit_status(unit.id, UnitStatus.LAUNCHED, UnitStatus.ASSIGNED, worker=worker_id)

    won = _run_together(database, [claim_for(w.id) for w in workers])

    assert won.count(True) == 1
    winner = workers[won.index(True)]
    stored = Unit.get_by_id(unit.id)
    assert (stored.status, stored.worker_id) == (UnitStatus.ASSIGNED, winner.id)


def test_exactly_one_of_submit_and_timeout_wins_for_an_agent(database: Database, rows: RowFactory) -> None:
    with database.write():
        agent = rows.agent()
    targets = [AgentStatus.COMPLETED, AgentStatus.TIMED_OUT] * (CLAIMANTS // 2)

    def move_to(target: AgentStatus) -> Callable[[], bool]:
        return lambda: try_set_agent_status(agent.id, AgentStatus.IN_TASK, target)

    won = _run_together(database, [move_to(t) for t in targets])

    assert won.count(True) == 1
    assert Agent.get_by_id(agent.id).status == targets[won.index(True)]


def test_every_unit_of_an_assignment_goes_to_a_different_claimant(database: Database, rows: RowFactory) -> None:
    # Claimants walk the launched units in the same order and keep the first they win, as a worker pool does.
    with database.write():
        assignment = rows.assignment()
        units = [rows.unit(assignment, index=i, status=UnitStatus.LAUNCHED) for i in range(3)]
        workers = [rows.worker() for _ in range(CLAIMANTS)]

    def first_free_unit_for(worker_id: int) -> Callable[[], bool]:
        def claim() -> bool:
            return any(
                try_set_unit_status(u.id, UnitStatus.LAUNCHED, UnitStatus.ASSIGNED, worker=worker_id) for u in units
            )

        return claim

    won = _run_together(database, [first_free_unit_for(w.id) for w in workers])

    assert won.count(True) == len(units)
    holders = [Unit.get_by_id(u.id).worker_id for u in units]
    assert len(set(holders)) == len(units)
    assert set(holders) == {w.id for w, ok in zip(workers, won, strict=True) if ok}
