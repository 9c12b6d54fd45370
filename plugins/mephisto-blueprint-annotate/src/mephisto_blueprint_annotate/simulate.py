"""Valid answers for simulated workers (`mephisto launch --simulate N`), each checked by the server's own rules."""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from typing import Any

from mephisto_blueprint_annotate.answers import scheme_problem, span_source
from mephisto_blueprint_annotate.args import Scheme
from mephisto_core.abstractions import SimulatedAnswer

WORDS = ("clear", "helpful", "short", "vague", "kind", "precise", "odd", "fine", "good", "late")


def simulate_answer(schemes: Sequence[Scheme], row: Mapping[str, Any], rng: random.Random) -> SimulatedAnswer:
    """An answer every scheme accepts."""
    outputs = {scheme.name: _answer(scheme, row, rng) for scheme in schemes}
    for scheme in schemes:
        problem = scheme_problem(scheme, row, outputs[scheme.name])
        if problem:  # a bug here, not in the task: say which scheme
            raise AssertionError(f"simulated answer to {scheme.name!r} refused: {problem}")
    return SimulatedAnswer(outputs=outputs)


def _answer(scheme: Scheme, row: Mapping[str, Any], rng: random.Random) -> Any:
    labels = [label.value for label in scheme.labels]
    if scheme.type == "single":
        return rng.choice(labels)
    if scheme.type == "multi":
        top = scheme.max_choices if scheme.max_choices is not None else len(labels)
        count = rng.randint(max(scheme.min_choices, 1 if scheme.required else 0), top)
        chosen = set(rng.sample(labels, count))
        return [label for label in labels if label in chosen]
    if scheme.type == "likert":
        return rng.randint(1, scheme.points)
    if scheme.type == "slider":
        steps = int((scheme.max - scheme.min) // scheme.step)
        value = scheme.min + rng.randint(0, steps) * scheme.step
        return int(value) if float(value).is_integer() else round(value, 9)
    if scheme.type == "text":
        text = " ".join(rng.choice(WORDS) for _ in range(3))
        while len(text) < scheme.min_length:
            text += " " + rng.choice(WORDS)
        return text[: scheme.max_length]
    if scheme.type == "span":
        return _spans(scheme, span_source(scheme, row), rng)
    if scheme.type == "pairwise":
        return rng.choice(scheme.items)
    best, worst = rng.sample(scheme.items, 2)
    return {"best": best, "worst": worst}


def _spans(scheme: Scheme, source: str, rng: random.Random) -> list[dict[str, Any]]:
    """One or two word spans that do not overlap, labelled at random."""
    words = [match.span() for match in re.finditer(r"\S+", source)]
    if not words:
        return []
    count = min(len(words), rng.randint(1 if scheme.required else 0, 2))
    picked = sorted(rng.sample(words, count))
    labels = [label.value for label in scheme.labels]
    return [{"start": s, "end": e, "label": rng.choice(labels), "text": source[s:e]} for s, e in picked]
