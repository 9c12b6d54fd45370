"""Answers for simulated workers that pass every validator of the form, the server's own check deciding.

Each field gets candidates from a generator suited to its type and validators (words, numbers in range, option
picks, strings shaped by the field's pattern, files with an allowed extension); the first candidate that
`rules.field_messages` accepts is used.
"""

from __future__ import annotations

import base64
import mimetypes
import random
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from mephisto_blueprint_form.regex_sample import sample
from mephisto_blueprint_form.rules import (
    compiled_regexp,
    field_kind,
    field_messages,
    normal_extensions,
    regexp_spec,
    rule_table,
)
from mephisto_blueprint_form.structure import iter_fields
from mephisto_core.abstractions import SimulatedAnswer
from mephisto_core.errors import MephistoError

# fmt: off
WORDS = (
    "river", "stone", "maple", "quiet", "orange", "lantern", "meadow", "copper", "violet", "harbor", "pencil",
    "cloud", "garden", "amber", "thunder", "velvet", "window", "candle", "forest", "silver", "breeze",
)
# fmt: on
ATTEMPTS = 300
# A 1x1 transparent PNG, for fields that accept images.
TINY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
_SPREADS = (2, 4, 8, 16, 32, 64)


class SimulationError(MephistoError):
    """No valid answer was found for a field (its validators leave very little room)."""


def simulate_form(form: Mapping[str, Any], rng: random.Random) -> SimulatedAnswer:
    """A valid answer to `form` (the config's `form` object): every field answered or, when optional, maybe not."""
    answer = SimulatedAnswer(outputs={})
    for field in iter_fields(form):
        answer.outputs[field["name"]] = _answer_field(field, rng, answer)
    return answer


def _answer_field(field: Mapping[str, Any], rng: random.Random, answer: SimulatedAnswer) -> Any:
    kind = field_kind(field)
    required = (field.get("validators") or {}).get("required") is True
    if kind == "fixed":
        return field.get("value", "")
    if kind == "files":
        if not required and rng.random() < 0.3:
            return []
        name, content_type, data = _file_for(field)
        answer.files.append((field["name"], name, content_type, data))
        return [name]
    if not required and rng.random() < 0.15 and not field_messages(field, _empty(kind)):
        return _empty(kind)
    generators: dict[str, Callable[[Mapping[str, Any], random.Random], Iterator[Any]]] = {
        "text": _text_candidates,
        "number": _number_candidates,
        "choice": _choice_candidates,
        "choices": _choices_candidates,
    }
    candidates = generators[kind](field, rng)
    for _ in range(ATTEMPTS):
        candidate = next(candidates)
        if not field_messages(field, candidate):
            return candidate
    raise SimulationError(
        f"simulated workers found no answer that passes the validators of the field {field['name']!r} "
        f"after {ATTEMPTS} tries; loosen its validators or answer it by hand"
    )


def _empty(kind: str) -> Any:
    return [] if kind == "choices" else ("" if kind == "text" else None)


# ---- text -------------------------------------------------------------------------------------------


def _words(rng: random.Random, count: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(count))


def _text_candidates(field: Mapping[str, Any], rng: random.Random) -> Iterator[str]:
    validators = field.get("validators") or {}
    low = validators.get("minLength", 0)
    high = validators.get("maxLength")
    if "regexp" in validators:
        yield from _pattern_candidates(validators["regexp"], rng, low)
    pattern_spec = rule_table().formats.get(str(rule_table().field_types[field["type"]].get("format")))
    while True:
        if field["type"] == "email":
            text = f"{rng.choice(WORDS)}.{rng.choice(WORDS)}{rng.randint(1, 999)}@example.org"
            if high is not None and len(text) > high and pattern_spec is not None:
                text = next(_pattern_candidates(pattern_spec["regexp"], rng, low))
        elif field["type"] == "textarea":
            text = _words(rng, rng.randint(6, 14))
            text = text[0].upper() + text[1:] + "."
        elif field["type"] == "password":
            text = "".join(rng.choice("abcdefghjkmnpqrstuvwxyzABCDEFGH23456789") for _ in range(max(low, 10)))
        else:
            text = _words(rng, rng.randint(1, 3))
        while len(text) < low:
            text += " " + _words(rng, 2)
        if high is not None and len(text) > high:
            text = text[:high].rstrip() or text[:high]
            if not text.strip():
                text = rng.choice("abcdefghijklmnopqrstuvwxyz") * max(1, min(high, low or 1))
        yield text


def _pattern_candidates(argument: Any, rng: random.Random, min_length: int) -> Iterator[str]:
    compiled = compiled_regexp(argument)
    _, flags = regexp_spec(argument)
    attempt = 0
    while True:
        spread = _SPREADS[attempt % len(_SPREADS)]
        attempt += 1
        text = sample(compiled.tree, rng, ignore_case="i" in flags, dot_all="s" in flags, spread=spread)
        if text is None:
            yield ""  # a class offered no character this time: a failed try, counted by the caller
            continue
        yield text
        # An unanchored pattern matches inside longer text: padding helps reach a minimum length.
        if len(text) < min_length:
            yield text + " " + _words(rng, max(1, (min_length - len(text)) // 5 + 1))


# ---- numbers and choices ------------------------------------------------------------------------------


def _number_candidates(field: Mapping[str, Any], rng: random.Random) -> Iterator[int | float]:
    validators = field.get("validators") or {}
    given_low: float | None = validators.get("min")
    given_high: float | None = validators.get("max")
    # Without both bounds, a span of 100 next to the one given (or 0..100).
    if given_low is None:
        low: float = 0 if given_high is None else given_high - 100
    else:
        low = given_low
    high: float = low + 100 if given_high is None else given_high
    integral = float(low).is_integer() and float(high).is_integer()
    while True:
        if integral:
            yield rng.randint(int(low), int(high))
        else:
            value = round(rng.uniform(low, high), 2)
            yield min(max(value, low), high)


def _choice_candidates(field: Mapping[str, Any], rng: random.Random) -> Iterator[str]:
    values = [option["value"] for option in field["options"]]
    filled = [value for value in values if value.strip()] or values
    while True:
        yield rng.choice(filled)


def _choices_candidates(field: Mapping[str, Any], rng: random.Random) -> Iterator[list[str]]:
    validators = field.get("validators") or {}
    values = [option["value"] for option in field["options"]]
    low = max(validators.get("minLength", 0), 1 if validators.get("required") is True else 0)
    high = min(validators.get("maxLength", len(values)), len(values))
    while True:
        count = rng.randint(low, max(low, high))
        chosen = set(rng.sample(values, min(count, len(values))))
        yield [value for value in values if value in chosen]  # in the page's option order


# ---- files ------------------------------------------------------------------------------------------


def _file_for(field: Mapping[str, Any]) -> tuple[str, str, bytes]:
    extensions = normal_extensions((field.get("validators") or {}).get("fileExtension") or ["txt"])
    extension = extensions[0]
    name = f"simulated-{field['name']}.{extension}"
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if extension == "png":
        return name, content_type, TINY_PNG
    return name, content_type, f"Simulated upload for the field {field['name']!r}.\n".encode()
