"""The worker pool's "nothing to offer" hint (`_NoUnitsHint`) and the run's `offers` counter: units offered on
another thread (on PostgreSQL the launch's chunks and the tick's offers run on the side connection) drop a hint
taken from a read that missed them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pool_helpers import call

from mephisto_core.operations.run.operator import Operator
from mephisto_core.operations.run.replies import Refusal
from mephisto_core.operations.run.side_connection import SideConnection

pytestmark = pytest.mark.usefixtures("test_types")


def test_offered_moves_the_counter_to_a_number_it_never_had(make_pool: Any) -> None:
    ctx = make_pool(rows=1).ctx
    seen = {ctx.offers}
    for _ in range(5):
        ctx.offered()
        assert ctx.offers not in seen
        seen.add(ctx.offers)


def test_a_hint_from_a_read_during_which_units_were_offered_does_not_hold(database: Any, make_pool: Any) -> None:
    pool = make_pool(rows=1)
    queries = pool.queries

    def nothing(offered_meanwhile: bool) -> tuple[bool, bool]:
        if offered_meanwhile:  # another thread offers units and commits them while this read runs
            pool.ctx.offered()
        return False, True  # nothing offered, work left: the read saw none of them

    queries.offer_state = lambda: nothing(False)
    refusal = call(database, pool.nothing_to_offer)
    assert refusal.reason == Refusal.NO_UNITS
    assert pool.refusal_for_all() == refusal  # remembered: the next hellos are refused without a read
    pool.ctx.offered()
    assert pool.refusal_for_all() is None
    queries.offer_state = lambda: nothing(True)
    assert call(database, pool.nothing_to_offer).reason == Refusal.NO_UNITS
    assert pool.refusal_for_all() is None  # the units offered meanwhile are not hidden behind the hint


def test_units_offered_beside_the_writer_move_offers_again_once_committed(
    database: Any, make_pool: Any, mephisto_settings: Any
) -> None:
    """An offer on the side connection moves `offers` inside its transaction; a hint the writer takes from a read
    before that commit must not outlive it, so `offers` moves again after the commit."""
    pool = make_pool(rows=1)
    operator = Operator(mephisto_settings, database)
    operator.ctx = pool.ctx
    inside: list[int] = []

    def offer() -> None:
        pool.ctx.offered()
        inside.append(pool.ctx.offers)

    async def scenario() -> None:
        operator.writer.start()
        operator._side = SideConnection(database)
        try:
            await operator._tick_write(offer)
        finally:
            await operator._side.close()
            operator.writer.stop()

    asyncio.run(scenario())
    if database.is_sqlite:  # on the writer: its hints are taken in order with its jobs
        assert pool.ctx.offers == inside[0]
    else:
        assert pool.ctx.offers != inside[0]
