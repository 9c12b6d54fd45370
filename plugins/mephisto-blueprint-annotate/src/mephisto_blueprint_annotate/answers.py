"""The server's check of a submitted annotation: the rules annotate.js applies in the page, applied again.

Answer shapes, by scheme type (also in the README): single: a label or null; multi: a list of labels; likert: an
integer 1..points or null; slider: a number or null; text: a string; span: a list of {start, end, label, text}
(character offsets into the row's text, end exclusive); pairwise: an item column, "tie" (with allow_tie) or null;
bestworst: {"best": column, "worst": column} or null.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from mephisto_blueprint_annotate.args import Scheme

NOT_A_SCHEME = "is not a question of this task"
REQUIRED = "This question needs an answer."


def submission_problems(
    schemes: Sequence[Scheme], row: Mapping[str, Any], outputs: Mapping[str, Any]
) -> dict[str, str]:
    """{scheme name: message} for everything wrong with `outputs`; empty when the answer is accepted."""
    names = {scheme.name for scheme in schemes}
    problems = {name: NOT_A_SCHEME for name in outputs if name not in names}
    for scheme in schemes:
        message = scheme_problem(scheme, row, outputs.get(scheme.name))
        if message:
            problems[scheme.name] = message
    return problems


def scheme_problem(scheme: Scheme, row: Mapping[str, Any], value: Any) -> str | None:
    """What is wrong with one scheme's answer (None when it is fine); a missing answer is None or empty."""
    empty = value is None or value == [] or value == ""
    if empty:
        if scheme.type == "multi" and scheme.min_choices > 0:
            return f"Choose at least {scheme.min_choices}."
        return REQUIRED if scheme.required else None
    check = _CHECKS[scheme.type]
    return check(scheme, row, value)


def _labels(scheme: Scheme) -> list[str]:
    return [label.value for label in scheme.labels]


def _single(scheme: Scheme, row: Mapping[str, Any], value: Any) -> str | None:
    if not isinstance(value, str) or value not in _labels(scheme):
        return f"Choose one of: {', '.join(_labels(scheme))}."
    return None


def _multi(scheme: Scheme, row: Mapping[str, Any], value: Any) -> str | None:
    labels = _labels(scheme)
    if not isinstance(value, list) or not all(isinstance(item, str) and item in labels for item in value):
        return f"Choose among: {', '.join(labels)}."
    if len(set(value)) != len(value):
        return "A label is chosen twice."
    top = scheme.max_choices if scheme.max_choices is not None else len(labels)
    if len(value) < scheme.min_choices:
        return f"Choose at least {scheme.min_choices}."
    if len(value) > top:
        return f"Choose at most {top}."
    return None


def _likert(scheme: Scheme, row: Mapping[str, Any], value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= scheme.points:
        return f"Choose a point from 1 to {scheme.points}."
    return None


def _slider(scheme: Scheme, row: Mapping[str, Any], value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "Move the slider to a value."
    if not scheme.min <= value <= scheme.max:
        return f"Choose a value from {_num(scheme.min)} to {_num(scheme.max)}."
    steps = (value - scheme.min) / scheme.step
    if abs(steps - round(steps)) > 1e-6:
        return f"Choose a value in steps of {_num(scheme.step)}."
    return None


def _text(scheme: Scheme, row: Mapping[str, Any], value: Any) -> str | None:
    if not isinstance(value, str):
        return "Write your answer as text."
    if len(value) < scheme.min_length:
        return f"Write at least {scheme.min_length} characters (now {len(value)})."
    if len(value) > scheme.max_length:
        return f"Write at most {scheme.max_length} characters (now {len(value)})."
    return None


def span_source(scheme: Scheme, row: Mapping[str, Any]) -> str:
    """The text a span scheme marks (its `field` column of the row; empty when missing)."""
    value = row.get(scheme.field or "")
    return value if isinstance(value, str) else ""


def _span(scheme: Scheme, row: Mapping[str, Any], value: Any) -> str | None:
    source = span_source(scheme, row)
    labels = _labels(scheme)
    if not isinstance(value, list):
        return "Mark spans of the text."
    spans: list[tuple[int, int]] = []
    for number, span in enumerate(value, start=1):
        if not isinstance(span, dict) or set(span) != {"start", "end", "label", "text"}:
            return f"Span {number} is not a marked span."
        start, end = span["start"], span["end"]
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in (start, end)):
            return f"Span {number} is not a marked span."
        if not 0 <= start < end <= len(source):
            return f"Span {number} is outside the text."
        if span["label"] not in labels:
            return f"Span {number} has a label that is not one of: {', '.join(labels)}."
        if span["text"] != source[start:end]:
            return f"Span {number} does not match the text."
        if scheme.tokens and not _whole_words(source, start, end):
            return f"Span {number} does not cover whole words."
        spans.append((start, end))
    if len(set(map(tuple, ((s["start"], s["end"], s["label"]) for s in value)))) != len(value):
        return "A span is marked twice with the same label."
    if not scheme.allow_overlap:
        ordered = sorted(spans)
        if any(ordered[i][1] > ordered[i + 1][0] for i in range(len(ordered) - 1)):
            return "Spans may not overlap here; remove one of the overlapping spans."
    return None


def _whole_words(source: str, start: int, end: int) -> bool:
    """Whether [start, end) begins and ends at word (whitespace-separated token) boundaries."""
    begins = start == 0 or source[start - 1].isspace() or source[start].isspace()
    ends = end == len(source) or source[end].isspace() or source[end - 1].isspace()
    return begins and ends


def _pairwise(scheme: Scheme, row: Mapping[str, Any], value: Any) -> str | None:
    allowed = [*scheme.items, *(["tie"] if scheme.allow_tie else [])]
    if value not in allowed:
        return "Choose one of the two."
    return None


def _bestworst(scheme: Scheme, row: Mapping[str, Any], value: Any) -> str | None:
    if not isinstance(value, dict) or set(value) != {"best", "worst"}:
        return "Choose the best and the worst."
    if value["best"] not in scheme.items or value["worst"] not in scheme.items:
        return "Choose the best and the worst."
    if value["best"] == value["worst"]:
        return "The best and the worst must be different items."
    return None


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


_CHECKS = {
    "single": _single,
    "multi": _multi,
    "likert": _likert,
    "slider": _slider,
    "text": _text,
    "span": _span,
    "pairwise": _pairwise,
    "bestworst": _bestworst,
}
