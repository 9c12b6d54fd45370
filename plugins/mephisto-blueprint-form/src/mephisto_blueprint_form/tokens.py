"""`{{token}}` placeholders in a form config, and expanding a config into one form per set of token values."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mephisto_blueprint_form.paths import Problem, at_index, at_key

# The only attributes whose text may hold tokens.
TOKEN_KEYS = frozenset({"help", "instruction", "label", "title", "tooltip"})
_BRACES = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class TokenUse:
    """One `{{...}}` in the config: where (JSON path and attribute name) and what is inside the braces."""

    path: str
    key: str
    text: str  # as written, braces included

    @property
    def name(self) -> str | None:
        """The token's name, or None when the braces hold something else (a procedure call, nothing)."""
        inner = self.text[2:-2].strip()
        return inner if _NAME.match(inner) else None


def token_uses(value: Any, path: str = "", key: str = "") -> Iterator[TokenUse]:
    """Every `{{...}}` in the strings of `value` (a config or part of one); `form_metadata` is skipped."""
    if isinstance(value, str):
        for match in _BRACES.finditer(value):
            yield TokenUse(path, key, match.group(0))
    elif isinstance(value, Mapping):
        for child_key, child in value.items():
            if path == "" and child_key == "form_metadata":
                continue  # the researcher's own data, never shown: tokens there are not placeholders
            yield from token_uses(child, at_key(path, str(child_key)), str(child_key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            # A list belongs to its key (e.g. regexp's [pattern, flags]) for the question "may tokens go here?".
            yield from token_uses(child, at_index(path, index), key)


def token_problems(config: Mapping[str, Any], *, allow_tokens: bool) -> list[Problem]:
    """Tokens in the wrong place, braces that hold no token name, and (unless allowed) tokens left unfilled."""
    problems = []
    for use in token_uses(config):
        if use.name is None:
            problems.append(
                Problem(
                    use.path,
                    f"{use.text} is not a token: write {{{{name}}}} with letters, digits and _ "
                    "(procedure tokens such as {{fn(...)}} are not supported)",
                )
            )
        elif use.key not in TOKEN_KEYS:
            problems.append(
                Problem(
                    use.path,
                    f"the token {use.text} is in {use.key!r}; tokens may only appear in "
                    + ", ".join(sorted(TOKEN_KEYS)),
                )
            )
        elif not allow_tokens:
            problems.append(
                Problem(
                    use.path,
                    f"the token {use.text} has no value: fill tokens with `mephisto form expand CONFIG TOKENS -o OUT`",
                )
            )
    return problems


def used_names(config: Mapping[str, Any]) -> dict[str, str]:
    """Token name -> the JSON path of its first use."""
    names: dict[str, str] = {}
    for use in token_uses(config):
        if use.name is not None:
            names.setdefault(use.name, use.path)
    return names


def token_set_problems(token_sets: Any, used: Mapping[str, str]) -> tuple[list[Problem], list[Problem]]:
    """Problems of a token-values file (a list of {"tokens_values": {name: value}}) against the names `used`.

    Returns (problems in the token file, problems in the config: tokens it uses that no set defines).
    """
    if not isinstance(token_sets, list):
        return [Problem("", 'must be a list of {"tokens_values": {...}} objects')], []
    if not token_sets:
        return [Problem("", "holds no token sets; give at least one")], []
    problems: list[Problem] = []
    config_problems: list[Problem] = []
    first_names: set[str] | None = None
    for index, entry in enumerate(token_sets):
        path = at_index("", index)
        if not isinstance(entry, dict) or set(entry) != {"tokens_values"}:
            problems.append(Problem(path, 'must be an object with exactly one key, "tokens_values"'))
            continue
        values = entry["tokens_values"]
        values_path = at_key(path, "tokens_values")
        if not isinstance(values, dict):
            problems.append(Problem(values_path, "must be an object of token name -> value"))
            continue
        for name, value in values.items():
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                problems.append(Problem(at_key(values_path, name), "must be text or a number"))
        names = set(values)
        if first_names is None:
            first_names = names
        elif names != first_names:
            missing, extra = sorted(first_names - names), sorted(names - first_names)
            detail = "; ".join(
                part
                for part in (
                    f"it lacks {', '.join(missing)}" if missing else "",
                    f"it adds {', '.join(extra)}" if extra else "",
                )
                if part
            )
            problems.append(
                Problem(
                    values_path,
                    f"defines other token names than the first set ({detail}); every set must define the same names",
                )
            )
        for name in sorted(names - set(used)):
            problems.append(Problem(at_key(values_path, name), f"the token {name!r} is not used in the form config"))
    for name, where in used.items():
        if first_names is not None and name not in first_names:
            config_problems.append(Problem(where, f"uses the token {{{{{name}}}}}, which the token sets do not define"))
    return problems, config_problems


def expand(config: Mapping[str, Any], token_sets: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One config per token set, tokens replaced by the set's values and the set kept in `form_metadata`.

    Call `token_set_problems` first: this assumes every used token has a value.
    """
    forms = []
    for entry in token_sets:
        values = {name: _text(value) for name, value in entry["tokens_values"].items()}
        form = _fill(copy.deepcopy(dict(config)), values, "")
        metadata = dict(form.get("form_metadata") or {})
        metadata["tokens_values"] = dict(entry["tokens_values"])
        form["form_metadata"] = metadata
        forms.append(form)
    return forms


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _fill(value: Any, values: Mapping[str, str], key: str) -> Any:
    if isinstance(value, str):
        if key not in TOKEN_KEYS:
            return value

        def replace(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            return values[name] if name in values else match.group(0)

        return _BRACES.sub(replace, value)
    if isinstance(value, dict):
        return {k: (v if k == "form_metadata" and key == "" else _fill(v, values, str(k))) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(item, values, key) for item in value]
    return value
