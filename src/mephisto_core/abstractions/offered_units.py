"""A cleaner for providers with nothing published anywhere: units a dead run still shows as offered.

A launch killed with kill -9 (or a power cut) leaves its unclaimed units `launched`: offered to workers by a run
nobody serves. A provider with a platform withdraws such units there; one without (mock, in-house) registers
this cleaner, which lists them and withdraws them in the database (`expired`), so the listing shows no unit as
offered that nobody serves. The next launch of the task offers them again, as it does after a stop.
"""

from __future__ import annotations

from typing import ClassVar

from mephisto_core.abstractions.leftovers import CleanupScope, Leftover, LeftoverCleaner, LeftoverKind


class OfferedUnitsCleaner(LeftoverCleaner):
    """Lists and withdraws `launched` units of unfinished runs of provider `type_name` that no process serves."""

    kind: ClassVar[LeftoverKind] = "provider"

    def __init__(self, type_name: str, cost: str) -> None:
        self.type_name = type_name  # type: ignore[misc]  # one instance per provider type
        self.cost = cost

    def find(self, scope: CleanupScope) -> list[Leftover]:
        """One leftover per dead run that still has units offered."""
        import peewee as pw

        from mephisto_core.data_model import TaskRun, Unit, UnitStatus

        query = (
            Unit.select(Unit.task_run, pw.fn.COUNT(Unit.id))
            .join(TaskRun)
            .where(
                (TaskRun.provider_type == self.type_name)
                & (TaskRun.is_completed == False)  # noqa: E712
                & (Unit.status == UnitStatus.LAUNCHED.value)
            )
            .group_by(Unit.task_run)
            .order_by(Unit.task_run)
        )
        found = []
        for run_id, count in query.tuples():
            if not scope.covers(run_id) or scope.is_run_live(run_id):
                continue
            found.append(
                Leftover(
                    kind=self.kind,
                    type_name=self.type_name,
                    what=f"{count} unit(s) of run {run_id} still offered, but no process serves the run",
                    cost=self.cost,
                    run_id=run_id,
                    handle=str(run_id),
                )
            )
        return found

    def remove(self, scope: CleanupScope, leftover: Leftover) -> str:
        """Withdraw the run's offered units (`expired`); refused when a launch serves the run again."""
        from mephisto_core.data_model import UnitStatus
        from mephisto_core.data_model.transitions import move_run_units
        from mephisto_core.errors import MephistoError

        run_id = int(leftover.handle)
        if scope.is_run_live(run_id):
            raise MephistoError(f"run {run_id} is served by a running launch again; its units were left as they are")
        with scope.database.write():
            moved = move_run_units(run_id, [UnitStatus.LAUNCHED], UnitStatus.EXPIRED)
        return f"withdrew {moved} offered unit(s) of run {run_id}; the next launch of its task offers them again"
