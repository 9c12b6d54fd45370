"""JSON paths (`form.sections[0].fieldsets[1].rows[0].fields[2].validators.regexp`) and the problems found at them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TOP = "(top level)"


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a config (or a token file), and where: a JSON path, "" for the document itself."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or TOP}: {self.message}"


def at_key(path: str, key: str) -> str:
    """The path of `key` inside the object at `path` (keys that are not plain names are quoted)."""
    part = key if _PLAIN_KEY.match(key) else f"[{json.dumps(key, ensure_ascii=False)}]"
    if not path:
        return part
    return path + part if part.startswith("[") else f"{path}.{part}"


def at_index(path: str, index: int) -> str:
    """The path of item `index` of the list at `path`."""
    return f"{path}[{index}]"


def prefixed(problems: list[Problem], index: int | None) -> list[Problem]:
    """`problems` of one config, with the paths prefixed by `[index]` when it is an item of a list of configs."""
    if index is None:
        return problems
    return [Problem(_join(at_index("", index), p.path), p.message) for p in problems]


def _join(prefix: str, path: str) -> str:
    if not path:
        return prefix
    return prefix + path if path.startswith("[") else f"{prefix}.{path}"
