"""The run's units per status at each operator tick, counted afresh only as often as counting's cost allows.

A count reads an entry for every unit of the run, on the database writer's thread, so every claim and submission
waits for it: at 100,000 units it took ~50 ms on PostgreSQL (whose index entries do not tell whether a row is
visible, so each row is read) and ~7 ms on SQLite. Counting at every tick (0.5 s) would stall the writer 10 % of
the time and put a 50 ms step into every worker's latency twice a second.

So a count stands in for the next ones for a while, the longer the more it cost, keeping counting under
`COUNT_SHARE` of the writer's time. What the operator decides on stays exact whatever the count's age: each reuse
first asks the database which of the `DECIDING` statuses have a unit at all (one index probe each), and counts
afresh when that disagrees with the estimate (the last unit of the run completed, a stop's last unit came back).
Only the numbers shown (the launch panel, the metrics) may be up to `MAX_REUSE_S` old.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence

from mephisto_core.data_model import UnitStatus

#: Largest share of the writer's time spent counting: a count that took d seconds stands for d / COUNT_SHARE.
COUNT_SHARE = 0.01
#: A count stands in for the next ones at most this long, however long it took.
MAX_REUSE_S = 30.0
#: While data is being created, a count stands at least this long (plus the units created since).
RECOUNT_WHILE_CREATING_S = 2.0
#: The statuses whose having no unit the operator acts on: the run's end, the end of a graceful stop.
DECIDING = tuple(s.value for s in (UnitStatus.CREATED, UnitStatus.LAUNCHED, UnitStatus.ASSIGNED, UnitStatus.EXPIRED))

CountUnits = Callable[[], dict[str, int]]
StatusesPresent = Callable[[Sequence[str]], set[str]]


class StatusCounts:
    """Units per status for one run: the last count, plus the units created since, while it may stand in.

    `count` counts the run's units by status; `present` names those of the given statuses that have a unit.
    Both run on the writer's thread, as `get` does.
    """

    def __init__(self, count: CountUnits, present: StatusesPresent) -> None:
        self._count = count
        self._present = present
        self._counted: dict[str, int] | None = None
        self._counted_at = 0.0
        self._cost = 0.0  # seconds the last count took
        self._created_since: Counter[str] = Counter()

    def created(self, status: str, units: int) -> None:
        """`units` were just created in `status`: added to the last count until the next one."""
        self._created_since[status] += units

    def forget(self) -> None:
        """Units moved in bulk (offered, withdrawn): the next `get` counts afresh."""
        self._counted = None

    def get(self, fresh: bool = False) -> dict[str, int]:
        """Units per status (statuses without units left out); `fresh` always counts."""
        now = time.monotonic()
        if not fresh and self._counted is not None and now - self._counted_at < self._stands_for():
            estimate = Counter(self._counted)
            estimate.update(self._created_since)
            present = self._present(DECIDING)
            if all((estimate[status] > 0) == (status in present) for status in DECIDING):
                return {status: count for status, count in estimate.items() if count > 0}
        start = time.monotonic()
        counts = self._count()
        self._counted_at = time.monotonic()
        self._cost = self._counted_at - start
        self._counted = counts
        self._created_since.clear()
        return counts

    def _stands_for(self) -> float:
        """How long the last count may stand in for a new one."""
        by_cost = min(MAX_REUSE_S, self._cost / COUNT_SHARE)
        return max(by_cost, RECOUNT_WHILE_CREATING_S) if self._created_since else by_cost
