"""Group commit at moderate load: the writer waits a moment for more jobs only when the arrival rate says they come."""

from __future__ import annotations

import asyncio
import time

import pytest

from mephisto_core.data_model import Database, Worker
from mephisto_core.operations.run import db_writer
from mephisto_core.operations.run.db_writer import ArrivalRate, DatabaseWriter


def add_worker(name: str) -> int:
    worker_id: int = Worker.create(provider_type="test", name=name).id
    return worker_id


def test_the_rate_follows_batches_over_the_time_between_them() -> None:
    rate = ArrivalRate()
    now = 100.0
    rate.took(1, now)
    for _ in range(60):  # two jobs every millisecond: 2,000 a second
        now += 0.001
        rate.took(2, now)
    assert rate.per_second == pytest.approx(2000, rel=0.01)
    assert rate.expects_more_within(0.002)
    for _ in range(60):  # then one job a second
        now += 1.0
        rate.took(1, now)
    assert rate.per_second == pytest.approx(1, rel=0.05)
    assert not rate.expects_more_within(0.002)


def test_a_first_batch_or_a_clock_standing_still_leaves_the_rate_alone() -> None:
    rate = ArrivalRate()
    rate.took(5, 10.0)
    rate.took(5, 10.0)
    assert rate.per_second == 0.0
    assert not rate.expects_more_within(0.002)


async def two_jobs_apart(writer: DatabaseWriter, gap_s: float) -> list[int]:
    first = asyncio.ensure_future(writer.call(add_worker, "first"))
    await asyncio.sleep(gap_s)
    second = asyncio.ensure_future(writer.call(add_worker, "second"))
    return list(await asyncio.gather(first, second))


def test_at_a_high_rate_a_job_arriving_while_the_writer_lingers_shares_the_commit(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_writer, "LINGER_S", 0.5)  # generous: the second job comes 20 ms after the first
    writer = DatabaseWriter(database)
    writer._arrivals.per_second = 1000.0  # as after a busy stretch
    writer.start()
    try:
        ids = asyncio.run(two_jobs_apart(writer, 0.02))
    finally:
        writer.stop()
    assert writer.batches == 1
    assert sorted(ids) == sorted(w.id for w in Worker.select())


def test_a_lone_worker_is_not_kept_waiting(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db_writer, "LINGER_S", 5.0)  # a wait, if there were one, would show
    writer = DatabaseWriter(database)
    writer.start()
    try:
        started = time.perf_counter()
        ids = asyncio.run(two_jobs_apart(writer, 0.05))
        elapsed = time.perf_counter() - started
    finally:
        writer.stop()
    assert writer.batches == 2
    assert len(ids) == 2
    assert elapsed < 5.0
