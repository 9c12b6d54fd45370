"""A submission as a readable summary: one entry per answer (label -> answer), the same for every blueprint.

The page draws each entry by its `kind`: `yes_no` (a ticked or unticked box, told apart by word and colour),
`choices` (the options chosen, highlighted), `text` (shown with its line breaks), `number`, `files` (thumbnails
for images, links for the rest), `json` (anything else, indented) and `empty` (left out). Texts are made here:
the page never formats a number it parsed (JavaScript would round integers beyond 2**53).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


def field_label(name: str) -> str:
    """A field name as a label: `may_quote` -> `May quote`, `firstName` stays readable as `FirstName`."""
    words = name.replace("_", " ").replace("-", " ").split()
    text = " ".join(words) or name
    return text[:1].upper() + text[1:]


@dataclass
class _Labels:
    """Field labels and option labels found in a unit's inputs (a form's definition travels in them)."""

    fields: dict[str, str] = field(default_factory=dict)
    options: dict[str, dict[str, str]] = field(default_factory=dict)


def _find_labels(value: Any, found: _Labels, depth: int = 0) -> None:
    # Any object with a `name` and a `label` is taken as a field definition (the form blueprint's format, and
    # the usual shape elsewhere); its `options` ({value, label}) name the choices. Bounded: inputs may be large.
    if depth > 12:
        return
    if isinstance(value, Mapping):
        name, label = value.get("name"), value.get("label")
        if isinstance(name, str) and isinstance(label, str) and label.strip():
            found.fields.setdefault(name, label.strip())
            options = value.get("options")
            if isinstance(options, list):
                named = {
                    str(o["value"]): str(o["label"])
                    for o in options
                    if isinstance(o, Mapping) and "value" in o and isinstance(o.get("label"), str)
                }
                if named:
                    found.options.setdefault(name, named)
        for item in value.values():
            _find_labels(item, found, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _find_labels(item, found, depth + 1)


def answer_summary(outputs: Any, files: Sequence[Mapping[str, Any]], inputs: Any = None) -> list[dict[str, Any]]:
    """The entries of `outputs` (in stored order), then any file field the outputs do not name.

    `files` are the unit's stored files as the detail lists them (`field`, `name`, `type`, `url`); a field that
    holds files is shown as those files, whatever the output holds for it (often just the file name). Labels come
    from field definitions found in `inputs` (a form's `label`s and option labels), else from the field name.
    """
    labels = _Labels()
    _find_labels(inputs, labels)
    by_field: dict[str, list[dict[str, Any]]] = {}
    for stored in files:
        by_field.setdefault(str(stored["field"]), []).append(
            {
                "name": stored["name"],
                "url": stored["url"],
                "type": stored["type"],
                "is_image": str(stored["type"]).startswith("image/"),
            }
        )
    entries: list[dict[str, Any]] = []
    if isinstance(outputs, Mapping):
        for key, value in outputs.items():
            name = str(key)
            if name in by_field:
                entries.append(_entry(name, "files", files=by_field.pop(name)))
            else:
                entries.append(_value_entry(name, _option_labels(value, labels.options.get(name))))
    elif outputs is not None:
        entries.append(_value_entry("answer", outputs))
    for name, left in by_field.items():
        entries.append(_entry(name, "files", files=left))
    for entry in entries:
        entry["label"] = labels.fields.get(entry["field"], entry["label"])
    return entries


def _option_labels(value: Any, options: Mapping[str, str] | None) -> Any:
    """A chosen option's value (or a list of them) as its label when the field's options name it."""
    if not options:
        return value
    if isinstance(value, str):
        return options.get(value, value)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return [options.get(item, item) for item in value]
    return value


def _entry(name: str, kind: str, **fields: Any) -> dict[str, Any]:
    return {"field": name, "label": field_label(name), "kind": kind, **fields}


def _value_entry(name: str, value: Any) -> dict[str, Any]:
    if value is None or value == "" or value == []:
        return _entry(name, "empty")
    if isinstance(value, bool):
        return _entry(name, "yes_no", value=value)
    if isinstance(value, str):
        return _entry(name, "text", text=value)
    if isinstance(value, int | float):
        return _entry(name, "number", text=json.dumps(value))
    if isinstance(value, list) and all(isinstance(item, str | int | float) for item in value):
        return _entry(name, "choices", items=[item if isinstance(item, str) else json.dumps(item) for item in value])
    return _entry(name, "json", text=json.dumps(value, indent=2, ensure_ascii=False))
