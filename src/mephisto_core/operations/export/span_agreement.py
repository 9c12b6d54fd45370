"""Agreement and aggregation for span and numeric answers (`mephisto export --agreement / --aggregate`).

The general agreement table (operations/review/agreement.py) compares whole answers: two span lists agree only
when they are identical, and a Likert point is one category among others. This module adds the measures those
answers need; definitions (also in docs/export.md):

- **Span field**: every non-null value is a list of objects with integer `start` and `end` (character offsets,
  end exclusive) and a string `label`, and at least one such object exists (the annotate blueprint's spans).
- **Character overlap agreement** of two units: the labelled characters each marked, as sets of (character,
  label); agreement = 2 |A ∩ B| / (|A| + |B|) (Dice; 1 when neither marked anything). `percent` is its mean over
  the unit pairs of an assignment, then over assignments, times 100 (the same averaging as percent agreement).
- **Token overlap agreement**: the same with whitespace-separated tokens instead of characters (a span covers
  every token it touches); the tokens come from the input text the spans point into (the input string whose
  slices equal every span's `text`). `token_percent` is None when no input holds the text.
- **Exact span agreement**: the same Dice over whole spans (start, end, label): `exact_percent`.
- **Span aggregation**: a character gets a label when more than half of the assignment's units marked it with
  that label; runs of such characters become the aggregated spans.
- **Numeric field** (Likert points, slider values): every non-null value is a number (not a boolean).
  Agreement adds `interval_alpha` (Krippendorff's alpha, interval level) and `mean_absolute_difference` (over
  the unit pairs of each assignment, then assignments); aggregation is the median (the lower one of an even
  count, so a Likert aggregate is a point that was given).
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from mephisto_core.operations.export.records import Answer, UnitRecord
from mephisto_core.operations.review.alpha import interval_alpha

_TOKEN = re.compile(r"\S+")
SPAN_RULE = "characters more than half of the units marked"


@dataclass
class _Field:
    spans: bool = True
    numeric: bool = True
    seen_span: bool = False
    # assignment id -> its units' values, in the order they came
    by_assignment: dict[int, list[Any]] = field(default_factory=dict)


class SpanTable:
    """Span and numeric answers of every unit, collected record by record (see the module doc)."""

    def __init__(self) -> None:
        self._fields: dict[str, _Field] = {}
        # assignment id -> its inputs, which hold the text spans point into (its units share them)
        self._inputs: dict[int, Any] = {}

    @classmethod
    def from_records(cls, records: Iterable[UnitRecord]) -> SpanTable:
        table = cls()
        for record in records:
            table.add(record)
        return table

    def add(self, record: UnitRecord | Answer) -> None:
        """Take the record's span and numeric outputs (screening and gold units, unit_index < 0, add nothing).

        An `Answer` has no inputs: give the span fields' texts afterwards (`inputs_wanted`, `add_inputs`).
        """
        if record.unit_index < 0 or not isinstance(record.outputs, dict):
            return
        for name, value in record.outputs.items():
            if value is None:
                continue
            entry = self._fields.setdefault(name, _Field())
            if entry.spans:
                entry.spans = _is_span_list(value)
                entry.seen_span = entry.seen_span or (entry.spans and bool(value))
            if entry.numeric:
                entry.numeric = isinstance(value, int | float) and not isinstance(value, bool)
            if entry.spans or entry.numeric:
                entry.by_assignment.setdefault(record.assignment_id, []).append(value)
                if entry.spans and isinstance(record, UnitRecord):  # the text is only needed for spans
                    self._inputs.setdefault(record.assignment_id, record.inputs)
            else:
                entry.by_assignment.clear()

    def inputs_wanted(self) -> list[int]:
        """The assignments of span answers whose inputs this table was not given (it was given `Answer`s)."""
        wanted = {
            assignment_id
            for name in self.span_fields()
            for assignment_id in self._fields[name].by_assignment
            if assignment_id not in self._inputs
        }
        return sorted(wanted)

    def add_inputs(self, inputs: Mapping[int, Any]) -> None:
        """Assignments' inputs, by assignment id (see `inputs_wanted`)."""
        self._inputs.update(inputs)

    def span_fields(self) -> list[str]:
        """Fields whose answers are span lists."""
        return [name for name, entry in self._fields.items() if entry.spans and entry.seen_span]

    def numeric_fields(self) -> list[str]:
        """Fields whose answers are numbers."""
        return [name for name, entry in self._fields.items() if entry.numeric]

    def update_agreement(self, numbers: dict[str, dict[str, Any]]) -> None:
        """Put the span measures in place of a span field's whole-answer numbers, and add the numeric ones."""
        for name in self.span_fields():
            pairs = self._pairable(name)
            if not pairs:
                continue
            numbers[name] = {
                "percent": _mean_over(pairs, _char_dice),
                "token_percent": _token_percent(pairs),
                "exact_percent": _mean_over(pairs, _exact_dice),
                "alpha": None,
                "assignments": len(pairs),
                "measure": "span overlap",
            }
        for name in self.numeric_fields():
            pairs = self._pairable(name)
            if not pairs or name not in numbers:
                continue
            values = [[float(value) for value, _ in units] for units in pairs]
            numbers[name]["mean_absolute_difference"] = statistics.fmean(
                statistics.fmean(abs(a - b) for a, b in combinations(units, 2)) for units in values
            )
            numbers[name]["interval_alpha"] = interval_alpha(values)

    def aggregate_entries(self, assignment_id: int) -> dict[str, dict[str, Any]]:
        """One assignment's aggregated span and numeric fields, each as {"answer", "answers", "rule"} (numeric
        ones also "mean"): the entries `mephisto export --aggregate` puts beside the categorical fields."""
        entries: dict[str, dict[str, Any]] = {}
        for name in self.span_fields():
            values = self._fields[name].by_assignment.get(assignment_id)
            if values:
                units = [(spans, self._inputs.get(assignment_id)) for spans in values]
                entries[name] = {"answer": majority_spans(units), "answers": len(units), "rule": SPAN_RULE}
        for name in self.numeric_fields():
            values = self._fields[name].by_assignment.get(assignment_id)
            if values:
                entries[name] = {
                    "answer": statistics.median_low(values),
                    "answers": len(values),
                    "rule": "median",
                    "mean": statistics.fmean(values),
                }
        return entries

    def _pairable(self, name: str) -> list[list[tuple[Any, Any]]]:
        """(value, the assignment's inputs) of each unit, per assignment with two or more."""
        entry = self._fields[name]
        return [
            [(value, self._inputs.get(assignment_id) if entry.spans else None) for value in values]
            for assignment_id, values in entry.by_assignment.items()
            if len(values) >= 2
        ]


