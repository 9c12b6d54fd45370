"""Agreement between workers on the same assignment, and aggregated answers per assignment.

Used by `mephisto export --agreement / --aggregate` and by the review app. The data is collected in one pass
into an `AnswerTable` (one compact row per unit and output field), so exports of any size stay in memory budget.

Definitions (also in docs/export.md):

- Only units with `unit_index >= 0` count (screening and gold units are not part of an assignment's answers),
  and only units whose outputs have the field with a value that is not null.
- **Percent agreement** of a field: for each assignment with at least two such units, the share of its unordered
  unit pairs that gave the same value; then the mean of those shares over the assignments, times 100. Values are
  the same when their JSON texts (keys sorted) are equal.
- **Krippendorff's alpha** (nominal) of a field, with assignments as units and unit indexes as coders (nominal
  alpha depends only on the values pooled within each assignment, so which coder gave a value does not change
  it), computed in one pass over the answers (`alpha.nominal_alpha`). None when it is undefined (a single value
  across all the data).
- **Categorical field**: every value of the field, across the units given, is a boolean or a string of at most
  100 characters (longer strings are free text), and the field has at most 50 distinct values (more is an
  identifier or short free text, not a set of choices). Only categorical fields are aggregated.
- **Aggregation** per categorical field with crowd-kit: MajorityVote, DawidSkene (100 iterations) or MACE (best
  of 3 seeded restarts of 50 iterations),
  each giving answer probabilities per assignment; the most probable answer wins, and a tie goes to the answer
  whose JSON text sorts first (so `"bird"` before `"cat"`, `false` before `true`).
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mephisto_core.errors import MephistoError
from mephisto_core.operations.export.records import Answer, UnitRecord
from mephisto_core.operations.review.alpha import nominal_alpha

#: A string longer than this is free text, not a category.
MAX_CATEGORY_LENGTH = 100
#: A field with more distinct values than this is not a set of choices (and crowd-kit's tables grow with it).
MAX_CATEGORIES = 50
AGGREGATION_METHODS = ("majority", "ds", "mace")
INSTALL_HINT = "pip install 'mephisto-core[agreement]'"


class AgreementUnavailable(MephistoError):
    """crowd-kit, which the `ds` and `mace` aggregations need, is not installed."""


#: The value's JSON text with keys sorted: what "the same answer" compares (`json.dumps` with these options, without
#: building an encoder per call, which took most of a dumps of a short string).
_canonical_text = json.JSONEncoder(sort_keys=True, ensure_ascii=False).encode


@dataclass
class _FieldAnswers:
    """One output field's answers, a column each (the rows of crowd-kit's table)."""

    assignments: list[int] = field(default_factory=list)
    workers: list[str] = field(default_factory=list)  # crowd-kit's `worker`: the worker's row id, else the unit's
    keys: list[str] = field(default_factory=list)  # each value's canonical JSON text: what "same answer" compares
    values: dict[str, Any] = field(default_factory=dict)  # canonical text -> the value itself
    categorical: bool = True

    def pairable(self) -> list[list[str]]:
        """The answers of each assignment that has two or more: the only ones with pairs to compare."""
        grouped: dict[int, list[str]] = {}
        for assignment_id, key in zip(self.assignments, self.keys, strict=True):
            keys = grouped.get(assignment_id)
            if keys is None:
                grouped[assignment_id] = [key]
            else:
                keys.append(key)
        return [keys for keys in grouped.values() if len(keys) >= 2]


class AnswerTable:
    """Every unit's answer to every output field, collected record by record."""

    def __init__(self) -> None:
        self._fields: dict[str, _FieldAnswers] = {}
        # The canonical texts of the short scalars seen: the same few choices come back on every unit (long
        # strings are free text, seldom seen twice). Keyed by type too, as True == 1 for a dict.
        self._texts: dict[tuple[type, Any], str] = {}

    @classmethod
    def from_records(cls, records: Iterable[UnitRecord | Answer]) -> AnswerTable:
        table = cls()
        for record in records:
            table.add(record)
        return table

    def add(self, record: UnitRecord | Answer) -> None:
        """Take the record's output fields (a record without outputs, or a screening/gold unit, adds nothing)."""
        if record.unit_index < 0 or not isinstance(record.outputs, dict):
            return
        worker = f"w{record.worker_db_id}" if record.worker_db_id is not None else f"u{record.unit_id}"
        for name, value in record.outputs.items():
            if value is None:
                continue
            answers = self._fields.get(name)
            if answers is None:
                answers = self._fields[name] = _FieldAnswers()
            if isinstance(value, bool | int) or (isinstance(value, str) and len(value) <= MAX_CATEGORY_LENGTH):
                key = self._texts.get((type(value), value))
                if key is None:
                    key = self._texts[type(value), value] = _canonical_text(value)
            else:
                key = _canonical_text(value)
            if key not in answers.values:
                answers.values[key] = value
                if answers.categorical and not is_category(value):
                    answers.categorical = False
            answers.assignments.append(record.assignment_id)
            answers.workers.append(worker)
            answers.keys.append(key)

    @property
    def fields(self) -> list[str]:
        """Output fields in first-seen order."""
        return list(self._fields)

    def categorical_fields(self) -> list[str]:
        """Fields whose every value is a boolean or a string of at most 100 characters, with at most 50 values."""
        return [
            name
            for name, answers in self._fields.items()
            if answers.categorical and len(answers.values) <= MAX_CATEGORIES
        ]

    def agreement(self) -> dict[str, dict[str, Any]]:
        """{field: {"percent", "alpha", "assignments"}} for each field that some assignment answered twice."""
        result: dict[str, dict[str, Any]] = {}
        for name, answers in self._fields.items():
            pairable = answers.pairable()
            if not pairable:
                continue
            result[name] = {
                "percent": 100.0 * sum(_pair_share(keys) for keys in pairable) / len(pairable),
                "alpha": nominal_alpha(pairable),
                "assignments": len(pairable),
            }
        return result

    def aggregate(self, method: str) -> dict[int, dict[str, Any]]:
        """{assignment_id: {field: aggregated value}} for every categorical field, by `method` (see module doc)."""
        if method not in AGGREGATION_METHODS:
            raise MephistoError(
                f"aggregation method {method!r} is not known; use one of {', '.join(AGGREGATION_METHODS)}"
            )
        aggregated: dict[int, dict[str, Any]] = {}
        for name in self.categorical_fields():
            answers = self._fields[name]
            for assignment_id, key in _crowdkit_labels(answers, method).items():
                aggregated.setdefault(assignment_id, {})[name] = answers.values[key]
        return aggregated


