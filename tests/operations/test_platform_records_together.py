"""The `platform` records of automatic grants (onboarding, screening, gold) told to a paid platform are stored a
writer batch at a time (`platform_grants.PlatformRecords`): at a study's opening they come in hundreds, and each
was a writer job of its own, a round trip each on PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mephisto_core.abstractions.platform_sync import PlatformOutcome
from mephisto_core.data_model import Database, Qualification, Review, ReviewKind, Worker
from mephisto_core.operations.run import platform_grants
from mephisto_core.operations.run.db_writer import DatabaseWriter

pytestmark = pytest.mark.usefixtures("test_types")


def _outcomes(database: Database, count: int) -> tuple[list[int], int]:
    with database.write():
        workers = [Worker.create(provider_type="grant_test", name=f"w{i}").id for i in range(count)]
        qualification = Qualification.create(name="echo-onboarding").id
    return workers, qualification


async def _recorded(writer: DatabaseWriter, workers: list[int], qualification: int, outcome: PlatformOutcome) -> None:
    """Record an outcome for each worker, all queued before the writer starts (so that they share a batch)."""
    tasks = [asyncio.ensure_future(platform_grants.record(writer, outcome, w, qualification)) for w in workers]
    await asyncio.sleep(0)
    writer.start()
    try:
        await asyncio.gather(*tasks)
    finally:
        writer.stop()


def test_a_batchs_platform_records_are_one_statement(database: Database, sent: list[str]) -> None:
    workers, qualification = _outcomes(database, 20)
    outcome = PlatformOutcome("grant_test", "TEST_REQUESTER", "grant echo-onboarding=1", "done")
    asyncio.run(_recorded(DatabaseWriter(database), workers, qualification, outcome))
    records = list(Review.select().where(Review.kind == ReviewKind.PLATFORM.value).order_by(Review.worker))
    assert [(r.worker_id, r.qualification_id, r.reviewer, r.feedback) for r in records] == [
        (w, qualification, platform_grants.REVIEWER, outcome.sentence()) for w in sorted(workers)
    ]
    if not database.is_sqlite:  # one round trip for the twenty, where each took its own
        assert len([sql for sql in sent if 'INSERT INTO "review"' in sql]) == 1, sent


def test_a_record_that_cannot_be_stored_raises_to_its_caller(database: Database) -> None:
    workers, _ = _outcomes(database, 1)
    outcome = PlatformOutcome("grant_test", "TEST_REQUESTER", "grant echo-onboarding=1", "done")
    with pytest.raises(Exception) as failed:  # a qualification that does not exist: the foreign key refuses it
        asyncio.run(_recorded(DatabaseWriter(database), workers, 10_000, outcome))
    assert "foreign key" in str(failed.value).lower()
    assert Review.select().where(Review.kind == ReviewKind.PLATFORM.value).count() == 0


def test_push_records_each_grants_outcome(database: Database) -> None:
    """Through `push`, as the operator calls it: the platform told, each outcome recorded."""
    workers, qualification = _outcomes(database, 3)
    told: list[tuple[str, str, int]] = []

    class Platform:
        type_name = "grant_test"
        requester_name = "TEST_REQUESTER"

        def grant_qualification(self, worker: Worker, name: str, value: int) -> None:
            told.append((worker.name, name, value))

    class Calls:
        provider = Platform()

        async def call(self, fn: Any, *args: Any) -> Any:
            return fn(*args)

    grants = [platform_grants.PlatformGrant(Worker.get_by_id(w), "echo-onboarding", qualification, 1) for w in workers]

    async def pushed() -> None:
        writer = DatabaseWriter(database)
        writer.start()
        try:
            await platform_grants.push(Calls(), writer, grants)  # type: ignore[arg-type]
        finally:
            writer.stop()

    asyncio.run(pushed())
    assert told == [(f"w{i}", "echo-onboarding", 1) for i in range(3)]
    assert Review.select().where(Review.kind == ReviewKind.PLATFORM.value).count() == 3
