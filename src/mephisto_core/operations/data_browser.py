"""The data browser: read submitted work from scripts, the exporter and the review app.

```python
from mephisto_core.operations.data_browser import DataBrowser
browser = DataBrowser(database)
for record in browser.units(task="my-task"):
    print(record.worker_id, record.outputs)
```

Units are read in id order in batches (keyset pagination over a bounded window of ids: `id > last_id AND id <= end
LIMIT n`, `_in_id_windows`), each batch one joined query plus one query for its review records and one for its
files, so memory stays flat and the query count grows with batches, not units.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import peewee as pw

from mephisto_core.data_model import (
    Agent,
    AgentFile,
    Assignment,
    Database,
    Review,
    Task,
    TaskRun,
    Unit,
    UnitStatus,
    Worker,
)
from mephisto_core.data_model.procedure_calls import ProcedureCall
from mephisto_core.errors import NotFound
from mephisto_core.operations.export.records import (
    Answer,
    UnitRecord,
    file_dict,
    json_value,
    procedure_call_dict,
    review_dict,
    utc_datetime,
)
from mephisto_core.operations.review.worker_stats import WorkerStats, submitted_unit_counts
from mephisto_core.operations.unit_filters import UnitFilters, UnitQuery, of_task

__all__ = ["Answer", "DataBrowser", "RunSummary", "TaskSummary", "UnitRecord", "WorkerStats"]

BATCH_SIZE = 1000
Row = TypeVar("Row")
#: the widest id window one batch query reads (`_in_id_windows`), in batches: a sparse filter's units are found in
#: a few queries, a sudden run of matches costs one query that many batches' rows at worst
WINDOW_BATCHES = 64
#: `answers()` reads this many times `batch_size` rows per query: an answer row is a fraction of a record's size, and
#: building each batch's query took a fifth of the read at 1,000.
ANSWER_ROWS_PER_RECORD = 10
_ALL_STATUSES = tuple(s.value for s in UnitStatus)


@dataclass(frozen=True)
class TaskSummary:
    """A task with how many runs it had and how many of its units are in each status."""

    task_id: int
    name: str
    blueprint_type: str
    created_at: dt.datetime | None
    runs: int
    unit_counts: dict[str, int] = field(default_factory=dict)

    @property
    def submitted(self) -> int:
        """Units whose work was submitted (reviewed or not)."""
        return sum(self.unit_counts.get(s, 0) for s in ("completed", "accepted", "rejected", "soft_rejected"))


@dataclass(frozen=True)
class RunSummary:
    """One launch of a task, with its unit counts by status."""

    run_id: int
    task: str
    blueprint_type: str
    architect_type: str
    provider_type: str
    sandbox: bool
    is_completed: bool
    created_at: dt.datetime | None
    unit_counts: dict[str, int] = field(default_factory=dict)


class DataBrowser:
    """Read-only queries over an open `Database`: units with their submissions, tasks, runs and worker stats."""

    def __init__(self, database: Database, batch_size: int = BATCH_SIZE) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.database = database
        self.batch_size = batch_size

    # ---- units ----------------------------------------------------------------------------------------------

    def units(self, query: UnitQuery | None = None, /, **fields: Any) -> Iterator[UnitRecord]:
        """Units matching every filter of `query` (or of keyword `fields` named as `UnitQuery`'s:
        `browser.units(task="my-task", statuses=["accepted"])`), in id order, with inputs, outputs, files and
        reviews. Unknown names and bad dates raise MephistoError before anything is read.
        """
        return self.iter_filtered(UnitQuery.of(query, fields).resolve())

    def page(self, offset: int, limit: int, query: UnitQuery | None = None, /, **fields: Any) -> list[UnitRecord]:
        """At most `limit` units of `units()` (same filters) after skipping the first `offset`.

        One query over the indexes finds the page's unit ids, so a late page costs no more than the first one; then
        only the page's id range is read. Left open at its end, the range let PostgreSQL plan the read for every
        unit after the page's start (a tenth of a second per page at 100,000 units).
        """
        return self.page_filtered(offset, limit, UnitQuery.of(query, fields).resolve())

    def page_filtered(self, offset: int, limit: int, filters: UnitFilters) -> list[UnitRecord]:
        """`page()` with already-resolved filters."""
        if offset < 0 or limit < 1:
            raise ValueError("offset must be >= 0 and limit >= 1")
        found = [int(unit_id) for (unit_id,) in self._ids(filters).offset(offset).limit(limit).tuples()]
        if not found:
            return []
        return list(self._records_between(filters, found[0] - 1, found[-1]))

    def unit_ids(self, query: UnitQuery | None = None, /, **fields: Any) -> list[int]:
        """The ids of the units `units()` would yield with the same filters, in id order, read from the indexes
        alone (a bulk action on every unit that matches)."""
        return self.unit_ids_filtered(UnitQuery.of(query, fields).resolve())

    def unit_ids_filtered(self, filters: UnitFilters) -> list[int]:
        """`unit_ids()` with already-resolved filters."""
        return [int(unit_id) for (unit_id,) in self._ids(filters).tuples()]

    def iter_filtered(self, filters: UnitFilters) -> Iterator[UnitRecord]:
        """The units matching already-resolved filters (what `units()` and the exporter share), in id order."""
        bounds = self._id_bounds(filters)
        if bounds is not None:
            yield from self._records_between(filters, bounds[0] - 1, bounds[1])

    def _records_between(self, filters: UnitFilters, after_id: int, upto_id: int) -> Iterator[UnitRecord]:
        """The matching units with ids in (`after_id`, `upto_id`], a batch at a time."""

        def read(after: int, upto: int, size: int) -> list[UnitRecord]:
            return self._fetch_batch(filters, after, upto, size)

        return _in_id_windows(read, after_id, upto_id, self.batch_size, lambda record: record.unit_id)

    def answers(self, query: UnitQuery | None = None, /, **fields: Any) -> Iterator[Answer]:
        """Who answered what, for the units `units()` would yield with the same filters, in id order: only the
        columns agreement needs, without inputs, reviews, files or calls (a task's 100,000 answers in a fraction of
        the time its records take)."""
        return self.answers_filtered(UnitQuery.of(query, fields).resolve())

    def answers_filtered(self, filters: UnitFilters) -> Iterator[Answer]:
        """`answers()` for already-resolved filters (what the exporter has)."""
        bounds = self._id_bounds(filters)
        if bounds is None:
            return

        def read(after: int, upto: int, size: int) -> list[tuple[Any, ...]]:
            query = (
                Unit.select(Unit.id, Unit.assignment, Unit.unit_index, Unit.worker, Agent.outputs)
                .join_from(Unit, Agent, pw.JOIN.LEFT_OUTER, on=(Agent.id == Unit.agent_id))
                .where((Unit.id > after) & (Unit.id <= upto))
                .order_by(Unit.id)
                .limit(size)
            )
            return self._raw(self._filtered(query, filters, use_indexes=False, agent_joined=True))

        size = self.batch_size * ANSWER_ROWS_PER_RECORD
        for unit_id, assignment_id, unit_index, worker_db_id, outputs in _in_id_windows(
            read, bounds[0] - 1, bounds[1], size, lambda row: int(row[0])
        ):
            yield Answer(unit_id, assignment_id, unit_index, worker_db_id, json_value(outputs))

    def assignment_inputs(self, assignment_ids: Iterable[int]) -> dict[int, Any]:
        """The inputs of these assignments, by id (what `answers()` leaves out; span agreement needs the text)."""
        inputs: dict[int, Any] = {}
        ids = list(assignment_ids)
        for start in range(0, len(ids), self.batch_size):
            chunk = ids[start : start + self.batch_size]
            query = Assignment.select(Assignment.id, Assignment.inputs).where(Assignment.id.in_(chunk))
            inputs.update((int(assignment_id), json_value(raw)) for assignment_id, raw in self._raw(query))
        return inputs

    def count(self, query: UnitQuery | None = None, /, **fields: Any) -> int:
        """How many units `units()` would yield with the same filters."""
        return self.count_filtered(UnitQuery.of(query, fields).resolve())

    def count_filtered(self, filters: UnitFilters) -> int:
        query = self._filtered(Unit.select(pw.fn.COUNT(Unit.id)), filters, use_indexes=True)
        return int(query.scalar() or 0)

    def unit(self, unit_id: int) -> UnitRecord:
        """One unit by id, whatever its status; NotFound when there is none."""
        batch = self._fetch_batch(UnitFilters(statuses=_ALL_STATUSES), unit_id - 1, unit_id, 1, ask_first=True)
        if not batch:
            raise NotFound(f"unit {unit_id} does not exist")
        return batch[0]

    # ---- tasks, runs, workers ---------------------------------------------------------------------------------

    def tasks(self, task: str | None = None) -> list[TaskSummary]:
        """Every task (or only the one named `task`), by name."""
        return self.overview(UnitQuery(task=task).resolve().task_id if task is not None else None)[0]

    def runs(self, task: str | None = None) -> list[RunSummary]:
        """The runs of one task (or of every task), oldest first."""
        return self._runs(UnitQuery(task=task).resolve().task_id if task is not None else None)

    def overview(self, task_id: int | None = None) -> tuple[list[TaskSummary], list[RunSummary]]:
        """`tasks()` and `runs()` together, of every task or of the one with id `task_id` (none if there is no
        such task), in three queries: a database on another machine answers each in a round trip."""
        tasks = Task.select().order_by(Task.name)
        if task_id is not None:
            tasks = tasks.where(Task.id == task_id)
        runs = self._runs(task_id)
        run_count: Counter[str] = Counter()
        counts: dict[str, Counter[str]] = {}
        for run in runs:
            run_count[run.task] += 1
            counts.setdefault(run.task, Counter()).update(run.unit_counts)
        summaries = [
            TaskSummary(
                task_id=task.id,
                name=task.name,
                blueprint_type=task.blueprint_type,
                created_at=utc_datetime(task.created_at),
                runs=run_count[task.name],
                unit_counts=dict(counts.get(task.name, {})),
            )
            for task in tasks
        ]
        return summaries, runs

    def _runs(self, task_id: int | None) -> list[RunSummary]:
        query = TaskRun.select(TaskRun, Task.name).join(Task).order_by(TaskRun.id)
        if task_id is not None:
            query = query.where(TaskRun.task == task_id)
        runs = list(query)
        # Counted by run, which the (task_run, status, id) index answers without reading a row.
        by_run = Unit.select(Unit.task_run, Unit.status, pw.fn.COUNT(Unit.id)).group_by(Unit.task_run, Unit.status)
        counts = _status_counts(by_run if task_id is None else by_run.where(Unit.task_run.in_([r.id for r in runs])))
        return [
            RunSummary(
                run_id=run.id,
                task=run.task.name,
                blueprint_type=run.blueprint_type,
                architect_type=run.architect_type,
                provider_type=run.provider_type,
                sandbox=bool(run.sandbox),
                is_completed=bool(run.is_completed),
                created_at=utc_datetime(run.created_at),
                unit_counts=counts.get(run.id, {}),
            )
            for run in runs
        ]

    def worker_stats(self, worker_db_id: int) -> WorkerStats:
        """Units a worker submitted and how they were judged; NotFound for an unknown worker."""
        worker = Worker.get_or_none(Worker.id == worker_db_id)
        if worker is None:
            raise NotFound(f"worker {worker_db_id} does not exist")
        return WorkerStats.from_counts(worker, submitted_unit_counts(worker_db_id))

    # ---- queries ------------------------------------------------------------------------------------------------

    def _filtered(self, query: Any, filters: UnitFilters, *, use_indexes: bool, agent_joined: bool = False) -> Any:
        """Add the filters' WHERE terms (and, unless `agent_joined`, the agent join the date filters need).

        With `use_indexes=False` the terms are written so no index can serve them (`status || ''`,
        `task_id + 0`): the batch query must walk the primary key in order, because an index on status or
        run returns rows out of id order and SQLite would then sort every remaining row for each batch.
        """
        status = Unit.status if use_indexes else Unit.status.concat("")
        conditions = [status.in_(list(filters.statuses))]
        if filters.task_id is not None:
            conditions.append(of_task(filters.task_id) if use_indexes else (Unit.task + 0) == filters.task_id)
        if filters.run_id is not None:
            conditions.append((Unit.task_run if use_indexes else Unit.task_run + 0) == filters.run_id)
        if filters.worker_ids is not None:
            worker_ids = list(filters.worker_ids)
            if use_indexes:
                # Units have no index by worker alone (migration 17): their agents' (worker, status) index finds
                # them, every unit of a worker having an agent of theirs.
                conditions.append(Unit.id.in_(Agent.select(Agent.unit).where(Agent.worker.in_(worker_ids))))
                conditions.append(Unit.worker.in_(worker_ids))
            else:
                conditions.append((Unit.worker + 0).in_(worker_ids))
        if filters.since is not None:
            conditions.append(Agent.submitted_at >= filters.since)
        if filters.until is not None:
            conditions.append(Agent.submitted_at < filters.until)
        if (filters.since is not None or filters.until is not None) and not agent_joined:
            query = query.join(Agent, on=(Agent.id == Unit.agent_id))
        return query.where(*conditions)

    def _ids(self, filters: UnitFilters) -> Any:
        """The matching units' ids in id order, a query over the indexes alone."""
        return self._filtered(Unit.select(Unit.id), filters, use_indexes=True).order_by(Unit.id)

    def _id_bounds(self, filters: UnitFilters) -> tuple[int, int] | None:
        """The lowest and highest matching unit id, found through the indexes; bounds the id-ordered scan."""
        query = self._filtered(Unit.select(pw.fn.MIN(Unit.id), pw.fn.MAX(Unit.id)), filters, use_indexes=True)
        low, high = query.tuples().get()
        return None if low is None else (int(low), int(high))

    def _fetch_batch(
        self, filters: UnitFilters, after_id: int, upto_id: int, size: int, ask_first: bool = False
    ) -> list[UnitRecord]:
        """The units of ids in (after_id, upto_id] that match, at most `size`, with their reviews, files and
        procedure calls. `ask_first` (one unit on a screen): the unit's row says which of the three it has, and
        only those are read, sparing a round trip each to a database on another machine for what is empty."""
        has = (
            [
                pw.fn.EXISTS(Review.select(Review.id).where(Review.unit == Unit.id)),
                pw.fn.EXISTS(AgentFile.select(AgentFile.id).where(AgentFile.agent == Unit.agent_id)),
                pw.fn.EXISTS(ProcedureCall.select(ProcedureCall.id).where(ProcedureCall.agent == Unit.agent_id)),
            ]
            if ask_first
            else []
        )
        query = (
            Unit.select(
                Unit.id,
                Task.name,
                Unit.task_run,
                Unit.assignment,
                Unit.unit_index,
                Unit.status,
                Worker.name,
                Unit.worker,
                Unit.agent_id,
                Assignment.inputs,
                Agent.outputs,
                Agent.started_at,
                Agent.submitted_at,
                *has,
            )
            .join_from(Unit, Task, on=(Task.id == Unit.task))
            .join_from(Unit, Assignment, on=(Assignment.id == Unit.assignment))
            .join_from(Unit, Agent, pw.JOIN.LEFT_OUTER, on=(Agent.id == Unit.agent_id))
            .join_from(Unit, Worker, pw.JOIN.LEFT_OUTER, on=(Worker.id == Unit.worker))
            .where((Unit.id > after_id) & (Unit.id <= upto_id))
            .order_by(Unit.id)
            .limit(size)
        )
        query = self._filtered(query, filters, use_indexes=False, agent_joined=True)
        inputs_by_assignment: dict[int, Any] = {}
        records = []
        present: list[tuple[Any, ...]] = []
        for row in self._raw(query):
            (unit_id, task, run_id, assignment_id, index, status, worker, worker_db_id, agent_id, *rest) = row
            inputs_raw, outputs_raw, started_at, submitted_at = rest[:4]
            present.append(tuple(rest[4:]))
            if assignment_id not in inputs_by_assignment:  # the units of one assignment share its inputs
                inputs_by_assignment[assignment_id] = json_value(inputs_raw)
            records.append(
                UnitRecord(
                    unit_id=unit_id,
                    task=task,
                    task_run_id=run_id,
                    assignment_id=assignment_id,
                    unit_index=index,
                    status=status,
                    worker_id=worker,
                    worker_db_id=worker_db_id,
                    agent_id=agent_id,
                    inputs=inputs_by_assignment[assignment_id],
                    outputs=json_value(outputs_raw),
                    started_at=utc_datetime(started_at),
                    submitted_at=utc_datetime(submitted_at),
                )
            )
        if ask_first:  # SQLite says 0 or 1, PostgreSQL false or true
            self._attach_reviews([r for r, (reviews, _, _) in zip(records, present, strict=True) if reviews])
            self._attach_files([r for r, (_, files, _) in zip(records, present, strict=True) if files])
            self._attach_procedure_calls([r for r, (_, _, calls) in zip(records, present, strict=True) if calls])
        else:
            self._attach_reviews(records)
            self._attach_files(records)
            self._attach_procedure_calls(records)
        return records

    # Reviews and files are fetched by the batch's unit-id range (two bound parameters) rather than by a list of
    # its ids: a thousand-item IN list costs more to build than the query takes to run. Rows of units in the range
    # that the filters left out are skipped.

    def _attach_reviews(self, records: list[UnitRecord]) -> None:
        if not records:
            return
        by_unit = {r.unit_id: r for r in records}
        query = (
            Review.select(Review.unit, Review.kind, Review.amount, Review.feedback, Review.reviewer, Review.created_at)
            .where(Review.unit.between(records[0].unit_id, records[-1].unit_id))
            .order_by(Review.created_at, Review.id)
        )
        for unit_id, *values in self._raw(query):
            record = by_unit.get(unit_id)
            if record is not None:
                record.review.append(review_dict(*values))

    def _attach_files(self, records: list[UnitRecord]) -> None:
        if not any(r.agent_id is not None for r in records):
            return
        by_unit = {r.unit_id: r for r in records}
        query = (
            AgentFile.select(
                Unit.id,
                AgentFile.field,
                AgentFile.name,
                AgentFile.size,
                AgentFile.content_type,
                AgentFile.sha256,
                AgentFile.path,
            )
            .join(Unit, on=(Unit.agent_id == AgentFile.agent))
            .where(Unit.id.between(records[0].unit_id, records[-1].unit_id))
            .order_by(AgentFile.id)
        )
        for unit_id, *values in self._raw(query):
            record = by_unit.get(unit_id)
            if record is not None:
                record.files.append(file_dict(*values))

    def _attach_procedure_calls(self, records: list[UnitRecord]) -> None:
        # The calls of the attempt whose answer the unit holds (its current agent), like its files.
        if not any(r.agent_id is not None for r in records):
            return
        by_unit = {r.unit_id: r for r in records}
        query = (
            ProcedureCall.select(
                Unit.id,
                ProcedureCall.name,
                ProcedureCall.args,
                ProcedureCall.result,
                ProcedureCall.error_code,
                ProcedureCall.error_shown,
                ProcedureCall.started_at,
                ProcedureCall.finished_at,
                ProcedureCall.duration_ms,
            )
            .join(Unit, on=(Unit.agent_id == ProcedureCall.agent))
            .where(Unit.id.between(records[0].unit_id, records[-1].unit_id))
            .order_by(ProcedureCall.id)
        )
        for unit_id, *values in self._raw(query):
            record = by_unit.get(unit_id)
            if record is not None:
                record.procedure_calls.append(procedure_call_dict(*values))

    def _raw(self, query: Any) -> list[tuple[Any, ...]]:
        """Run a peewee query and return the driver's rows unconverted (see `_export_records` for why)."""
        sql, params = query.sql()
        cursor = self.database.db.execute_sql(sql, params)
        return list(cursor.fetchall())