def is_category(value: Any) -> bool:
    """Whether a single answer looks like a choice: a boolean, or a string of at most 100 characters."""
    return isinstance(value, bool) or (isinstance(value, str) and len(value) <= MAX_CATEGORY_LENGTH)


def field_agreement(records: Iterable[UnitRecord | Answer]) -> dict[str, dict[str, Any]]:
    """Percent agreement (0-100) and nominal Krippendorff's alpha per output field, with how many
    assignments (of two or more answering units) each is based on: `{field: {"percent", "alpha", "assignments"}}`.

    Fields no assignment answered twice are left out.
    """
    return AnswerTable.from_records(records).agreement()


def aggregate_answers(records: Iterable[UnitRecord], method: str) -> dict[int, dict[str, Any]]:
    """One aggregated answer per assignment and categorical field: `{assignment_id: {field: value}}`.

    `method` is "majority" (MajorityVote), "ds" (Dawid-Skene) or "mace" (MACE), all from crowd-kit.
    """
    return AnswerTable.from_records(records).aggregate(method)


def _pair_share(keys: list[str]) -> float:
    """Agreeing pairs / all pairs: a value given by k units makes k(k-1)/2 agreeing pairs among n(n-1)/2."""
    n = len(keys)
    distinct = len(set(keys))
    if distinct == n:  # the usual cases, without counting
        return 0.0
    if distinct == 1:
        return 1.0
    agreeing = sum(k * (k - 1) for k in Counter(keys).values())
    return agreeing / (n * (n - 1))


def _crowdkit_labels(answers: _FieldAnswers, method: str) -> dict[int, str]:
    try:
        import pandas as pd
        from crowdkit.aggregation import MACE, DawidSkene, MajorityVote
    except ImportError as exc:
        raise AgreementUnavailable(f"--aggregate {method} needs crowd-kit: {INSTALL_HINT}") from exc
    if not answers.keys:
        return {}
    data = pd.DataFrame({"task": answers.assignments, "worker": answers.workers, "label": answers.keys})
    # MACE and Dawid-Skene start from seeded or deterministic estimates, so the same data gives the same answers.
    # MACE keeps the best of 3 restarts rather than crowd-kit's 10: each restart costs as much as a whole
    # Dawid-Skene fit, and on crowdsourcing data the best restart is nearly always among the first few.
    model: Any
    if method == "majority":
        model = MajorityVote()
    elif method == "ds":
        model = DawidSkene(n_iter=100)
    else:
        model = MACE(n_restarts=3, n_iter=50, random_state=0)
    with warnings.catch_warnings():
        # crowd-kit's own pandas deprecation and performance warnings are not the user's to act on.
        warnings.simplefilter("ignore")
        probabilities = model.fit_predict_proba(data)
    # crowd-kit breaks ties by column order, which follows the data; ordering the columns by answer text first
    # makes a tie go to the answer whose JSON text sorts first, whatever order the units came in.
    probabilities = probabilities[sorted(probabilities.columns)]
    labels = probabilities.idxmax(axis="columns")
    return {int(task): str(label) for task, label in labels.items()}
