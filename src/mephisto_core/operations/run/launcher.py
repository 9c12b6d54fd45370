"""TaskLauncher: turn the blueprint's data into assignments and units, and offer units to workers.

All methods run on the database writer thread and never call the provider: for a provider that publishes units,
offering one records a publish intent (data_model/publishing.py) and `operations.run.publishing.Publisher` makes
the platform call off the writer thread, then moves the unit to `launched`.

Creation is bulk (executemany with ids reserved up front), so
100,000 units are created in seconds; launching respects `max_num_concurrent_units` by topping up the pool of
offered units whenever the operator ticks. When offering a unit is only its status change (no limit, and a
provider that publishes nothing per unit), units are created already `launched` and withdrawn in one UPDATE.

A stop withdraws only what was offered (`launched` -> `expired`); units never offered stay `created`. A resumed run
offers the withdrawn units first and then the rest, through the same limit, so a resume never publishes every
unit at once.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from typing import Any

import peewee as pw

from mephisto_core.data_model import Assignment, Unit, UnitStatus
from mephisto_core.data_model.bulk import db_datetime, insert_rows, json_text, reserve_ids
from mephisto_core.data_model.models import utcnow
from mephisto_core.data_model.publishing import IntentState, PublishIntent
from mephisto_core.data_model.statuses import check_unit_birth
from mephisto_core.data_model.transitions import move_run_units, move_units
from mephisto_core.data_model.unit_probes import statuses_present
from mephisto_core.data_model.withdrawn_units import withdrawn_for_good
from mephisto_core.operations.budget import offer_fits
from mephisto_core.operations.run.publishing import record_intents
from mephisto_core.operations.run.run_context import RunContext
from mephisto_core.operations.run.status_counts import StatusCounts

log = logging.getLogger(__name__)

CHUNK = 500


class TaskLauncher:
    """Creates a run's assignments and units once, then keeps the right number of them offered."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        #: the run's units per status (`status_counts`); `background_count` refreshes it off the writer
        self.counts = StatusCounts(self.count_by_status, functools.partial(statuses_present, ctx.run.id))

    def create_assignments(self, items: list[dict[str, Any]]) -> int:
        """Create one assignment per data item with `units_per_assignment` units each; returns units created.

        Callers pass the data in chunks (each chunk one transaction), so workers are served between chunks.
        """
        if not items:
            return 0
        run_id, task_id = self.ctx.run.id, self.ctx.task.id
        per = self.ctx.config.task.units_per_assignment
        pay = str(self.ctx.config.task.reward)
        born = UnitStatus.LAUNCHED if self._offer_on_creation() else UnitStatus.CREATED
        if born is UnitStatus.LAUNCHED and not offer_fits(self.ctx, len(items) * per):
            born = UnitStatus.CREATED  # past task.max_budget: created, offered when (if) it allows (budget.py)
        check_unit_birth(born.value)
        now = db_datetime(Unit, utcnow())
        assignment_ids = reserve_ids(Assignment, len(items))
        insert_rows(
            Assignment,
            ("id", "task_run_id", "inputs", "created_at"),
            [(aid, run_id, json_text(item), now) for aid, item in zip(assignment_ids, items, strict=True)],
        )
        insert_rows(
            Unit,
            (
                "assignment_id",
                "task_run_id",
                "task_id",
                "unit_index",
                "pay_amount",
                "status",
                "updated_at",
                "created_at",
            ),
            [
                (aid, run_id, task_id, index, pay, born.value, now, now)
                for aid in assignment_ids
                for index in range(per)
            ],
        )
        if born is UnitStatus.LAUNCHED:
            self.ctx.offered()
        self.counts.created(born.value, len(items) * per)
        return len(items) * per

    def _offering_is_a_status_change(self) -> bool:
        """Whether offering a unit is nothing but its status change: no limit on offered units, and a provider
        that publishes nothing per unit."""
        return not self.ctx.config.task.max_num_concurrent_units and not self.ctx.provider.publishes_units

    def _offer_on_creation(self) -> bool:
        """Whether new units are offered as they are created.

        Not once a stop began (`ctx.accepting` is False): a stop withdraws what is offered, and units created
        after it must wait for the next launch.
        """
        return self.ctx.accepting and self._offering_is_a_status_change()

    def assignments_created(self) -> int:
        """How many data items this run already has assignments for (gold units excluded)."""
        return int(
            Assignment.select(pw.fn.COUNT(Assignment.id))
            .where((Assignment.task_run == self.ctx.run) & Assignment.gold_index.is_null())
            .scalar()
            or 0
        )

    def launch_available(self) -> int:
        """Offer waiting units up to `max_num_concurrent_units` offered or held at once (all when 0); how many.

        Waiting units are those never offered (`created`) and, first, those an earlier stop of this run withdrew
        (`expired`, gold and screening units excepted): a resumed run offers them again under the same limit,
        a few at a time, rather than all at once.
        """
        if not self.ctx.accepting:
            return 0  # a stop began: nothing new is offered
        run = self.ctx.run
        limit = self.ctx.config.task.max_num_concurrent_units
        withdrawn = (
            Unit.select(Unit.id)
            .where((Unit.task_run == run) & (Unit.status == UnitStatus.EXPIRED.value) & (Unit.unit_index >= 0))
            .where(Unit.id.not_in(withdrawn_for_good()))  # e.g. a live conversation that went on without its worker
            .order_by(Unit.id)
        )
        if self._offering_is_a_status_change():
            never_offered = Unit.select().where((Unit.task_run == run) & (Unit.status == UnitStatus.CREATED.value))
            if not offer_fits(self.ctx, lambda: withdrawn.count() + never_offered.count()):
                return 0
            relaunched = move_units([uid for (uid,) in withdrawn.tuples()], UnitStatus.EXPIRED, UnitStatus.LAUNCHED)
            launched = move_run_units(run.id, [UnitStatus.CREATED], UnitStatus.LAUNCHED)
            self._moved(UnitStatus.EXPIRED, relaunched)
            self._moved(UnitStatus.CREATED, launched)
            return relaunched + launched
        # A unit whose publishing is under way (an open intent) is neither offered again nor counted as waiting.
        being_published = PublishIntent.select(PublishIntent.unit).where(
            (PublishIntent.task_run == run) & (PublishIntent.state == IntentState.PENDING.value)
        )
        withdrawn = withdrawn.where(Unit.id.not_in(being_published))
        created = (
            Unit.select(Unit.id)
            .where((Unit.task_run == run) & (Unit.status == UnitStatus.CREATED.value) & Unit.id.not_in(being_published))
            .order_by(Unit.id)
        )
        room: int | None = None
        if limit:
            active = (
                Unit.select()
                .where((Unit.task_run == run) & Unit.status.in_([UnitStatus.LAUNCHED.value, UnitStatus.ASSIGNED.value]))
                .count()
            ) + being_published.count()
            room = limit - active
            if room <= 0:
                return 0
        launched = 0
        for query, source in ((withdrawn, UnitStatus.EXPIRED), (created, UnitStatus.CREATED)):
            if room is not None:
                if room <= 0:
                    break
                query = query.limit(room)
            ids = [unit_id for (unit_id,) in query.tuples()]
            moved = self._launch(ids, source)
            launched += moved
            if room is not None:
                room -= moved
        return launched

    def _launch(self, ids: list[int], source: UnitStatus) -> int:
        """Offer `ids` (now in status `source`): moved to `launched` at once, or, when the provider publishes
        units, recorded as publish intents for the Publisher; returns how many."""
        if not ids:
            return 0
        if not offer_fits(self.ctx, len(ids)):  # within task.max_budget (operations/budget.py)
            return 0
        if self.ctx.provider.publishes_units:
            record_intents(self.ctx.run.id, ids, source)
            return len(ids)
        launched = 0
        for start in range(0, len(ids), CHUNK):
            launched += move_units(ids[start : start + CHUNK], source, UnitStatus.LAUNCHED)
        self._moved(source, launched)
        return launched

    def _moved(self, source: UnitStatus, offered: int) -> None:
        """`offered` units just moved from `source` to `launched`: the worker pool forgets that the run had
        nothing to offer, and the status counts carry the move."""
        if offered:
            self.ctx.offered()
            self.counts.moved(source.value, UnitStatus.LAUNCHED.value, offered)

    def units_offered(self) -> None:
        """Units were just moved to `launched` (by the Publisher): the next count is fresh, and the worker pool
        forgets that the run had nothing to offer."""
        self.ctx.offered()
        self.counts.forget()

    def expire_unclaimed(self) -> list[Unit]:
        """Withdraw every offered-but-unclaimed unit here (a stop); returns those the platform must withdraw too.

        Units never offered (`created`) stay as they are: nobody could have seen them, and the next launch offers
        them under `max_num_concurrent_units` like any other waiting unit. The platform call is the caller's
        (`Publisher.withdraw_unclaimed`), off this thread; a unit withdrawn here but still live there after a crash
        is withdrawn by the next start's reconciliation.
        """
        run = self.ctx.run
        self.counts.forget()
        if not self.ctx.provider.publishes_units:
            # Nothing to withdraw at the provider: one UPDATE, with no unit read back.
            move_run_units(run.id, [UnitStatus.LAUNCHED], UnitStatus.EXPIRED)
            return []
        units = list(Unit.select().where((Unit.task_run == run) & (Unit.status == UnitStatus.LAUNCHED.value)))
        if not units:
            return []
        # One writer job: no claim can come between the read and the move.
        move_units([u.id for u in units], UnitStatus.LAUNCHED, UnitStatus.EXPIRED)
        return units

    def status_counts(self) -> dict[str, int]:
        """Units of this run per status (gold and screening units left out), exact about which statuses have
        none; the numbers may come from an earlier count (`status_counts.StatusCounts`). A stop always counts
        afresh, so its report is exact."""
        return self.counts.get(fresh=not self.ctx.accepting)

    def count_by_status(self) -> dict[str, int]:
        """Units of this run per status, counted (gold and screening units left out); any thread may call it."""
        # Gold and screening units are extra, not the run's: counted apart and taken off. Asking for
        # `unit_index >= 0` instead made the count read every unit's row, not its index entry alone: 18 ms at
        # 100,000 units against 7 ms, on the writer's thread, at every tick.
        counts = Counter(dict(every_unit_by_status(self.ctx.run.id).tuples()))
        counts.subtract(dict(special_units_by_status(self.ctx.run.id).tuples()))
        return {status: int(count) for status, count in counts.items() if count > 0}


def every_unit_by_status(run_id: int) -> pw.ModelSelect:
    """(status, units) of the run, gold and screening units included: from the (task_run, status, id) index alone."""
    return Unit.select(Unit.status, pw.fn.COUNT(pw.SQL("*"))).where(Unit.task_run == run_id).group_by(Unit.status)


def special_units_by_status(run_id: int) -> pw.ModelSelect:
    """(status, units) of the run's gold and screening units, from their partial index (migration 13); the
    condition is written as the index's own, which the planners need to match it."""
    return (
        Unit.select(Unit.status, pw.fn.COUNT(pw.SQL("*")))
        .where((Unit.task_run == run_id) & pw.SQL('"unit_index" < 0'))
        .group_by(Unit.status)
    )