def _in_id_windows(
    read: Callable[[int, int, int], list[Row]], after_id: int, upto_id: int, size: int, id_of: Callable[[Row], int]
) -> Iterator[Row]:
    """Every row `read(after, upto, size)` gives (ids in (after, upto], in id order, at most `size`) from `after_id`
    to `upto_id`: keyset pagination, each query bounded by a window of ids as well as by its LIMIT.

    The batch queries' filters are written so that no index serves them (the walk must follow the primary key),
    which leaves PostgreSQL expecting a handful of matches: given only a lower bound, it read, joined and sorted
    every unit after it for each batch, so a 100,000-unit export or agreement was quadratic. A window of ids is
    estimated right. Each window is sized from how densely the ids just read matched, to hold a full batch with a
    quarter to spare, within WINDOW_BATCHES batches' worth of ids (what one query may read at worst).
    """
    window = 2 * size
    while after_id < upto_id:
        end = min(upto_id, after_id + window)
        rows = read(after_id, end, size)
        yield from rows
        reached = id_of(rows[-1]) if len(rows) == size else end
        if rows:
            window = max(size, (reached - after_id) * size * 5 // (4 * len(rows)))
        else:
            window *= 2
        window = min(window, WINDOW_BATCHES * size)
        after_id = reached


def _status_counts(query: Any) -> dict[int, dict[str, int]]:
    counts: dict[int, dict[str, int]] = {}
    for owner_id, status, n in query.tuples():
        counts.setdefault(owner_id, {})[status] = int(n)
    return counts
