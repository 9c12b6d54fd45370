"""Walking a (valid) form config: its fields in page order, and the empty answer of each."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mephisto_blueprint_form.rules import field_kind


def iter_fields(form: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every field of `form` (the config's `form` object), in the order the page shows them."""
    for section in form["sections"]:
        for fieldset in section["fieldsets"]:
            for row in fieldset["rows"]:
                yield from row["fields"]


def fields_by_name(form: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Field name -> field, in page order."""
    return {field["name"]: field for field in iter_fields(form)}


def missing_value(field: Mapping[str, Any]) -> Any:
    """What a field left out of an answer counts as: nothing given (hidden fields keep the form's value)."""
    kind = field_kind(field)
    if kind == "text":
        return ""
    if kind in ("choices", "files"):
        return []
    if kind == "fixed":
        return field.get("value", "")
    return None
