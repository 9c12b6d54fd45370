"""The server's reading of `validators.json`: the messages a field's value earns, exactly as the page computes them.

`assets/form-rules.js` interprets the same table in the worker's browser; the shared test vectors
(`tests/validator_vectors.json`) run through both, so a change to one that the other does not follow fails a test.
The order of the steps (shape, empty, format, validators) is described in the table's `about`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from mephisto_blueprint_form.pyregex import CompiledRegexp, compile_js_regexp

KINDS = ("text", "number", "choice", "choices", "files", "fixed")


@dataclass(frozen=True)
class ValidatorRule:
    """One validator of the table: its name, argument type, check, and a message per kind it applies to."""

    name: str
    argument: str
    check: str
    messages: Mapping[str, str]


@dataclass(frozen=True)
class RuleTable:
    """`validators.json`, read once."""

    raw: Mapping[str, Any]
    whitespace: frozenset[str]
    field_types: Mapping[str, Mapping[str, str]]
    shape_messages: Mapping[str, str]
    formats: Mapping[str, Mapping[str, Any]]
    default_regexp_flags: str
    no_extension: str
    validators: tuple[ValidatorRule, ...]

    def validator(self, name: str) -> ValidatorRule | None:
        """The rule named `name`, or None."""
        return next((rule for rule in self.validators if rule.name == name), None)


def rules_text() -> str:
    """The table's JSON text (embedded as it is in the worker page)."""
    return resources.files("mephisto_blueprint_form").joinpath("validators.json").read_text(encoding="utf-8")


@cache
def rule_table() -> RuleTable:
    """The parsed table."""
    raw = json.loads(rules_text())
    return RuleTable(
        raw=raw,
        whitespace=frozenset(raw["whitespace"]),
        field_types=raw["field_types"],
        shape_messages={kind: spec["shape_message"] for kind, spec in raw["kinds"].items()},
        formats=raw["formats"],
        default_regexp_flags=raw["default_regexp_flags"],
        no_extension=raw["no_extension"],
        validators=tuple(
            ValidatorRule(v["name"], v["argument"], v["check"], v["applies_to"]) for v in raw["validators"]
        ),
    )


# ---- small shared definitions --------------------------------------------------------------------------


def field_kind(field: Mapping[str, Any]) -> str:
    """How the answer holds this field: one of KINDS."""
    spec = rule_table().field_types[field["type"]]
    if field.get("multiple") is True and "kind_if_multiple" in spec:
        return spec["kind_if_multiple"]
    return spec["kind"]


def trim(text: str) -> str:
    """`text` without the white space JavaScript's trim() removes at both ends."""
    whitespace = rule_table().whitespace
    start, end = 0, len(text)
    while start < end and text[start] in whitespace:
        start += 1
    while end > start and text[end - 1] in whitespace:
        end -= 1
    return text[start:end]


def regexp_spec(argument: Any, default_flags: str | None = None) -> tuple[str, str]:
    """(pattern, flags) of a `regexp` argument: "pattern", ["pattern"] or ["pattern", "flags"]."""
    flags = rule_table().default_regexp_flags if default_flags is None else default_flags
    if isinstance(argument, str):
        return argument, flags
    pattern = argument[0]
    return pattern, argument[1] if len(argument) > 1 else flags


def compiled_regexp(argument: Any) -> CompiledRegexp:
    """The compiled `regexp` argument; raises RegexpProblem for one that is not usable (see `schema`)."""
    return compile_js_regexp(*regexp_spec(argument))


def format_number(value: float) -> str:
    """A number as JavaScript's String() writes it, for the numbers validators accept (|x| < 1e15, >= 1e-4)."""
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def extension_of(name: str) -> str:
    """The lower-case extension of a file name without its dot ("" when it has none)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, extension = base.rpartition(".")
    return extension.lower() if dot and stem else ""


def normal_extensions(argument: Sequence[str]) -> list[str]:
    """`fileExtension`'s argument as lower-case extensions without dots."""
    return [item.lstrip(".").lower() for item in argument]


