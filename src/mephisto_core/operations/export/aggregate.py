"""`mephisto export --aggregate`: one row per item (assignment) with, per categorical output field, the answer,
its number of votes, how sure it is, and whether it is a tie.

- `majority` counts the answers itself (no extra package): the answer with the most votes; `agreement` is its
  votes / the answers given. Two or more answers with the top count are a **tie**: `answer` is null and `tied`
  lists them (sorted by their JSON text), so a tie is never silently broken.
- `ds` (Dawid-Skene) and `mace` (MACE) come from crowd-kit (`mephisto-core[agreement]`): `confidence` is the
  model's probability of the answer; answers within 1e-9 of the top probability are a tie, reported the same way.

Span lists (the annotate blueprint) and numbers (Likert scales) are aggregated by `span_agreement.SpanTable`
(majority spans, median), as `{"answer", "answers", "rule"}` beside the categorical fields.

Only units with `unit_index >= 0` and a non-null answer count; which fields are categorical is decided as for
`--agreement` (operations.review.agreement: booleans or short strings, at most 50 distinct values).
"""

from __future__ import annotations

import json
import math
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from mephisto_core.errors import MephistoError
from mephisto_core.operations.export.records import UnitRecord
from mephisto_core.operations.export.span_agreement import SpanTable
from mephisto_core.operations.review.agreement import (
    INSTALL_HINT,
    MAX_CATEGORIES,
    AgreementUnavailable,
    is_category,
)

AGGREGATE_METHODS = ("majority", "ds", "mace")
#: Two model probabilities closer than this are equal: a tie.
TIE_TOLERANCE = 1e-9


@dataclass
class _Item:
    task: str
    task_run_id: int
    inputs: Any
    units: int = 0
    answers: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # field -> [(worker, answer key)]


@dataclass
class _Field:
    values: dict[str, Any] = field(default_factory=dict)  # canonical JSON text -> the value
    categorical: bool = True


class ItemAggregator:
    """Collects every unit's answers by assignment, then yields one aggregated row per assignment."""

    def __init__(self, method: str) -> None:
        if method not in AGGREGATE_METHODS:
            raise MephistoError(f"aggregate {method!r} is not known; use one of {', '.join(AGGREGATE_METHODS)}")
        self.method = method
        self._items: dict[int, _Item] = {}
        self._fields: dict[str, _Field] = {}
        self._spans = SpanTable()  # span lists and numbers (annotate, Likert): their own rules

    def add(self, record: UnitRecord, inputs: Any) -> None:
        """Take one unit (`inputs` as the row should show them: None when they are task-level)."""
        if record.unit_index < 0:
            return  # screening and gold units are not answers to the item
        self._spans.add(record)
        item = self._items.get(record.assignment_id)
        if item is None:
            item = self._items[record.assignment_id] = _Item(record.task, record.task_run_id, inputs)
        if not isinstance(record.outputs, dict):
            return
        item.units += 1
        worker = f"w{record.worker_db_id}" if record.worker_db_id is not None else f"u{record.unit_id}"
        for name, value in record.outputs.items():
            if value is None:
                continue
            known = self._fields.setdefault(name, _Field())
            key = json.dumps(value, sort_keys=True, ensure_ascii=False)
            known.values.setdefault(key, value)
            if known.categorical and not is_category(value):
                known.categorical = False
            item.answers.setdefault(name, []).append((worker, key))

    def categorical_fields(self) -> list[str]:
        return [n for n, f in self._fields.items() if f.categorical and len(f.values) <= MAX_CATEGORIES]

    def rows(self) -> Iterator[dict[str, Any]]:
        """One export object per assignment, in assignment-id order."""
        fields = self.categorical_fields()
        probabilities = {name: self._model_probabilities(name) for name in fields} if self.method != "majority" else {}
        for assignment_id in sorted(self._items):
            item = self._items[assignment_id]
            aggregated: dict[str, Any] = {}
            for name in fields:
                answers = item.answers.get(name)
                if not answers:
                    continue
                votes = Counter(key for _, key in answers)
                if self.method == "majority":
                    aggregated[name] = self._majority(name, votes)
                else:
                    aggregated[name] = self._modelled(name, votes, probabilities[name].get(assignment_id, {}))
            aggregated.update(self._spans.aggregate_entries(assignment_id))
            yield {
                "task": item.task,
                "task_run_id": item.task_run_id,
                "assignment_id": assignment_id,
                "inputs": item.inputs,
                "units": item.units,
                "method": self.method,
                "aggregate": aggregated,
            }

    def _majority(self, name: str, votes: Counter[str]) -> dict[str, Any]:
        total = sum(votes.values())
        top = max(votes.values())
        winners = sorted(key for key, count in votes.items() if count == top)
        return self._result(name, winners, top, total, "agreement", round(top / total, 4))

    def _modelled(self, name: str, votes: Counter[str], probs: dict[str, float]) -> dict[str, Any]:
        total = sum(votes.values())
        best = max(probs.values()) if probs else 0.0
        winners = sorted(key for key, p in probs.items() if best - p <= TIE_TOLERANCE)
        top_votes = votes.get(winners[0], 0) if len(winners) == 1 else max(votes.get(w, 0) for w in winners)
        return self._result(name, winners, top_votes, total, "confidence", round(best, 4))

    def _result(
        self, name: str, winners: list[str], top: int, total: int, measure: str, amount: float
    ) -> dict[str, Any]:
        values = self._fields[name].values
        tie = len(winners) > 1
        return {
            "answer": None if tie else values[winners[0]],
            "votes": top,
            "answers": total,
            measure: amount,
            "tie": tie,
            "tied": [values[key] for key in winners] if tie else [],
        }

    def _model_probabilities(self, name: str) -> dict[int, dict[str, float]]:
        """{assignment_id: {answer key: probability}} of crowd-kit's model for one field."""
        try:
            import pandas as pd
            from crowdkit.aggregation import MACE, DawidSkene
        except ImportError as exc:
            raise AgreementUnavailable(f"--aggregate {self.method} needs crowd-kit: {INSTALL_HINT}") from exc
        rows = [
            (assignment_id, worker, key)
            for assignment_id, item in self._items.items()
            for worker, key in item.answers.get(name, [])
        ]
        if not rows:
            return {}
        data = pd.DataFrame(rows, columns=["task", "worker", "label"])
        model: Any = DawidSkene(n_iter=100) if self.method == "ds" else MACE(n_restarts=3, n_iter=50, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # crowd-kit's own pandas warnings are not the user's to act on
            table = model.fit_predict_proba(data)
        return {
            int(task): {str(label): float(p) for label, p in probs.items() if not math.isnan(p)}
            for task, probs in table.iterrows()
        }


def aggregate_rows(records: Iterable[tuple[UnitRecord, Any]], method: str) -> list[dict[str, Any]]:
    """Convenience for scripts: (record, inputs) pairs in, one aggregated row per assignment out."""
    aggregator = ItemAggregator(method)
    for record, inputs in records:
        aggregator.add(record, inputs)
    return list(aggregator.rows())
