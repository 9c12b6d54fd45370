"""Server-side check of a static task's answer: only the page's own fields, shaped as the page makes them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mephisto_blueprint_static.fields import FieldKind, FormField
from mephisto_core.abstractions import UploadedFile


def validate_answer(
    fields: Mapping[str, FormField], outputs: Mapping[str, Any], files: Sequence[UploadedFile]
) -> dict[str, str]:
    """{field name: message} for each problem in a submission; empty when it is accepted.

    `fields` are the named fields of the task page the worker saw. Outputs may leave fields out (a script may
    remove them from the page), but may not add names the page does not have, and each value must have the
    shape the page script produces for its kind. `required` and `pattern` are enforced by the worker's
    browser, as in the original static tasks; they are not re-checked here.
    """
    problems: dict[str, str] = {}
    for name, value in outputs.items():
        form_field = fields.get(name)
        if form_field is None:
            problems[name] = "is not a field of this task's form"
            continue
        problem = _value_problem(form_field, value)
        if problem is not None:
            problems[name] = problem
    for upload in files:
        form_field = fields.get(upload.field)
        if form_field is None or not any(c.type == "file" for c in form_field.controls):
            problems.setdefault(upload.field, f"file {upload.name!r} was sent for a field that is not a file input")
    return problems


def _value_problem(form_field: FormField, value: Any) -> str | None:
    kind = form_field.kind
    if kind.is_list:
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            return f"must be a list of strings ({_describe(kind)}), got {_type_name(value)}"
        return None
    if kind is FieldKind.CHECKBOX:
        if not isinstance(value, bool):
            return f"must be true or false (a single checkbox), got {_type_name(value)}"
        return None
    if kind is FieldKind.RADIO:
        if value is not None and not isinstance(value, str):
            return f"must be the chosen option's value or null (radio buttons), got {_type_name(value)}"
        return None
    # Text-like fields, numbers and single selects.
    if value is not None and (isinstance(value, bool) or not isinstance(value, str | int | float)):
        return f"must be text, got {_type_name(value)}"
    return None


def _describe(kind: FieldKind) -> str:
    return {
        FieldKind.SELECT_MULTIPLE: "the selected options",
        FieldKind.CHECKBOX_GROUP: "the values of the ticked checkboxes",
        FieldKind.FILE: "the names of the chosen files",
        FieldKind.MIXED: "the values of the controls sharing this name",
    }.get(kind, kind.value)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list" if all(isinstance(v, str) for v in value) else "a list holding non-strings"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
