"""Agreement between workers on the same assignment, and aggregated answers per assignment.

Used by `mephisto export --agreement / --aggregate` and by the review app. The data is collected in one pass
into an `AnswerTable` (one compact row per unit and output field), so exports of any size stay in memory budget.

Definitions (also in docs/export.md):

- Only units with `unit_index >= 0` count (screening and gold units are not part of an assignment's answers),
  and only units whose outputs have the field with a value that is not null.
- **Percent agreement** of a field: for each assignment with at least two such units, the share of its unordered
  unit pairs that gave the same value; then the mean of those shares over the assignments, times 100. Values are
  the same when their JSON texts (keys sorted) are equal.
- **Krippendorff's alpha** (nominal) of a field, computed by the `krippendorff` package with assignments as
  units and unit indexes as coders (nominal alpha depends only on the values pooled within each assignment, so
  which coder gave a value does not change it; the package is given those pooled counts). None when it is
  undefined (a single value across all the data) or when assignments x distinct values exceed 5 million
  (free text, where the computation would need gigabytes and the number would mean little).
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
from mephisto_core.operations.export.records import UnitRecord

#: A string longer than this is free text, not a category.
MAX_CATEGORY_LENGTH = 100
#: A field with more distinct values than this is not a set of choices (and crowd-kit's tables grow with it).
MAX_CATEGORIES = 50
AGGREGATION_METHODS = ("majority", "ds", "mace")
#: Above this many assignments x distinct values, alpha is not computed (None): the field is free text.
MAX_ALPHA_CELLS = 5_000_000
INSTALL_HINT = "pip install 'mephisto-core[agreement]'"


class AgreementUnavailable(MephistoError):
    """An optional package that agreement or aggregation needs (krippendorff, crowd-kit) is not installed."""


@dataclass(slots=True)
class _Answer:
    assignment_id: int
    unit_index: int
    worker: str  # who answered, as crowd-kit's `worker` column: the worker's row id, else the unit's
    key: str  # the value's canonical JSON text: what "same answer" compares


@dataclass
class _FieldAnswers:
    answers: list[_Answer] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)  # canonical text -> the value itself
    categorical: bool = True


class AnswerTable:
    """Every unit's answer to every output field, collected record by record."""

    def __init__(self) -> None:
        self._fields: dict[str, _FieldAnswers] = {}

    @classmethod
    def from_records(cls, records: Iterable[UnitRecord]) -> AnswerTable:
        table = cls()
        for record in records:
            table.add(record)
        return table

    def add(self, record: UnitRecord) -> None:
        """Take the record's output fields (a record without outputs, or a screening/gold unit, adds nothing)."""
        if record.unit_index < 0 or not isinstance(record.outputs, dict):
            return
        worker = f"w{record.worker_db_id}" if record.worker_db_id is not None else f"u{record.unit_id}"
        for name, value in record.outputs.items():
            if value is None:
                continue
            answers = self._fields.setdefault(name, _FieldAnswers())
            key = json.dumps(value, sort_keys=True, ensure_ascii=False)
            answers.values.setdefault(key, value)
            answers.answers.append(_Answer(record.assignment_id, record.unit_index, worker, key))
            if answers.categorical and not is_category(value):
                answers.categorical = False

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
            by_assignment = _group_keys(answers.answers)
            shares = [_pair_share(keys) for keys in by_assignment.values() if len(keys) >= 2]
            if not shares:
                continue
            result[name] = {
                "percent": 100.0 * sum(shares) / len(shares),
                "alpha": _nominal_alpha(answers.answers),
                "assignments": len(shares),
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
            for assignment_id, key in _crowdkit_labels(answers.answers, method).items():
                aggregated.setdefault(assignment_id, {})[name] = answers.values[key]
        return aggregated


def is_category(value: Any) -> bool:
    """Whether a single answer looks like a choice: a boolean, or a string of at most 100 characters."""
    return isinstance(value, bool) or (isinstance(value, str) and len(value) <= MAX_CATEGORY_LENGTH)


def field_agreement(records: Iterable[UnitRecord]) -> dict[str, dict[str, Any]]:
    """Percent agreement (0-100) and nominal Krippendorff's alpha per output field, with how many
    assignments (of two or more answering units) each is based on: `{field: {"percent", "alpha", "assignments"}}`.

    Fields no assignment answered twice are left out. Needs the `krippendorff` package.
    """
    return AnswerTable.from_records(records).agreement()


def aggregate_answers(records: Iterable[UnitRecord], method: str) -> dict[int, dict[str, Any]]:
    """One aggregated answer per assignment and categorical field: `{assignment_id: {field: value}}`.

    `method` is "majority" (MajorityVote), "ds" (Dawid-Skene) or "mace" (MACE), all from crowd-kit.
    """
    return AnswerTable.from_records(records).aggregate(method)


def _group_keys(answers: list[_Answer]) -> dict[int, list[str]]:
    grouped: dict[int, list[str]] = {}
    for answer in answers:
        grouped.setdefault(answer.assignment_id, []).append(answer.key)
    return grouped


def _pair_share(keys: list[str]) -> float:
    """Agreeing pairs / all pairs: a value given by k units makes k(k-1)/2 agreeing pairs among n(n-1)/2."""
    n = len(keys)
    agreeing = sum(k * (k - 1) for k in Counter(keys).values())
    return agreeing / (n * (n - 1))


def _nominal_alpha(answers: list[_Answer]) -> float | None:
    try:
        import krippendorff
        import numpy as np
    except ImportError as exc:
        raise AgreementUnavailable(f"Krippendorff's alpha needs the krippendorff package: {INSTALL_HINT}") from exc
    # Only assignments with two or more values are pairable; the others add nothing to the coincidence matrix.
    by_assignment = _group_keys(answers)
    pairable = [keys for keys in by_assignment.values() if len(keys) >= 2]
    codes: dict[str, int] = {}
    for keys in pairable:
        for key in keys:
            codes.setdefault(key, len(codes))
    if len(codes) < 2:
        return None  # one value everywhere: expected disagreement is 0 and alpha is undefined
    if len(pairable) * len(codes) > MAX_ALPHA_CELLS:
        return None  # free text: the package's assignments x values table would need gigabytes
    # The package's `value_counts` form (assignments x values: how many units gave each value) is the
    # reliability data with coders already summed out, which is all nominal alpha depends on.
    counts = np.zeros((len(pairable), len(codes)), dtype=np.int64)
    for row, keys in enumerate(pairable):
        for key in keys:
            counts[row, codes[key]] += 1
    return float(krippendorff.alpha(value_counts=counts, level_of_measurement="nominal"))


def _crowdkit_labels(answers: list[_Answer], method: str) -> dict[int, str]:
    try:
        import pandas as pd
        from crowdkit.aggregation import MACE, DawidSkene, MajorityVote
    except ImportError as exc:
        raise AgreementUnavailable(f"--aggregate {method} needs crowd-kit: {INSTALL_HINT}") from exc
    if not answers:
        return {}
    data = pd.DataFrame(
        {
            "task": [a.assignment_id for a in answers],
            "worker": [a.worker for a in answers],
            "label": [a.key for a in answers],
        }
    )
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
