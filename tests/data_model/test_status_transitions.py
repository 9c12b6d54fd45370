"""Every legal status change is allowed and every other one refused, in the rules and in the database."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from data_model_rows import RowFactory

from mephisto_core.data_model import (
    Agent,
    AgentStatus,
    Database,
    OnboardingAgent,
    Unit,
    UnitStatus,
    check_agent_transition,
    check_unit_transition,
)
from mephisto_core.data_model.statuses import AGENT_TRANSITIONS, UNIT_TRANSITIONS
from mephisto_core.data_model.transitions import (
    set_agent_status,
    set_unit_status,
    try_set_agent_status,
    try_set_unit_status,
)
from mephisto_core.errors import IllegalTransition, NotFound

U, A = UnitStatus, AgentStatus

# The lifecycle as the design describes it, written out independently of the code's table.
LEGAL_UNIT_MOVES: set[tuple[UnitStatus, UnitStatus]] = {
    (U.CREATED, U.LAUNCHED),
    (U.CREATED, U.EXPIRED),
    (U.LAUNCHED, U.ASSIGNED),
    (U.LAUNCHED, U.EXPIRED),
    (U.ASSIGNED, U.COMPLETED),
    (U.ASSIGNED, U.LAUNCHED),  # the agent left; the unit is offered again
    (U.ASSIGNED, U.EXPIRED),
    (U.COMPLETED, U.ACCEPTED),
    (U.COMPLETED, U.REJECTED),
    (U.COMPLETED, U.SOFT_REJECTED),
    (U.REJECTED, U.ACCEPTED),  # a rejection may be overturned
    (U.EXPIRED, U.LAUNCHED),  # a resumed run offers expired units again
}
LEGAL_AGENT_MOVES: set[tuple[AgentStatus, AgentStatus]] = {
    (A.IN_TASK, A.COMPLETED),
    (A.IN_TASK, A.DISCONNECTED),
    (A.IN_TASK, A.TIMED_OUT),
    (A.IN_TASK, A.RETURNED),
    (A.IN_TASK, A.EXPIRED),
    (A.COMPLETED, A.APPROVED),
    (A.COMPLETED, A.REJECTED),
    (A.COMPLETED, A.SOFT_REJECTED),
    (A.REJECTED, A.APPROVED),
}
ALL_UNIT_MOVES = list(itertools.product(UnitStatus, UnitStatus))
ALL_AGENT_MOVES = list(itertools.product(AgentStatus, AgentStatus))


def _move_id(move: tuple[str, str]) -> str:
    return f"{move[0]}->{move[1]}"


def test_the_unit_table_is_the_documented_lifecycle() -> None:
    table = {(src, tgt) for src, targets in UNIT_TRANSITIONS.items() for tgt in targets}
    assert table == LEGAL_UNIT_MOVES
    assert set(UNIT_TRANSITIONS) == set(UnitStatus)


def test_the_agent_table_is_the_documented_lifecycle() -> None:
    table = {(src, tgt) for src, targets in AGENT_TRANSITIONS.items() for tgt in targets}
    assert table == LEGAL_AGENT_MOVES
    assert set(AGENT_TRANSITIONS) == set(AgentStatus)


def _assert_names_the_move(message: str, src: str, tgt: str, allowed: set[str]) -> None:
    assert repr(src) in message and repr(tgt) in message
    if allowed:
        assert all(status in message for status in allowed)
    else:
        assert "final status" in message


@pytest.mark.parametrize("move", ALL_UNIT_MOVES, ids=_move_id)
def test_unit_transition_rule(move: tuple[UnitStatus, UnitStatus]) -> None:
    src, tgt = move
    if move in LEGAL_UNIT_MOVES:
        check_unit_transition(src.value, tgt.value)
        return
    with pytest.raises(IllegalTransition) as refused:
        check_unit_transition(src.value, tgt.value)
    allowed = {t.value for s, t in LEGAL_UNIT_MOVES if s == src}
    _assert_names_the_move(str(refused.value), src.value, tgt.value, allowed)


@pytest.mark.parametrize("move", ALL_AGENT_MOVES, ids=_move_id)
def test_agent_transition_rule(move: tuple[AgentStatus, AgentStatus]) -> None:
    src, tgt = move
    if move in LEGAL_AGENT_MOVES:
        check_agent_transition(src.value, tgt.value)
        return
    with pytest.raises(IllegalTransition) as refused:
        check_agent_transition(src.value, tgt.value)
    allowed = {t.value for s, t in LEGAL_AGENT_MOVES if s == src}
    _assert_names_the_move(str(refused.value), src.value, tgt.value, allowed)


@pytest.mark.parametrize(
    ("check", "current", "target", "unknown", "a_valid_status"),
    [
        (check_unit_transition, "launched", "paused", "paused", "soft_rejected"),
        (check_unit_transition, "Launched", "assigned", "Launched", "expired"),
        (check_agent_transition, "in_task", "finished", "finished", "timed_out"),
        (check_agent_transition, "", "completed", "''", "approved"),
    ],
)
def test_unknown_status_names_are_refused_with_the_valid_ones(
    check: Callable[[str, str], None], current: str, target: str, unknown: str, a_valid_status: str
) -> None:
    with pytest.raises(IllegalTransition) as refused:
        check(current, target)
    message = str(refused.value)
    assert unknown in message
    assert a_valid_status in message


@pytest.mark.parametrize("source", list(UnitStatus), ids=str)
def test_set_unit_status_moves_only_along_the_lifecycle(
    database: Database, rows: RowFactory, source: UnitStatus
) -> None:
    with database.write():
        assignment = rows.assignment()
        units = {tgt: rows.unit(assignment, index=i, status=source) for i, tgt in enumerate(UnitStatus)}
    for target, unit in units.items():
        if (source, target) in LEGAL_UNIT_MOVES:
            with database.write():
                set_unit_status(unit.id, target)
            assert Unit.get_by_id(unit.id).status == target
        else:
            with pytest.raises(IllegalTransition, match=f"'{source}' to '{target}'"), database.write():
                set_unit_status(unit.id, target)
            assert Unit.get_by_id(unit.id).status == source


@pytest.mark.parametrize("source", list(AgentStatus), ids=str)
def test_set_agent_status_moves_only_along_the_lifecycle(
    database: Database, rows: RowFactory, source: AgentStatus
) -> None:
    with database.write():
        agents = {tgt: rows.agent(status=source.value) for tgt in AgentStatus}
    for target, agent in agents.items():
        if (source, target) in LEGAL_AGENT_MOVES:
            with database.write():
                set_agent_status(agent.id, target)
            assert Agent.get_by_id(agent.id).status == target
        else:
            with pytest.raises(IllegalTransition, match=f"'{source}' to '{target}'"), database.write():
                set_agent_status(agent.id, target)
            assert Agent.get_by_id(agent.id).status == source


def test_onboarding_agents_follow_the_agent_lifecycle(database: Database, rows: RowFactory) -> None:
    with database.write():
        run = rows.task_run()
        onboarding = OnboardingAgent.create(worker=rows.worker(), task=run.task, task_run=run, token="t-1")
        set_agent_status(onboarding.id, AgentStatus.COMPLETED, onboarding=True, outputs={"answer": 4})
    stored = OnboardingAgent.get_by_id(onboarding.id)
    assert (stored.status, stored.outputs) == (AgentStatus.COMPLETED, {"answer": 4})
    with pytest.raises(IllegalTransition), database.write():
        set_agent_status(onboarding.id, AgentStatus.IN_TASK, onboarding=True)


def test_set_unit_status_writes_the_extra_fields(database: Database, rows: RowFactory) -> None:
    with database.write():
        unit = rows.unit(status=UnitStatus.LAUNCHED)
        worker = rows.worker()
        set_unit_status(unit.id, UnitStatus.ASSIGNED, worker=worker, agent_id=42)
    stored = Unit.get_by_id(unit.id)
    assert (stored.status, stored.worker_id, stored.agent_id) == (UnitStatus.ASSIGNED, worker.id, 42)


def test_changing_a_missing_unit_or_agent_says_it_does_not_exist(database: Database) -> None:
    with pytest.raises(NotFound, match="unit 424242"), database.write():
        set_unit_status(424242, UnitStatus.LAUNCHED)
    with pytest.raises(NotFound, match="agent 424242"), database.write():
        set_agent_status(424242, AgentStatus.COMPLETED)


def test_try_set_reports_a_lost_race_without_changing_anything(database: Database, rows: RowFactory) -> None:
    with database.write():
        unit = rows.unit(status=UnitStatus.ASSIGNED)
        agent = rows.agent(unit, status=AgentStatus.COMPLETED.value)
        assert try_set_unit_status(unit.id, UnitStatus.LAUNCHED, UnitStatus.ASSIGNED) is False
        assert try_set_agent_status(agent.id, AgentStatus.IN_TASK, AgentStatus.COMPLETED) is False
        assert try_set_unit_status(unit.id, UnitStatus.ASSIGNED, UnitStatus.COMPLETED) is True
    assert Unit.get_by_id(unit.id).status == UnitStatus.COMPLETED
    assert Agent.get_by_id(agent.id).status == AgentStatus.COMPLETED


def test_try_set_refuses_an_illegal_move_even_when_the_unit_is_in_the_source(
    database: Database, rows: RowFactory
) -> None:
    with database.write():
        unit = rows.unit(status=UnitStatus.ACCEPTED)
    with pytest.raises(IllegalTransition, match="'accepted' to 'launched'"), database.write():
        try_set_unit_status(unit.id, UnitStatus.ACCEPTED, UnitStatus.LAUNCHED)
    assert Unit.get_by_id(unit.id).status == UnitStatus.ACCEPTED
