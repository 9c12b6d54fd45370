"""`${column}` placeholders in task HTML: find them and fill them with escaped values."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from typing import Any

# `$${` is a literal `${` (for a task page whose own script uses JavaScript template strings).
_TOKEN = re.compile(r"\$\$\{|\$\{([^{}]*)\}")


def placeholders(source: str) -> list[str]:
    """The placeholder names in `source`, each once, in order of first appearance."""
    names: dict[str, None] = {}
    for match in _TOKEN.finditer(source):
        if match.group(0) != "$${":
            names.setdefault(match.group(1), None)
    return list(names)


def fill(source: str, values: Mapping[str, Any]) -> str:
    """`source` with every `${name}` replaced by the HTML-escaped value of `name`.

    A value can hold anything (markup, quotes, `<script>`): it is escaped so it shows as text, inside element
    content or an attribute alike. Raises KeyError for a name not in `values` (check with `placeholders`).
    """

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        return html.escape(format_value(values[match.group(1)]), quote=True)

    return _TOKEN.sub(replace, source)


def format_value(value: Any) -> str:
    """How a data value reads on the page: JSON spelling for null, booleans, lists and objects."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
