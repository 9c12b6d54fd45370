"""Benchmarks that time two ways of doing one thing in this install (`mturk_sync`, `prolific_sync`): rounds
alternated, the medians and their ratio against the first way."""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any


def alternate_ways(
    ways: Sequence[str], rounds: int, measure: Callable[[str], dict[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """`measure(way)` of each way in each round, the order reversed every other round; each way's results."""
    runs: dict[str, list[dict[str, Any]]] = {way: [] for way in ways}
    for round_number in range(rounds):
        for way in ways if round_number % 2 == 0 else reversed(ways):
            runs[way].append(measure(way))
    return runs


def ways_summary(runs: dict[str, list[dict[str, Any]]], calls: str) -> dict[str, Any]:
    """Each way's `seconds` per round, their medians, the ratio against the first way, and the last round's `calls`."""
    seconds = {way: [round(r["seconds"], 3) for r in rounds] for way, rounds in runs.items()}
    medians = {way: statistics.median(values) for way, values in seconds.items()}
    first = next(iter(medians))
    return {
        "seconds": seconds,
        "median_seconds": medians,
        "ratio_against": {"way": first, "seconds": {w: round(v / medians[first], 3) for w, v in medians.items()}},
        calls: {way: rounds[-1][calls] for way, rounds in runs.items()},
    }


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """These environment variables set during the block (the platform clients made in it reach a fake)."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value