def _is_span_list(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(span, dict)
        and isinstance(span.get("start"), int)
        and isinstance(span.get("end"), int)
        and isinstance(span.get("label"), str)
        for span in value
    )


def _dice(a: set[Any], b: set[Any]) -> float:
    if not a and not b:
        return 1.0
    return 2 * len(a & b) / (len(a) + len(b))


def _chars(spans: list[dict[str, Any]]) -> set[tuple[int, str]]:
    return {(index, span["label"]) for span in spans for index in range(span["start"], span["end"])}


def _char_dice(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> float:
    return _dice(_chars(a), _chars(b))


def _exact_dice(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> float:
    return _dice({(s["start"], s["end"], s["label"]) for s in a}, {(s["start"], s["end"], s["label"]) for s in b})


def _mean_over(pairs: list[list[tuple[Any, Any]]], measure: Any) -> float:
    """Mean over assignments of the mean over their unit pairs, times 100."""
    shares = [statistics.fmean(measure(a, b) for (a, _), (b, _) in combinations(units, 2)) for units in pairs]
    return 100.0 * statistics.fmean(shares)


def source_text(spans: list[dict[str, Any]], inputs: Any) -> str | None:
    """The input string every span's `text` is a slice of (None when there is none, or no span has text)."""
    if not isinstance(inputs, dict):
        return None
    with_text = [s for s in spans if isinstance(s.get("text"), str)]
    if not with_text:
        return None
    for value in inputs.values():
        if isinstance(value, str) and all(value[s["start"] : s["end"]] == s["text"] for s in with_text):
            return value
    return None


def _tokens(spans: list[dict[str, Any]], text: str) -> set[tuple[int, str]]:
    bounds = [match.span() for match in _TOKEN.finditer(text)]
    return {
        (number, span["label"])
        for span in spans
        for number, (start, end) in enumerate(bounds)
        if start < span["end"] and span["start"] < end
    }


def _token_percent(pairs: list[list[tuple[Any, Any]]]) -> float | None:
    shares = []
    for units in pairs:
        texts = [source_text(spans, inputs) for spans, inputs in units]
        text = next((t for t in texts if t is not None), None)
        if text is None:
            return None
        token_sets = [_tokens(spans, text) for spans, _ in units]
        shares.append(statistics.fmean(_dice(a, b) for a, b in combinations(token_sets, 2)))
    return 100.0 * statistics.fmean(shares)


def majority_spans(units: list[tuple[Any, Any]]) -> list[dict[str, Any]]:
    """The spans more than half of the units marked, character by character, merged into runs per label."""
    votes: Counter[tuple[int, str]] = Counter()
    text: str | None = None
    for spans, inputs in units:
        votes.update(_chars(spans))
        text = text if text is not None else source_text(spans, inputs) if spans else None
    kept = sorted((label, index) for (index, label), count in votes.items() if 2 * count > len(units))
    runs: list[dict[str, Any]] = []
    for label, index in kept:
        last = runs[-1] if runs else None
        if last is not None and last["label"] == label and last["end"] == index:
            last["end"] = index + 1
        else:
            runs.append({"start": index, "end": index + 1, "label": label})
    for run in runs:
        run["text"] = text[run["start"] : run["end"]] if text is not None else ""
    return sorted(runs, key=lambda run: (run["start"], run["end"], run["label"]))
