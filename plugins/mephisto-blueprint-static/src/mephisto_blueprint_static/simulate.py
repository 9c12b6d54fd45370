"""Plausible answers for simulated workers: every named field of the page gets a value of the right shape."""

from __future__ import annotations

import base64
import math
import mimetypes
import random
from collections.abc import Mapping
from typing import Any

from mephisto_blueprint_static.fields import Control, FieldKind, FormField
from mephisto_core.abstractions import SimulatedAnswer

# fmt: off
WORDS = (
    "river", "stone", "maple", "quiet", "orange", "lantern", "meadow", "copper", "violet", "harbor", "pencil",
    "cloud", "garden", "amber", "thunder", "velvet", "window", "candle", "forest", "silver", "breeze",
)
# fmt: on

# A 1x1 transparent PNG, for file inputs that accept images only.
TINY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


def simulate(fields: Mapping[str, FormField], rng: random.Random) -> SimulatedAnswer:
    """An answer filling every field: required ones always, with values the page itself could submit.

    `pattern` attributes are not imitated (the server does not check them either).
    """
    answer = SimulatedAnswer(outputs={})
    for name, form_field in fields.items():
        answer.outputs[name] = _value(form_field, rng, answer)
    return answer


def _value(form_field: FormField, rng: random.Random, answer: SimulatedAnswer) -> Any:
    kind, controls = form_field.kind, form_field.controls
    first = controls[0]
    if kind is FieldKind.TEXTAREA:
        return _text(first, rng, rng.randint(6, 14), sentence=True)
    if kind is FieldKind.EMAIL:
        return f"{rng.choice(WORDS)}.{rng.choice(WORDS)}{rng.randint(1, 999)}@example.org"
    if kind is FieldKind.NUMBER:
        return _number(first, rng)
    if kind is FieldKind.TEXT:
        return _typed_text(first, rng)
    if kind is FieldKind.SELECT:
        return _choose_options(first, rng, multiple=False)[0] if first.options else ""
    if kind is FieldKind.SELECT_MULTIPLE:
        return _choose_options(first, rng, multiple=True)
    if kind is FieldKind.RADIO:
        enabled = [c for c in controls if "disabled" not in c.attrs] or controls
        return rng.choice(enabled).value
    if kind is FieldKind.CHECKBOX:
        return True if first.required else rng.random() < 0.5
    if kind is FieldKind.CHECKBOX_GROUP:
        # `required` on a checkbox means that very box must be ticked.
        return [c.value for c in controls if c.required or rng.random() < 0.5]
    if kind is FieldKind.FILE:
        return [_attach_file(form_field.name, first, answer)]
    return _mixed(form_field, rng, answer)


def _mixed(form_field: FormField, rng: random.Random, answer: SimulatedAnswer) -> list[str]:
    values: list[str] = []
    for control in form_field.controls:
        if control.type in ("checkbox", "radio"):
            if control.required or rng.random() < 0.5:
                values.append(control.value)
        elif control.type in ("select", "select-multiple"):
            values.extend(_choose_options(control, rng, multiple=control.type == "select-multiple"))
        elif control.type == "file":
            values.append(_attach_file(form_field.name, control, answer))
        else:
            values.append(_typed_text(control, rng))
    return values


def _words(rng: random.Random, count: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(count))


def _text(control: Control, rng: random.Random, count: int, *, sentence: bool = False) -> str:
    text = _words(rng, count)
    if sentence:
        text = text[0].upper() + text[1:] + "."
    minimum = control.int_attr("minlength") or 0
    while len(text) < minimum:
        text += " " + _words(rng, 3)
    maximum = control.int_attr("maxlength")
    if maximum is not None:
        text = text[:maximum].rstrip() or text[:maximum]
    return text


def _typed_text(control: Control, rng: random.Random) -> str:
    kind = control.type
    if kind == "hidden":
        return control.value
    if kind == "url":
        return f"https://example.org/{rng.choice(WORDS)}"
    if kind == "tel":
        return f"555-01{rng.randint(0, 99):02d}"
    if kind == "date":
        return f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if kind == "month":
        return f"2024-{rng.randint(1, 12):02d}"
    if kind == "week":
        return f"2024-W{rng.randint(1, 52):02d}"
    if kind == "time":
        return f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"
    if kind == "datetime-local":
        return f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00"
    if kind == "color":
        return f"#{rng.randrange(0x1000000):06x}"
    return _text(control, rng, rng.randint(2, 4))


def _number(control: Control, rng: random.Random) -> str:
    default_max = 100.0
    low = control.number_attr("min")
    high = control.number_attr("max")
    low = 0.0 if low is None else low
    high = max(low, low + default_max if high is None else high)
    step_raw = (control.attrs.get("step") or "").strip().lower()
    if step_raw == "any":
        return f"{rng.uniform(low, high):.2f}"
    step = control.number_attr("step")
    step = 1.0 if step is None or step <= 0 else step
    # Values the browser accepts are min + k * step.
    k = rng.randint(0, math.floor((high - low) / step + 1e-9))
    value = low + k * step
    if value == int(value) and step == int(step):
        return str(int(value))
    decimals = max(len(f"{step:g}".partition(".")[2]), len(f"{low:g}".partition(".")[2]))
    return f"{value:.{decimals}f}"


def _choose_options(control: Control, rng: random.Random, *, multiple: bool) -> list[str]:
    enabled = [o for o in control.options if not o.disabled] or control.options
    if control.required:
        # An empty value is the "please choose" placeholder that `required` rejects.
        enabled = [o for o in enabled if o.value] or enabled
    if not enabled:
        return []
    if not multiple:
        return [rng.choice(enabled).value]
    chosen = [o.value for o in enabled if rng.random() < 0.5]
    if not chosen and control.required:
        chosen = [rng.choice(enabled).value]
    return chosen


def _attach_file(field_name: str, control: Control, answer: SimulatedAnswer) -> str:
    name, content_type, data = _file_for(control.attrs.get("accept") or "", field_name)
    answer.files.append((field_name, name, content_type, data))
    return name


def _file_for(accept: str, field_name: str) -> tuple[str, str, bytes]:
    """A small file the input's `accept` attribute allows (a text file when it allows anything)."""
    text = f"Simulated upload for the field {field_name!r}.\n".encode()
    tokens = [t.strip().lower() for t in accept.split(",") if t.strip()]
    if not tokens or any(t in ("text/*", "text/plain", ".txt", "*/*") for t in tokens):
        return "simulated.txt", "text/plain", text
    token = tokens[0]
    if token.startswith("image/"):
        return "simulated.png", "image/png", TINY_PNG
    if token.startswith("."):
        content_type = mimetypes.guess_type("x" + token)[0] or "application/octet-stream"
        return "simulated" + token, content_type, text
    extension = mimetypes.guess_extension(token) or ".bin"
    return "simulated" + extension, token, text
