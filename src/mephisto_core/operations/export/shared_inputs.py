"""Task-level inputs: a run whose data items all carry the same inputs (a form task's ~4 KB form definition, one
per assignment) has them written once, in the export's metadata file, instead of on every unit row.

A run's inputs are task-level when it has two or more assignments (gold ones aside) and every one of them has
the same stored inputs. The check is one grouped query per run, made when the export meets the run's first unit.
"""

from __future__ import annotations

from typing import Any

import peewee as pw

from mephisto_core.data_model import Database
from mephisto_core.data_model.models import Assignment
from mephisto_core.operations.export.records import json_value


class SharedInputs:
    """Decides, run by run, whether a run's inputs are task-level, and remembers the ones that are."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._checked: dict[int, bool] = {}
        #: run id -> {"task", "assignments", "inputs"} for every task-level run met so far (the metadata).
        self.runs: dict[int, dict[str, Any]] = {}

    def is_task_level(self, run_id: int, task: str) -> bool:
        """Whether run `run_id`'s inputs are the same for all its assignments (and so left out of unit rows)."""
        known = self._checked.get(run_id)
        if known is not None:
            return known
        regular = (Assignment.task_run == run_id) & Assignment.gold_index.is_null()
        query = Assignment.select(pw.fn.COUNT(Assignment.id), pw.fn.COUNT(Assignment.inputs.distinct())).where(regular)
        sql, params = query.sql()
        assignments, distinct = self.database.db.execute_sql(sql, params).fetchone()
        shared = int(assignments) >= 2 and int(distinct) == 1
        if shared:
            sql, params = Assignment.select(Assignment.inputs).where(regular).limit(1).sql()
            (raw,) = self.database.db.execute_sql(sql, params).fetchone()
            self.runs[run_id] = {"task": task, "assignments": int(assignments), "inputs": json_value(raw)}
        self._checked[run_id] = shared
        return shared
