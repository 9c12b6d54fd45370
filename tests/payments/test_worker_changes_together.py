"""Changes to many workers (a bulk grant, revoke, block, unblock) read and record together: the workers, the
platforms to tell and their grants read in a few statements for all before any platform is told, and the changes
the platforms answered together written in one statement per table, with the same rows as one by one (each
statement is a round trip to a database on another machine: a bulk grant to 100 workers took 22 s 11 ms away).
SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import sql_log

from mephisto_core.data_model import Database, GrantedQualification, Qualification, Review, ReviewKind
from mephisto_core.data_model.qualifications import (
    BLOCK_DESCRIPTION,
    BLOCK_QUALIFICATION,
    grant_qualification,
    granted_value,
)
from mephisto_core.errors import MephistoError
from mephisto_core.operations.review import worker_changes
from mephisto_core.operations.review.actions import ReviewActions
from mephisto_core.settings import Settings
from mephisto_core.testing.runs import SubmittedRun

WORKERS = 12


@pytest.fixture
def run(make_submitted_run: Callable[..., SubmittedRun]) -> SubmittedRun:
    return make_submitted_run(WORKERS, provider_type="paytest", workers=[f"w{i}" for i in range(WORKERS)])


def _grants(name: str) -> dict[int, GrantedQualification]:
    query = GrantedQualification.select().join(Qualification).where(Qualification.name == name)
    return {int(grant.worker_id): grant for grant in query}


@pytest.mark.usefixtures("calls_answered_together")
def test_grants_answered_together_are_written_in_one_statement_per_table_with_the_same_rows(
    database: Database, mephisto_settings: Settings, run: SubmittedRun, caplog: pytest.LogCaptureFixture
) -> None:
    actions = ReviewActions(database, mephisto_settings, reviewer="ana")
    units = run.units

    results, statements = sql_log.statements(
        caplog, lambda: actions.change_workers([actions.grant_change(u.worker_id, "screened", 2, u.id) for u in units])
    )

    assert not [r for r in results if isinstance(r, MephistoError)]
    assert len(sql_log.writes(statements, "qualification")) == 1  # created once, for all
    assert len(sql_log.writes(statements, "granted_qualification")) == 1
    assert len(sql_log.writes(statements, "review")) == 1
    qualification = Qualification.get(Qualification.name == "screened")
    assert {worker: grant.value for worker, grant in _grants("screened").items()} == {u.worker_id: 2 for u in units}
    for unit, outcomes in zip(units, results, strict=True):
        assert isinstance(outcomes, list) and outcomes
        records = list(Review.select().where(Review.worker == unit.worker_id).order_by(Review.id))
        grant, *platform = records
        assert (grant.kind, grant.unit_id, grant.qualification_id, grant.qualification_value, grant.reviewer) == (
            ReviewKind.GRANT.value,
            unit.id,
            qualification.id,
            2,
            "ana",
        )
        assert [(r.kind, r.qualification_id, r.feedback) for r in platform] == [
            (ReviewKind.PLATFORM.value, qualification.id, outcome.sentence()) for outcome in outcomes
        ]

    # Granted again: the same value leaves `updated_at` alone, a new one moves it.
    before = _grants("screened")
    again = [actions.grant_change(u.worker_id, "screened", 3 if i % 2 else 2) for i, u in enumerate(units)]
    actions.change_workers(again)
    after = _grants("screened")
    for index, unit in enumerate(units):
        moved = after[unit.worker_id].updated_at != before[unit.worker_id].updated_at
        assert (after[unit.worker_id].value, moved) == ((3, True) if index % 2 else (2, False))
        assert after[unit.worker_id].granted_at == before[unit.worker_id].granted_at

    _, statements = sql_log.statements(
        caplog, lambda: actions.change_workers([actions.revoke_change(u.worker_id, "screened") for u in units])
    )
    assert _grants("screened") == {}
    assert len(sql_log.writes(statements, "granted_qualification")) == 1
    revokes = Review.select().where(Review.kind == ReviewKind.REVOKE.value)
    assert sorted(r.worker_id for r in revokes) == sorted(u.worker_id for u in units)
    assert {(r.qualification_id, r.qualification_value) for r in revokes} == {(None, None)}


@pytest.mark.usefixtures("calls_answered_together")
def test_blocks_together_create_the_block_with_its_description_and_unblocks_lift_them(
    database: Database, mephisto_settings: Settings, run: SubmittedRun
) -> None:
    actions = ReviewActions(database, mephisto_settings, reviewer="ana")
    ids = [unit.worker_id for unit in run.units]

    assert not [
        r
        for r in actions.change_workers([actions.block_change(i, "copied answers") for i in ids])
        if isinstance(r, MephistoError)
    ]

    assert Qualification.get(Qualification.name == BLOCK_QUALIFICATION).description == BLOCK_DESCRIPTION
    assert all(actions.is_blocked(i) for i in ids)
    blocks = list(Review.select().where(Review.kind == ReviewKind.BLOCK.value))
    assert sorted(r.worker_id for r in blocks) == sorted(ids)
    assert {(r.feedback, r.qualification_id, r.unit_id) for r in blocks} == {("copied answers", None, None)}
    platform = Review.select().where(Review.kind == ReviewKind.PLATFORM.value)
    assert platform.count() >= len(ids) and {r.qualification_id for r in platform} == {None}

    actions.change_workers([actions.unblock_change(i) for i in ids])
    assert not any(actions.is_blocked(i) for i in ids)
    assert Review.select().where(Review.kind == ReviewKind.UNBLOCK.value).count() == len(ids)


@pytest.mark.usefixtures("calls_answered_together")
def test_a_worker_changed_twice_in_one_bulk_ends_as_its_last_change(
    database: Database, mephisto_settings: Settings, run: SubmittedRun
) -> None:
    actions = ReviewActions(database, mephisto_settings)
    first, second = run.units[0].worker_id, run.units[1].worker_id
    changes = [
        actions.grant_change(first, "screened", 1),
        actions.grant_change(second, "screened", 1),
        actions.grant_change(first, "screened", 5),
    ]

    assert not [r for r in actions.change_workers(changes) if isinstance(r, MephistoError)]

    assert (granted_value(first, "screened"), granted_value(second, "screened")) == (5, 1)
    grants = Review.select().where((Review.kind == ReviewKind.GRANT.value) & (Review.worker == first))
    assert [r.qualification_value for r in grants.order_by(Review.id)] == [1, 5]


@pytest.mark.usefixtures("calls_answered_together")
def test_a_change_that_cannot_be_written_with_the_others_is_refused_alone(
    database: Database, mephisto_settings: Settings, run: SubmittedRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    unlucky = run.units[4].worker_id
    grant = worker_changes._grant

    def failing_with_it(ids: dict[str, int], grants: list[worker_changes.LocalChange]) -> None:
        grant(ids, grants)  # written, then undone with the savepoint
        if any(change.worker_id == unlucky for change in grants):
            raise OSError("disk full")

    monkeypatch.setattr(worker_changes, "_grant", failing_with_it)
    actions = ReviewActions(database, mephisto_settings)

    results = actions.change_workers([actions.grant_change(u.worker_id, "screened") for u in run.units])

    (refused,) = [r for r in results if isinstance(r, MephistoError)]
    assert results.index(refused) == 4 and "could not be stored (OSError: disk full)" in str(refused)
    assert set(_grants("screened")) == {u.worker_id for u in run.units} - {unlucky}
    assert unlucky not in {r.worker_id for r in Review.select()}


@dataclass
class _Prepared:
    read: list[str]  # the statements of `workers_read_together`
    per_worker: list[str]  # the statements of the checks and changes made inside it
    blocked: list[bool]
    requesters: dict[int, list[str]]  # the requesters each worker's change tells, in order


def _read_and_prepare(
    actions: ReviewActions, run: SubmittedRun, count: int, caplog: pytest.LogCaptureFixture
) -> _Prepared:
    ids = [unit.worker_id for unit in run.units[:count]]
    with caplog.at_level(logging.DEBUG, logger="peewee"):
        caplog.clear()
        with actions.workers_read_together(ids, (BLOCK_QUALIFICATION,)):
            read = [r.getMessage() for r in caplog.records if r.name == "peewee"]
            caplog.clear()
            blocked = [actions.is_blocked(worker_id) for worker_id in ids]
            changes = [actions.block_change(worker_id, "spam") for worker_id in ids]
            per_worker = [r.getMessage() for r in caplog.records if r.name == "peewee"]
    requesters = {change.worker.id: [target.requester_name for target in change.targets] for change in changes}
    return _Prepared(read, per_worker, blocked, requesters)


def test_changes_to_workers_read_together_send_no_statement_per_worker(
    database: Database,
    mephisto_settings: Settings,
    make_submitted_run: Callable[..., SubmittedRun],
    caplog: pytest.LogCaptureFixture,
) -> None:
    run = make_submitted_run(WORKERS, provider_type="paytest", workers=[f"w{i}" for i in range(WORKERS)])
    make_submitted_run(3, provider_type="paytest", workers=["w0", "w1", "w2"], requester_name="other-lab")
    actions = ReviewActions(database, mephisto_settings)
    assert not isinstance(
        actions.change_workers([actions.block_change(run.units[0].worker_id, "spam")])[0], MephistoError
    )

    few = _read_and_prepare(actions, run, 3, caplog)
    many = _read_and_prepare(actions, run, WORKERS, caplog)

    assert few.per_worker == [] and many.per_worker == []
    assert few.read and len(many.read) == len(few.read) <= 8, "\n".join(many.read)
    assert many.blocked == [True] + [False] * (WORKERS - 1)
    # A worker is told through each requester they worked for, the newest run's first.
    first_requester = run.run.requester.name
    for index, unit in enumerate(run.units):
        expected = ["other-lab", first_requester] if index < 3 else [first_requester]
        assert many.requesters[unit.worker_id] == expected


def test_what_is_read_together_serves_only_the_thread_inside(
    database: Database, mephisto_settings: Settings, run: SubmittedRun
) -> None:
    # The review app answers other requests in other threads while a bulk runs: they read the database.
    actions = ReviewActions(database, mephisto_settings)
    worker_id = run.units[0].worker_id
    seen_elsewhere: list[bool] = []
    with actions.workers_read_together([worker_id], (BLOCK_QUALIFICATION,)):
        with database.write():
            grant_qualification(worker_id, BLOCK_QUALIFICATION)  # after the read: this thread is not told
        other = threading.Thread(target=lambda: seen_elsewhere.append(actions.is_blocked(worker_id)))
        other.start()
        other.join(10)
        assert actions.is_blocked(worker_id) is False
    assert seen_elsewhere == [True]
    assert actions.is_blocked(worker_id) is True  # outside, read again
