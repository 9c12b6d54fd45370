"""Which statuses a run's units are in, without counting them: one probe of the (task_run, status, id) index each.

A count reads an entry per unit; a probe stops at the first unit it finds. Each probe walks the index from the
newest unit back: claims and launches take a run's oldest units first, so the entries that units leaving a status
left behind (which the database must still look at until it knows no transaction can see them) sit at the oldest
end. Walked from there, a probe in the middle of a busy run stepped over every unit claimed since the last probe.
"""

from __future__ import annotations

from collections.abc import Sequence

from mephisto_core.data_model.models import Unit


def statuses_present_sql(param: str, statuses: int) -> str:
    """One row of `statuses` booleans: whether the run has a unit (gold and screening units left out) in each status.
    Parameters: the run's id and the status twice, for each status in turn; `param` is the database's placeholder."""
    # Written so that only the (task_run, status, id) index can answer it, whatever the planner's statistics say.
    # Asked as EXISTS, or ordered by id alone, PostgreSQL with statistics from mid-run (a quarter of the units
    # launched) read the table, or its primary key backwards, expecting a launched unit within a few rows; at the
    # run's end, with none left, each refused hello read all 100,000 units (27 ms). A status range (one value) is
    # not folded into a constant, so ordering by (status, id) is something only that index gives without a sort.
    # A scalar subquery, not EXISTS: PostgreSQL drops the ORDER BY of an EXISTS, and with it the walk's direction.
    probe = (
        f'(SELECT "id" FROM "unit" WHERE "task_run_id" = {param} AND "status" >= {param} AND "status" <= {param} '
        'AND "unit_index" >= 0 ORDER BY "status" DESC, "id" DESC LIMIT 1) IS NOT NULL'
    )
    return "SELECT " + ", ".join([probe] * statuses)


def statuses_present_params(run_id: int, statuses: Sequence[str]) -> tuple[object, ...]:
    """The parameters of `statuses_present_sql` for `run_id` and `statuses`."""
    return tuple(value for status in statuses for value in (run_id, status, status))


def statuses_present(run_id: int, statuses: Sequence[str]) -> set[str]:
    """Those of `statuses` that have a unit of run `run_id` (gold and screening units left out)."""
    db = Unit._meta.database
    cursor = db.execute_sql(statuses_present_sql(db.param, len(statuses)), statuses_present_params(run_id, statuses))
    return {status for status, present in zip(statuses, cursor.fetchone(), strict=True) if present}
