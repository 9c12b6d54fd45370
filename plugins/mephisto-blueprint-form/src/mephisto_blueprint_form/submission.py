"""The server's check of a submitted answer: every field by the shared rules, plus the files that came with it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from mephisto_blueprint_form.rules import field_kind, field_messages
from mephisto_blueprint_form.structure import fields_by_name, missing_value
from mephisto_core.abstractions import UploadedFile

NOT_A_FIELD = "is not a field of this form"
NOT_A_FILE_FIELD = "a file was sent for a field that is not a file field"


def submission_problems(
    config: Mapping[str, Any], outputs: Mapping[str, Any], files: Sequence[UploadedFile]
) -> dict[str, str]:
    """{field name: message} for everything wrong with an answer to `config`; empty when it is accepted.

    A field left out counts as not answered. A file field's value must list exactly the names of the files
    uploaded for it.
    """
    fields = fields_by_name(config["form"])
    problems = {name: NOT_A_FIELD for name in outputs if name not in fields}
    uploaded: dict[str, list[str]] = {}
    for upload in files:
        field = fields.get(upload.field)
        if field is None or field_kind(field) != "files":
            problems[upload.field] = NOT_A_FILE_FIELD
        else:
            uploaded.setdefault(upload.field, []).append(upload.name)
    for name, field in fields.items():
        value = outputs.get(name, missing_value(field))
        messages = field_messages(field, value)
        if not messages and field_kind(field) == "files" and Counter(value) != Counter(uploaded.get(name, [])):
            listed = ", ".join(value) or "none"
            received = ", ".join(uploaded.get(name, [])) or "none"
            messages = [f"The files listed ({listed}) are not the files received ({received}); attach them again."]
        if messages:
            problems[name] = " ".join(messages)
    return problems
