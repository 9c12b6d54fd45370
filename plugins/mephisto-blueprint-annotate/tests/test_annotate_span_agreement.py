"""Span agreement and aggregation (operations/export/span_agreement.py) on a worked example, numbers by hand."""

from __future__ import annotations

from typing import Any

import pytest

from mephisto_core.operations.export.records import UnitRecord
from mephisto_core.operations.export.span_agreement import SpanTable, majority_spans

TEXT = "the cat sat on the mat"  # tokens: the 0-3, cat 4-7, sat 8-11, on 12-14, the 15-18, mat 19-22
CAT = {"start": 4, "end": 7, "label": "animal", "text": "cat"}
CAT_SAT = {"start": 4, "end": 11, "label": "animal", "text": "cat sat"}
MAT = {"start": 19, "end": 22, "label": "object", "text": "mat"}


def _record(unit_id: int, assignment: int, outputs: dict[str, Any], unit_index: int = 0) -> UnitRecord:
    return UnitRecord(
        unit_id=unit_id,
        task="t",
        task_run_id=1,
        assignment_id=assignment,
        unit_index=unit_index,
        status="completed",
        worker_id=f"w{unit_id}",
        worker_db_id=unit_id,
        agent_id=unit_id,
        inputs={"id": "x", "text": TEXT},
        outputs=outputs,
        started_at=None,
        submitted_at=None,
    )


def _table() -> SpanTable:
    return SpanTable.from_records(
        [
            _record(1, 1, {"spans": [CAT], "sure": 2, "label": "pos"}),
            _record(2, 1, {"spans": [CAT_SAT], "sure": 4, "label": "pos"}),
            _record(3, 1, {"spans": [], "sure": 3, "label": "neg"}),
            _record(4, 2, {"spans": [MAT], "sure": 5, "label": "pos"}),
            _record(5, 2, {"spans": [MAT], "sure": 5, "label": "pos"}),
            _record(6, 2, {"spans": [CAT], "sure": 1}, unit_index=-1),  # a gold unit: never counted
        ]
    )


def test_fields_are_recognised_by_their_answers():
    table = _table()
    assert table.span_fields() == ["spans"]
    assert table.numeric_fields() == ["sure"]


def test_span_agreement_worked_example():
    # Assignment 1, characters: cat vs cat-sat: 2*3/(3+7) = 0.6; each against nothing: 0 -> mean 0.2.
    # Assignment 2: identical -> 1. percent = 100 * (0.2 + 1) / 2 = 60.
    # Tokens: {cat} vs {cat, sat}: 2*1/3; mean (2/3)/3 = 2/9; (2/9 + 1) / 2 = 61.1 %.
    # Exact spans: assignment 1 has no two equal spans (0), assignment 2 agrees (1) -> 50 %.
    numbers: dict[str, dict[str, Any]] = {"sure": {"percent": 100 / 6, "alpha": 0.1, "assignments": 2}}
    _table().update_agreement(numbers)
    spans = numbers["spans"]
    assert spans["percent"] == pytest.approx(60.0)
    assert spans["token_percent"] == pytest.approx(100 * (2 / 9 + 1) / 2)
    assert spans["exact_percent"] == pytest.approx(50.0)
    assert spans["assignments"] == 2 and spans["alpha"] is None and spans["measure"] == "span overlap"
    # Likert: |2-4|, |2-3|, |4-3| -> 4/3 in assignment 1, 0 in assignment 2 -> 2/3.
    assert numbers["sure"]["mean_absolute_difference"] == pytest.approx(2 / 3)
    assert numbers["sure"]["percent"] == pytest.approx(100 / 6)  # the general numbers are kept


def test_interval_alpha_matches_the_package_on_reliability_data():
    krippendorff = pytest.importorskip("krippendorff")
    import numpy as np

    numbers: dict[str, dict[str, Any]] = {"sure": {"percent": 0.0, "alpha": None, "assignments": 2}}
    _table().update_agreement(numbers)
    nan = np.nan
    data = np.array([[2, 5], [4, 5], [3, nan]])  # coders x assignments
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement="interval")
    assert numbers["sure"]["interval_alpha"] == pytest.approx(expected)


def test_aggregation_keeps_characters_most_units_marked_and_takes_the_lower_median():
    table = _table()
    first, second = table.aggregate_entries(1), table.aggregate_entries(2)
    # cat: 2 of 3 units; " sat": 1 of 3 -> only "cat" is kept. Likert 2, 4, 3 -> 3; 5, 5 -> 5.
    assert first["spans"] == {"answer": [CAT], "answers": 3, "rule": "characters more than half of the units marked"}
    assert first["sure"] == {"answer": 3, "answers": 3, "rule": "median", "mean": 3.0}
    assert second["spans"]["answer"] == [MAT] and second["sure"]["answer"] == 5
    assert "label" not in first  # categorical fields are the general aggregator's


def test_majority_spans_merge_runs_per_label_and_keep_overlaps_of_other_labels():
    other = {"start": 4, "end": 11, "label": "action", "text": "cat sat"}
    units = [([CAT_SAT, other], {"text": TEXT}), ([CAT_SAT, other], {"text": TEXT}), ([], {"text": TEXT})]
    assert majority_spans(units) == [other, CAT_SAT]


def test_a_field_with_any_non_span_value_is_not_a_span_field():
    table = SpanTable.from_records([_record(1, 1, {"spans": [CAT]}), _record(2, 1, {"spans": "cat"})])
    assert table.span_fields() == [] and table.numeric_fields() == []
