"""Agreement and aggregation, checked against numbers worked out by hand for a small example.

The example: three assignments with three units each (workers w0, w1, w2 by unit index) and one assignment
with a single unit (w0). Field `label`:

    A1: cat, cat, dog      A2: dog, dog, dog      A3: cat, dog, bird      A4: cat

Field `sure`:

    A1: true, true, true   A2: true, false, true  A3: false, false, false A4: false

Field `comment` holds free text longer than 100 characters in one unit, so it is not categorical.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from itertools import permutations
from pathlib import Path
from typing import Any

import pytest
from export_helpers import ExportRows, export_ok, run_mephisto

from mephisto_core.data_model import Database
from mephisto_core.errors import MephistoError
from mephisto_core.operations.data_browser import DataBrowser, UnitRecord
from mephisto_core.operations.export.plan import export_agreement
from mephisto_core.operations.export.span_agreement import SpanTable
from mephisto_core.operations.review.agreement import (
    AnswerTable,
    aggregate_answers,
    field_agreement,
    is_category,
)
from mephisto_core.operations.unit_filters import UnitQuery

LABELS = {"A1": ["cat", "cat", "dog"], "A2": ["dog", "dog", "dog"], "A3": ["cat", "dog", "bird"], "A4": ["cat"]}
SURE = {"A1": [True, True, True], "A2": [True, False, True], "A3": [False, False, False], "A4": [False]}
LONG_TEXT = "a thoughtful comment " * 6  # 126 characters: free text


def _build(rows: ExportRows) -> dict[str, int]:
    """The example above; returns the assignment ids by name."""
    run = rows.run(rows.task("labels"))
    ids = {}
    for name, labels in LABELS.items():
        assignment = rows.assignment(run, item=name)
        ids[name] = assignment.id
        for index, label in enumerate(labels):
            outputs = {"label": label, "sure": SURE[name][index], "comment": LONG_TEXT if index == 2 else "ok"}
            rows.submitted(assignment, index, f"w{index}", outputs)
    return ids


def _alpha_by_coincidence_matrix(units: list[list[Any]]) -> float:
    """Krippendorff's nominal alpha from the textbook definition (Krippendorff 2011, "Computing Krippendorff's
    Alpha-Reliability"): o_ck = sum over units u of (number of ordered pairs (c, k) in u) / (m_u - 1), using only
    units with m_u >= 2 values; n_c = sum_k o_ck; n = sum_c n_c; D_o = sum_{c != k} o_ck / n;
    D_e = sum_{c != k} n_c n_k / (n (n - 1)); alpha = 1 - D_o / D_e."""
    o: Counter[tuple[Any, Any]] = Counter()
    for values in units:
        m = len(values)
        if m < 2:
            continue
        for c, k in permutations(values, 2):
            o[(c, k)] += 1 / (m - 1)
    categories = sorted({c for c, _ in o}, key=str)
    n_c = {c: sum(o[(c, k)] for k in categories) for c in categories}
    n = sum(n_c.values())
    d_o = sum(v for (c, k), v in o.items() if c != k) / n
    d_e = sum(n_c[c] * n_c[k] for c in categories for k in categories if c != k) / (n * (n - 1))
    return 1 - d_o / d_e


def test_hand_worked_alpha_matches_the_coincidence_matrix_formula() -> None:
    # label: o(cat,cat)=1, o(cat,dog)=o(dog,cat)=1 (A1) + 0.5 (A3), o(dog,dog)=3 (A2), the bird pairs 0.5 each
    # (A3). n_cat=3, n_dog=5, n_bird=1, n=9. D_o=5/9, D_e=2*(15+3+5)/72=46/72, alpha=1-(5/9)/(46/72)=3/23.
    assert _alpha_by_coincidence_matrix(list(LABELS.values())) == pytest.approx(3 / 23)
    # sure: o(T,T)=3+1, o(T,F)=o(F,T)=1, o(F,F)=3; n_T=5, n_F=4, n=9. D_o=2/9, D_e=40/72, alpha=1-0.4=0.6.
    assert _alpha_by_coincidence_matrix(list(SURE.values())) == pytest.approx(0.6)


def test_field_agreement_gives_percent_and_alpha_worked_out_by_hand(database: Database, rows: ExportRows) -> None:
    _build(rows)
    numbers = field_agreement(DataBrowser(database).units())
    # Percent: mean over A1-A3 of the share of agreeing pairs (A4 has no pair). label: 1/3, 1, 0 -> 4/9.
    assert numbers["label"] == {
        "percent": pytest.approx(100 * 4 / 9),
        "alpha": pytest.approx(_alpha_by_coincidence_matrix(list(LABELS.values()))),
        "assignments": 3,
    }
    # sure: 1, 1/3, 1 -> 7/9.
    assert numbers["sure"]["percent"] == pytest.approx(100 * 7 / 9)
    assert numbers["sure"]["alpha"] == pytest.approx(0.6)
    # comment: "ok" twice and one long text in each of A1-A3: 1/3 of pairs agree everywhere.
    assert numbers["comment"]["percent"] == pytest.approx(100 / 3)


def test_alpha_is_none_when_every_answer_is_the_same(sqlite_rows: ExportRows, sqlite_database: Database) -> None:
    run = sqlite_rows.run(sqlite_rows.task("same"))
    for n in range(2):
        assignment = sqlite_rows.assignment(run, n=n)
        for index in range(2):
            sqlite_rows.submitted(assignment, index, f"w{index}", {"label": "yes"})
    assert field_agreement(DataBrowser(sqlite_database).units()) == {
        "label": {"percent": 100.0, "alpha": None, "assignments": 2}
    }


def test_agreement_on_the_command_line_as_table_and_json(rows: ExportRows) -> None:
    _build(rows)
    numbers = json.loads(export_ok("--agreement", "--format", "json"))
    assert numbers["label"]["percent"] == pytest.approx(100 * 4 / 9)
    assert numbers["label"]["alpha"] == pytest.approx(3 / 23)
    assert numbers["sure"]["alpha"] == pytest.approx(0.6)
    table = export_ok("--agreement", "--task", "labels")
    label_line = next(line for line in table.splitlines() if "label" in line and "%" in line)
    assert "44.4 %" in label_line and "0.130" in label_line and "yes" in label_line
    comment_line = next(line for line in table.splitlines() if "comment" in line and "%" in line)
    assert " no " in comment_line  # free text: not categorical


def test_agreement_without_repeated_assignments_says_why(sqlite_rows: ExportRows) -> None:
    run = sqlite_rows.run(sqlite_rows.task("single"))
    sqlite_rows.submitted(sqlite_rows.assignment(run, n=1), 0, "w0", {"label": "a"})
    assert "No assignment has two or more submitted units" in export_ok("--agreement")
    assert json.loads(export_ok("--agreement", "--format", "json")) == {}


# The one-row-per-assignment `--aggregate` export (votes, agreement, ties) is tested in test_export_analysis_r2.py.


@pytest.mark.parametrize("method", ["ds", "mace"])
def test_dawid_skene_and_mace_give_one_answer_per_assignment(
    sqlite_database: Database, sqlite_rows: ExportRows, method: str
) -> None:
    # SQLite only: the models see the same records whichever database they came from (the test above and the
    # data-browser tests cover PostgreSQL), and MACE is slow enough to run once.
    ids = _build(sqlite_rows)
    aggregated = aggregate_answers(DataBrowser(sqlite_database).units(), method)
    assert set(aggregated) == set(ids.values())
    for name, assignment_id in ids.items():
        assert set(aggregated[assignment_id]) == {"label", "sure"}
        assert aggregated[assignment_id]["label"] in LABELS[name]
        assert aggregated[assignment_id]["sure"] in SURE[name]
    # Unanimous assignments leave no doubt whatever the model.
    assert aggregated[ids["A2"]]["label"] == "dog" and aggregated[ids["A1"]]["sure"] is True


def _record(unit_id: int, outputs: dict[str, Any]) -> UnitRecord:
    return UnitRecord(
        unit_id=unit_id,
        task="t",
        task_run_id=1,
        assignment_id=unit_id,
        unit_index=0,
        status="completed",
        worker_id="w",
        worker_db_id=1,
        agent_id=unit_id,
        inputs={},
        outputs=outputs,
        started_at=None,
        submitted_at=None,
    )


def test_categorical_rule_booleans_short_strings_and_few_values() -> None:
    assert is_category(True) and is_category("x" * 100)
    assert not is_category("x" * 101) and not is_category(3) and not is_category(["a"])
    table = AnswerTable.from_records(
        _record(n, {"ident": f"id-{n}", "choice": "ab"[n % 2], "score": n, "skipped": None}) for n in range(51)
    )
    # 51 distinct values is an identifier, not a set of choices; numbers are not categories; null is no answer.
    assert table.categorical_fields() == ["choice"]
    assert table.fields == ["ident", "choice", "score"]
    with pytest.raises(MephistoError, match="aggregation method 'vote' is not known"):
        table.aggregate("vote")


def test_missing_optional_packages_name_the_extra_to_install_and_agreement_needs_none(
    rows: ExportRows, tmp_path: Path
) -> None:
    _build(rows)
    # Shadow both packages with modules that fail to import, as on an install without the extra.
    blockers = tmp_path / "blockers"
    (blockers / "crowdkit").mkdir(parents=True)
    (blockers / "crowdkit" / "__init__.py").write_text("raise ImportError('crowd-kit is not installed')\n")
    (blockers / "krippendorff.py").write_text("raise ImportError('krippendorff is not installed')\n")
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(blockers), os.environ.get("PYTHONPATH")]))}
    result = run_mephisto("export", "--aggregate", "mace", env=env)
    assert result.returncode == 1, result.stdout
    assert "pip install 'mephisto-core[agreement]'" in result.stderr and "Traceback" not in result.stderr
    # Agreement needs neither: its alphas are computed in place (operations/review/alpha.py).
    result = run_mephisto("export", "--agreement", "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["label"]["alpha"] == pytest.approx(3 / 23)


def test_agreement_and_aggregate_together_is_a_usage_error(sqlite_rows: ExportRows) -> None:
    result = run_mephisto("export", "--agreement", "--aggregate", "majority")
    assert result.returncode == 2 and "--agreement prints agreement numbers instead of units" in result.stderr


def test_export_agreement_reads_answers_and_only_the_span_tasks_inputs_with_the_records_numbers(
    database: Database, rows: ExportRows
) -> None:
    """`export_agreement` reads who answered what, then the inputs of the assignments whose spans need their
    text: the same numbers as from whole records, the token measure included (it needs that text)."""
    run = rows.run(rows.task("spans"))
    text = "the cat sat on the mat"
    cat, mat, sat = (
        {"start": s, "end": e, "label": label, "text": text[s:e]}
        for s, e, label in ((4, 7, "animal"), (19, 22, "thing"), (8, 11, "verb"))
    )
    marks = [[[cat], [cat, mat], [cat]], [[mat], [sat]], [[cat, sat], [cat, sat], [cat]], [[mat]]]
    for n, units in enumerate(marks):
        assignment = rows.assignment(run, text=text, other="no spans here")
        for index, spans in enumerate(units):
            rows.submitted(assignment, index, f"w{index}", {"spans": spans, "score": (n + index) % 5, "ok": True})
    filters = UnitQuery(task="spans").resolve()
    records = list(DataBrowser(database).iter_filtered(filters))
    expected = AnswerTable.from_records(records).agreement()
    SpanTable.from_records(records).update_agreement(expected)

    numbers, categorical = export_agreement(database, filters)

    assert numbers == expected
    assert numbers["spans"]["measure"] == "span overlap" and numbers["spans"]["token_percent"] is not None
    assert numbers["spans"]["assignments"] == 3 and "interval_alpha" in numbers["score"]
    assert categorical == ["ok"]  # numbers are not categories
