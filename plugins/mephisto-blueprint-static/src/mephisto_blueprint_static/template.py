"""`${column}` placeholders in task HTML: find them and fill them with escaped values."""

from __future__ import annotations

import functools
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
    texts, names = _split(source)
    pieces = [texts[0]]
    for name, text in zip(names, texts[1:], strict=True):
        pieces.append(html.escape(format_value(values[name]), quote=True))
        pieces.append(text)
    return "".join(pieces)


@functools.lru_cache(maxsize=16)
def _split(source: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """`source` cut at its placeholders: the texts around them (`$${` already turned into `${`) and their names,
    one name fewer than texts. Kept per source: every unit of a run fills the same page, which is searched once
    instead of at each unit."""
    texts: list[str] = []
    names: list[str] = []
    text: list[str] = []
    end = 0
    for match in _TOKEN.finditer(source):
        text.append(source[end : match.start()])
        end = match.end()
        if match.group(0) == "$${":
            text.append("${")
        else:
            texts.append("".join(text))
            text = []
            names.append(match.group(1))
    text.append(source[end:])
    texts.append("".join(text))
    return tuple(texts), tuple(names)


def format_value(value: Any) -> str:
    """How a data value reads on the page: JSON spelling for null, booleans, lists and objects."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
