"""The run's units per status at each operator tick, counted afresh only as often as counting's cost allows.

A count reads an entry for every unit of the run: at 100,000 units it took ~50 ms on PostgreSQL (whose index
entries do not tell whether a row is visible, so each row is read) and ~7 ms on SQLite. On the database writer's
thread every claim and submission waits for it; counting at every tick (0.5 s) stalled the writer 10 % of the time
and put a 50 ms step into every worker's latency twice a second.

So a count that took more than `ON_WRITER_UNDER_S` is made again off the writer (`background_count.py`: a thread
and a connection of its own), at most `BACKGROUND_SHARE` of one core's time, and stands in for new ones meanwhile.
On the writer a count is made again only when none could be made off it for a while (`COUNT_SHARE` of the
writer's time at most). What the operator decides on stays exact whatever the count's age: each reuse first asks
the database which of the `DECIDING` statuses have a unit at all (one index probe each, `unit_probes.py`), and
counts afresh when that disagrees with the estimate (the last unit of the run completed, a stop's last unit came
back). Only the numbers shown (the launch panel, the metrics) may be older, and the moves this process makes
(units created, offered) are added to them.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence

from mephisto_core.data_model import UnitStatus

#: Largest share of the writer's time spent counting: a count that took d seconds stands for d / COUNT_SHARE.
COUNT_SHARE = 0.01
#: Counts cheaper than this are made on the writer at every tick, as in a small run (3,000 units: under 1 ms).
ON_WRITER_UNDER_S = 0.002
#: Largest share of one core spent counting off the writer: a count that took d seconds is made every d / share.
BACKGROUND_SHARE = 0.05
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
    Thread-safe: units are created on the writer's thread, and on PostgreSQL offered and counted beside it
    (`side_connection.py`); one method runs at a time, but `background_due`, which reads without the lock.
    """

    def __init__(self, count: CountUnits, present: StatusesPresent) -> None:
        self._count = count
        self._present = present
        self._counted: dict[str, int] | None = None
        self._counted_at = 0.0
        self._cost = 0.0  # seconds the last count took
        self._since: Counter[str] = Counter()  # what this process created and moved after that count
        self._generation = 0  # moves with each change to `_since`: a count made meanwhile may have missed it
        self._creating = False  # units were created since the last count
        self._lock = threading.RLock()

    def created(self, status: str, units: int) -> None:
        """`units` were just created in `status`: added to the last count until the next one."""
        with self._lock:
            self.moved(None, status, units)
            self._creating = True

    def moved(self, source: str | None, target: str, units: int) -> None:
        """This process moved `units` from `source` to `target` (None: created): carried into the last count."""
        with self._lock:
            if source is not None:
                self._since[source] -= units
            self._since[target] += units
            self._generation += 1

    def forget(self) -> None:
        """Units moved in a way not told here (a stop, the Publisher's offers): the next `get` counts afresh."""
        with self._lock:
            self._counted = None
            self._generation += 1

    def generation(self) -> int:
        """Where this process's moves stand: taken before a count off the writer begins, for `install`."""
        return self._generation

    def background_due(self) -> bool:
        """Whether a count off the writer is due: the last one was costly, and is older than its cost allows.
        Read from the event loop's thread: a stale answer only starts a count a tick early or late."""
        counted_at, cost = self._counted_at, self._cost
        return (
            self._counted is not None
            and cost >= ON_WRITER_UNDER_S
            and time.monotonic() - counted_at >= cost / BACKGROUND_SHARE
        )

    def install(self, counts: dict[str, int], cost: float, generation: int) -> bool:
        """Take a count made off the writer, whose snapshot began after `generation()` returned `generation`;
        refused (False) when this process moved units since, which the count may or may not hold."""
        with self._lock:
            if generation != self._generation:
                return False
            self._counted, self._counted_at, self._cost = counts, time.monotonic(), cost
            self._since.clear()
            self._creating = False
            return True

    def get(self, fresh: bool = False) -> dict[str, int]:
        """Units per status (statuses without units left out); `fresh` always counts.

        The database is read without the lock held, so that a thread creating units is not kept waiting for the
        read; a move made meanwhile (the generation moved) keeps the count from standing in for the next ones."""
        with self._lock:
            estimate = None
            if not fresh and self._counted is not None and time.monotonic() - self._counted_at < self._stands_for():
                estimate = Counter(self._counted)
                estimate.update(self._since)
            generation = self._generation
        if estimate is not None:
            present = self._present(DECIDING)
            if all((estimate[status] > 0) == (status in present) for status in DECIDING):
                return {status: count for status, count in estimate.items() if count > 0}
        start = time.monotonic()
        counts = self._count()
        with self._lock:
            if generation == self._generation:
                self._counted_at = time.monotonic()
                self._cost = self._counted_at - start
                self._counted = counts
                self._since.clear()
                self._creating = False
            else:  # units moved while counting, which the count may or may not hold
                self._counted = None
        return counts

    def _stands_for(self) -> float:
        """How long the last count may stand in for a new one."""
        by_cost = min(MAX_REUSE_S, self._cost / COUNT_SHARE)
        return max(by_cost, RECOUNT_WHILE_CREATING_S) if self._creating else by_cost
