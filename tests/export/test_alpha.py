"""Krippendorff's alpha in one pass (operations/review/alpha.py): the same numbers as the `krippendorff` package and
the textbook coincidence matrix, and free text of any size without the package's values x values tables."""

from __future__ import annotations

import random
from collections.abc import Sequence

import krippendorff  # a test dependency (pyproject's `test` extra), the reference these numbers are checked against
import numpy as np
import pytest
from test_agreement import _alpha_by_coincidence_matrix

from mephisto_core.operations.export.records import Answer
from mephisto_core.operations.review.agreement import field_agreement
from mephisto_core.operations.review.alpha import interval_alpha, nominal_alpha


def _package_alpha(groups: Sequence[Sequence[float]], level: str) -> float:
    """The package's alpha, given the same answers as reliability data (coders x assignments, NaN for none)."""
    width = max(len(answers) for answers in groups)
    data = np.full((width, len(groups)), np.nan)
    for column, answers in enumerate(groups):
        data[: len(answers), column] = answers
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement=level))


def _random_groups(rng: random.Random, assignments: int, values: int) -> list[list[int]]:
    """Assignments of 1-5 answers each among `values` values, the answers of an assignment leaning to one value."""
    groups = []
    for _ in range(assignments):
        favourite = rng.randrange(values)
        groups.append([favourite if rng.random() < 0.6 else rng.randrange(values) for _ in range(rng.randint(1, 5))])
    return groups


@pytest.mark.parametrize("seed", range(5))
def test_nominal_alpha_is_the_packages_and_the_textbooks(seed: int) -> None:
    groups = _random_groups(random.Random(seed), assignments=60, values=4)
    ours = nominal_alpha(groups)
    assert ours == pytest.approx(_package_alpha(groups, "nominal"), abs=1e-12)
    assert ours == pytest.approx(_alpha_by_coincidence_matrix(groups), abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_interval_alpha_is_the_packages(seed: int) -> None:
    rng = random.Random(seed)
    groups = [[value + rng.choice([-1.5, 0, 0, 0.5]) for value in answers] for answers in _random_groups(rng, 60, 7)]
    assert interval_alpha(groups) == pytest.approx(_package_alpha(groups, "interval"), abs=1e-12)


def test_alpha_is_none_without_two_values_among_pairable_answers() -> None:
    assert nominal_alpha([["a", "a"], ["a", "a", "a"], ["b"]]) is None  # "b" stands alone: no pair holds it
    assert interval_alpha([[3.0, 3.0], [4.0]]) is None
    assert nominal_alpha([]) is None and interval_alpha([]) is None
    assert nominal_alpha([["a", "b"]]) == pytest.approx(_package_alpha([[0, 1]], "nominal"))


def test_free_text_of_thousands_of_assignments_gets_its_alpha() -> None:
    # 2,000 assignments of 2 units, every answer different: the package was asked for 2,000 x 4,000 x 4,000 numbers
    # (238 GiB) and raised MemoryError, which took `mephisto export --agreement` and the review app's panel down.
    answers = [
        Answer(unit_id=2 * a + i, assignment_id=a, unit_index=i, worker_db_id=i, outputs={"comment": f"text {a} {i}"})
        for a in range(2000)
        for i in range(2)
    ]
    numbers = field_agreement(answers)
    assert numbers["comment"]["percent"] == 0.0 and numbers["comment"]["assignments"] == 2000
    # Each assignment's one pair disagrees (observed 2,000 x 2 = n), against n^2 - n expected for n = 4,000 answers
    # all different: alpha = 1 - (n - 1) n / (n^2 - n) = 0.
    assert numbers["comment"]["alpha"] == pytest.approx(0.0, abs=1e-12)
