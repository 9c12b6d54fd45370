"""An annotation shown readably for the review app: chosen labels, Likert points, highlighted spans."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from mephisto_blueprint_annotate.answers import span_source
from mephisto_blueprint_annotate.args import Scheme

_STYLE = """<style>
.mephisto-annotate-review .scheme { margin: 0 0 1rem; }
.mephisto-annotate-review .question { font-weight: 600; }
.mephisto-annotate-review .chip { display: inline-block; padding: 0 .5rem; margin: 0 .25rem .25rem 0;
  border-radius: 1rem; background: #dbeafe; border: 1px solid #93c5fd; }
.mephisto-annotate-review mark { background: #fde68a; padding: 0 1px; }
.mephisto-annotate-review mark sub { font-size: .7em; color: #7c2d12; margin-left: 2px; }
.mephisto-annotate-review .no-answer { color: #59636e; font-style: italic; }
.mephisto-annotate-review blockquote { margin: .25rem 0; padding: .25rem .75rem; border-left: 3px solid #d1d9e0; }
</style>"""


def review_html(schemes: Sequence[Scheme], row: Mapping[str, Any], outputs: Mapping[str, Any]) -> str:
    """Each scheme's question and the worker's answer; every text from the data or the answer is escaped."""
    parts = [_STYLE, '<div class="mephisto-annotate-review">']
    for scheme in schemes:
        question = escape(scheme.question or scheme.name)
        answer = _answer(scheme, row, outputs.get(scheme.name))
        parts.append(
            f'<div class="scheme" data-scheme="{escape(scheme.name)}"><div class="question">{question}</div>'
            f"{answer}</div>"
        )
    parts.append("</div>")
    return "\n".join(parts)


def _answer(scheme: Scheme, row: Mapping[str, Any], value: Any) -> str:
    if scheme.type == "span":
        return _spans(span_source(scheme, row), value if isinstance(value, list) else [])
    if value is None or value == "" or value == []:
        return '<span class="no-answer">(no answer)</span>'
    if scheme.type in ("single", "multi"):
        chosen = value if isinstance(value, list) else [value]
        return "".join(f'<span class="chip">{escape(str(label))}</span>' for label in chosen)
    if scheme.type == "likert":
        ends = f" ({escape(scheme.low_label)} … {escape(scheme.high_label)})" if scheme.low_label else ""
        return f'<span class="chip">{escape(str(value))} of {scheme.points}</span>{ends}'
    if scheme.type == "pairwise":
        if value == "tie":
            return '<span class="chip">about the same</span>'
        return (
            f'<span class="chip">{escape(str(value))}</span><blockquote>{escape(str(row.get(value, "")))}</blockquote>'
        )
    if scheme.type == "bestworst" and isinstance(value, dict):
        return "".join(
            f'<div>{which}: <span class="chip">{escape(str(value.get(which)))}</span>'
            f"<blockquote>{escape(str(row.get(str(value.get(which)), '')))}</blockquote></div>"
            for which in ("best", "worst")
        )
    return f"<blockquote>{escape(str(value))}</blockquote>"


def _spans(source: str, spans: Sequence[Any]) -> str:
    """The text with each marked stretch in <mark>, its labels after it (overlaps split into segments)."""
    valid = [
        s for s in spans if isinstance(s, dict) and isinstance(s.get("start"), int) and isinstance(s.get("end"), int)
    ]
    if not valid:
        return f'<blockquote>{escape(source)}</blockquote><span class="no-answer">(no spans marked)</span>'
    cuts = sorted({0, len(source), *(s["start"] for s in valid), *(s["end"] for s in valid)})
    out = []
    for start, end in itertools.pairwise(cuts):
        labels = [str(s.get("label")) for s in valid if s["start"] <= start and end <= s["end"]]
        piece = escape(source[start:end])
        if labels:
            out.append(
                f'<mark title="{escape(", ".join(labels))}">{piece}<sub>{escape(", ".join(labels))}</sub></mark>'
            )
        else:
            out.append(piece)
    return f"<blockquote>{''.join(out)}</blockquote>"
