"""Krippendorff's alpha, nominal and interval, from each assignment's answers, in one pass over them.

Alpha is 1 - D_o / D_e, the disagreement observed within assignments over the disagreement expected by chance,
both read off the coincidence matrix o_ck (Krippendorff 2011, "Computing Krippendorff's Alpha-Reliability"):

    alpha = 1 - (n - 1) * sum_ck o_ck d(c, k) / sum_ck n_c n_k d(c, k)

Each of the two sums is a sum over pairs of answers, so it is computed from per-assignment counts (nominal) or
sums and sums of squares (interval), never from a values x values matrix. Such a matrix per assignment is what the
`krippendorff` package builds: a free-text field of 1,000 assignments with 3,000 distinct answers asked it for
67 GiB. Only assignments with two or more answers take part (a lone answer has no one to agree with).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence


def nominal_alpha(groups: Iterable[Sequence[Hashable]]) -> float | None:
    """Nominal alpha of answers grouped by assignment (equal answers agree, any two others disagree); None when
    the pairable answers hold fewer than two distinct values (no disagreement to expect)."""
    pooled: list[Hashable] = []
    observed = 0.0  # sum over c != k of o_ck: per assignment, its ordered pairs of different answers / (m - 1)
    for answers in groups:
        m = len(answers)
        if m < 2:
            continue
        pooled.extend(answers)
        distinct = len(set(answers))
        if distinct == m:  # no counter in the usual cases: all different (m(m - 1) pairs / (m - 1)) or all the same
            observed += m
        elif distinct > 1:
            counts = Counter(answers)
            observed += (m * m - sum(c * c for c in counts.values())) / (m - 1)
    totals = Counter(pooled)
    if len(totals) < 2:
        return None
    n = len(pooled)
    expected = n * n - sum(c * c for c in totals.values())  # sum over c != k of n_c n_k
    return 1.0 - (n - 1) * observed / expected


def interval_alpha(groups: Iterable[Sequence[float]]) -> float | None:
    """Interval alpha of numeric answers grouped by assignment (disagreement: the squared difference); None when
    the pairable answers hold fewer than two distinct values."""
    pairable = [list(answers) for answers in groups if len(answers) >= 2]
    values = [value for answers in pairable for value in answers]
    if len(set(values)) < 2:
        return None
    # Centred on the mean: the sums of squares below then stay small, and their differences exact enough.
    mean = math.fsum(values) / len(values)
    observed = 0.0  # sum_ck o_ck (c - k)^2: per assignment, sum over its pairs (i, j) of (x_i - x_j)^2 / (m - 1)
    for answers in pairable:
        m = len(answers)
        centred = [value - mean for value in answers]
        observed += _pair_squares(m, centred) / (m - 1)
    expected = _pair_squares(len(values), [value - mean for value in values])
    return 1.0 - (len(values) - 1) * observed / expected


def _pair_squares(m: int, xs: list[float]) -> float:
    """Sum over the ordered pairs (i, j) of `xs` (m of them) of (x_i - x_j)^2: 2 m sum(x^2) - 2 sum(x)^2."""
    return 2.0 * m * math.fsum(x * x for x in xs) - 2.0 * math.fsum(xs) ** 2