def is_empty(kind: str, value: Any) -> bool:
    """Whether a value (of the right shape for `kind`) counts as not given."""
    if kind in ("text", "choice"):
        return value is None or trim(value) == ""
    if kind == "number":
        return value is None
    if kind in ("choices", "files"):
        return len(value) == 0
    return False


# ---- the steps --------------------------------------------------------------------------------------


def _option_values(field: Mapping[str, Any]) -> list[str]:
    return [option["value"] for option in field.get("options", [])]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _shape_ok(field: Mapping[str, Any], kind: str, value: Any) -> bool:
    if kind == "text":
        return isinstance(value, str)
    if kind == "number":
        return value is None or _is_number(value)
    if kind == "choice":
        return value is None or (isinstance(value, str) and (trim(value) == "" or value in _option_values(field)))
    if kind == "choices":
        options = _option_values(field)
        return (
            isinstance(value, list)
            and all(isinstance(item, str) and item in options for item in value)
            and len(set(value)) == len(value)
        )
    if kind == "files":
        return isinstance(value, list) and all(isinstance(item, str) and item for item in value)
    return bool(value == field.get("value", ""))  # fixed


def _size(value: Any) -> int:
    # Characters are code points on both sides (the page counts with Array.from, not .length).
    return len(value)


def _check(rule: ValidatorRule, argument: Any, value: Any) -> tuple[bool, str]:
    """(passes, the {actual} text) for one validator."""
    if rule.check == "size_at_least":
        return _size(value) >= argument, str(_size(value))
    if rule.check == "size_at_most":
        return _size(value) <= argument, str(_size(value))
    if rule.check == "number_at_least":
        return value >= argument, format_number(value)
    if rule.check == "number_at_most":
        return value <= argument, format_number(value)
    if rule.check == "matches":
        return compiled_regexp(argument).test(value), value
    if rule.check == "extension_in":
        allowed = normal_extensions(argument)
        wrong = [extension_of(name) for name in value if extension_of(name) not in allowed]
        actual = ", ".join(ext or rule_table().no_extension for ext in dict.fromkeys(wrong))
        return not wrong, actual
    raise AssertionError(f"validators.json names an unknown check {rule.check!r}")


def _argument_text(rule: ValidatorRule, argument: Any) -> str:
    if rule.argument == "extensions":
        return ", ".join(normal_extensions(argument))
    if rule.argument == "number":
        return format_number(argument)
    return str(argument)


def field_messages(field: Mapping[str, Any], value: Any) -> list[str]:
    """Every message `value` earns for `field` (a field of a valid config); empty when it is accepted."""
    table = rule_table()
    kind = field_kind(field)
    if not _shape_ok(field, kind, value):
        return [table.shape_messages[kind]]
    if kind == "fixed":
        return []
    validators = field.get("validators") or {}
    if is_empty(kind, value):
        required = next((rule for rule in table.validators if rule.check == "present"), None)
        return [required.messages[kind]] if required and validators.get(required.name) is True else []
    format_name = table.field_types[field["type"]].get("format")
    if format_name is not None:
        spec = table.formats[format_name]
        if not compile_js_regexp(*regexp_spec(spec["regexp"])).test(value):
            return [spec["message"]]
    messages = []
    for rule in table.validators:
        if rule.check == "present" or rule.name not in validators or kind not in rule.messages:
            continue
        argument = validators[rule.name]
        passes, actual = _check(rule, argument, value)
        if not passes:
            template = rule.messages[kind]
            if rule.check == "matches" and isinstance(argument, list) and len(argument) == 3:
                # [pattern, flags, expected format]: say what is expected, not just that the input is wrong.
                template = table.raw["regexp_described_message"].replace("{format}", argument[2])
            messages.append(template.replace("{value}", _argument_text(rule, argument)).replace("{actual}", actual))
    return messages
