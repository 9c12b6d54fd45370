"""A submission as a readable summary: one entry per answer (label -> answer), the same for every blueprint.

The page draws each entry by its `kind`: `yes_no` (a ticked or unticked box, told apart by word and colour),
`choices` (the options chosen, highlighted), `text` (shown with its line breaks), `number`, `files` (thumbnails
for images, links for the rest), `json` (anything else, indented) and `empty` (left out). Texts are made here:
the page never formats a number it parsed (JavaScript would round integers beyond 2**53).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


def field_label(name: str) -> str:
    """A field name as a label: `may_quote` -> `May quote`, `firstName` stays readable as `FirstName`."""
    words = name.replace("_", " ").replace("-", " ").split()
    text = " ".join(words) or name
    return text[:1].upper() + text[1:]


def answer_summary(outputs: Any, files: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The entries of `outputs` (in stored order), then any file field the outputs do not name.

    `files` are the unit's stored files as the detail lists them (`field`, `name`, `type`, `url`); a field that
    holds files is shown as those files, whatever the output holds for it (often just the file name).
    """
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
                entries.append(_value_entry(name, value))
    elif outputs is not None:
        entries.append(_value_entry("answer", outputs))
    for name, left in by_field.items():
        entries.append(_entry(name, "files", files=left))
    return entries


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
