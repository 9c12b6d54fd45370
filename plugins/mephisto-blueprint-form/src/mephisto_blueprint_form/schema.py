"""Everything wrong with a form config, each problem with its JSON path.

Used by `mephisto form validate`, by the blueprint's `check()` before a launch, and by `mephisto form expand` on
the forms it writes. The structure (which keys each element has) follows the original form composer; field types,
validators and their arguments follow `validators.json`.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mephisto_blueprint_form.jsregex import RegexpProblem
from mephisto_blueprint_form.paths import Problem, at_index, at_key, prefixed
from mephisto_blueprint_form.rules import compiled_regexp, field_kind, rule_table
from mephisto_blueprint_form.tokens import token_problems


@dataclass(frozen=True)
class Key:
    """An allowed key of an element: the type its value must have and whether it must be there."""

    type: str  # "string", "bool", "object", "list", "any"
    required: bool = False


_STRING, _BOOL, _OBJECT, _LIST, _ANY = Key("string"), Key("bool"), Key("object"), Key("list"), Key("any")
_COMMON = {"classes": _STRING, "id": _STRING}

ELEMENTS: dict[str, dict[str, Key]] = {
    "config": {"form": Key("object", True), "form_metadata": _OBJECT},
    "form": {
        "title": Key("string", True),
        "sections": Key("list", True),
        "submit_button": Key("object", True),
        "instruction": _STRING,
        "show_instructions_as_modal": _BOOL,
        **_COMMON,
    },
    "submit button": {"text": Key("string", True), "tooltip": _STRING, "instruction": _STRING, **_COMMON},
    "section": {
        "title": Key("string", True),
        "fieldsets": Key("list", True),
        "name": _STRING,
        "instruction": _STRING,
        "collapsable": _BOOL,
        "initially_collapsed": _BOOL,
        **_COMMON,
    },
    "fieldset": {
        "rows": Key("list", True),
        "title": _STRING,
        "name": _STRING,
        "instruction": _STRING,
        "help": _STRING,
        **_COMMON,
    },
    "row": {"fields": Key("list", True), "help": _STRING, **_COMMON},
    "field": {
        "label": Key("string", True),
        "name": Key("string", True),
        "type": Key("string", True),
        "help": _STRING,
        "placeholder": _STRING,
        "tooltip": _STRING,
        "show_preview": _BOOL,
        "validators": _OBJECT,
        "value": _ANY,
        "options": _LIST,
        "multiple": _BOOL,
        **_COMMON,
    },
    "option": {"label": Key("string", True), "value": Key("string", True), "checked": _BOOL},
}
# Keys of the original format this blueprint deliberately does not run.
UNSUPPORTED_KEYS = {
    "triggers": "custom JavaScript triggers are not supported by the form blueprint; remove 'triggers'",
}
CHOICE_TYPES = ("select", "radio", "checkbox")
_EXTENSION = re.compile(r"^\.?[A-Za-z0-9]+$")
_NUMBER_LIMIT = 1e15
_NUMBER_SMALLEST = 1e-4


def validate_data(data: Any, *, allow_tokens: bool = False) -> list[Problem]:
    """Problems of a `data_json` document: one form config, or a non-empty list of them."""
    if isinstance(data, list):
        if not data:
            return [Problem("", "is an empty list; give at least one form config")]
        problems: list[Problem] = []
        for index, config in enumerate(data):
            problems += prefixed(validate_config(config, allow_tokens=allow_tokens), index)
        return problems
    return validate_config(data, allow_tokens=allow_tokens)


def validate_config(config: Any, *, allow_tokens: bool = False) -> list[Problem]:
    """Problems of one form config; `allow_tokens` accepts `{{token}}`s (a config to expand, not to launch)."""
    checker = _Checker()
    root = checker.element(config, "", "config")
    if root is not None:
        form = checker.element(root.get("form"), "form", "form") if "form" in root else None
        if form is not None:
            checker.form(form)
    if isinstance(config, Mapping):
        checker.problems += token_problems(config, allow_tokens=allow_tokens)
    return sorted(set(checker.problems), key=checker.problems.index)


class _Checker:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.ids: dict[str, str] = {}
        self.names: dict[str, str] = {}

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    # ---- structure ---------------------------------------------------------------------------------

    def element(self, value: Any, path: str, what: str) -> dict[str, Any] | None:
        """`value` if it is an object; reports unknown, missing and wrongly typed keys of a `what`."""
        if not isinstance(value, dict):
            self.add(path, f"must be an object (a {what}), got {_type_name(value)}")
            return None
        spec = ELEMENTS[what]
        for key in value:
            if key in spec:
                continue
            if key in UNSUPPORTED_KEYS:
                self.add(at_key(path, key), UNSUPPORTED_KEYS[key])
                continue
            close = difflib.get_close_matches(key, list(spec), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            self.add(at_key(path, key), f"unknown key {key!r} for a {what}; {hint}allowed: {', '.join(spec)}")
        for key, rule in spec.items():
            if key not in value:
                if rule.required:
                    self.add(at_key(path, key), f"is required (every {what} has {key!r})")
                continue
            if not _has_type(value[key], rule.type):
                self.add(at_key(path, key), f"must be {_TYPE_WORDS[rule.type]}, got {_type_name(value[key])}")
        self.unique(value, path)
        return value

    def children(self, parent: dict[str, Any], path: str, key: str, what: str) -> list[tuple[str, dict[str, Any]]]:
        """The elements of the list `parent[key]` (reported when not a non-empty list of objects)."""
        items = parent.get(key)
        if not isinstance(items, list):
            return []  # reported by element() as missing or wrongly typed
        list_path = at_key(path, key)
        if not items:
            self.add(list_path, f"is empty; give at least one {what}")
        found = []
        for index, item in enumerate(items):
            child = self.element(item, at_index(list_path, index), what)
            if child is not None:
                found.append((at_index(list_path, index), child))
        return found

    def unique(self, element: dict[str, Any], path: str) -> None:
        for key, seen in (("id", self.ids), ("name", self.names)):
            value = element.get(key)
            if not isinstance(value, str):
                continue
            if value.strip() == "" or (key == "id" and any(c.isspace() for c in value)):
                self.add(at_key(path, key), f"must be a non-empty {key}" + (" without spaces" if key == "id" else ""))
                continue
            if value in seen:
                self.add(at_key(path, key), f"the {key} {value!r} is already used by {seen[value] or 'the form'}")
            else:
                seen[value] = path

    def form(self, form: dict[str, Any]) -> None:
        if isinstance(form.get("submit_button"), dict):
            self.element(form["submit_button"], "form.submit_button", "submit button")
        for section_path, section in self.children(form, "form", "sections", "section"):
            for fieldset_path, fieldset in self.children(section, section_path, "fieldsets", "fieldset"):
                for row_path, row in self.children(fieldset, fieldset_path, "rows", "row"):
                    for field_path, field in self.children(row, row_path, "fields", "field"):
                        self.field(field, field_path)

    # ---- fields ------------------------------------------------------------------------------------

    def field(self, field: dict[str, Any], path: str) -> None:
        field_type = field.get("type")
        types = rule_table().field_types
        if not isinstance(field_type, str):
            return  # reported as missing or not a string
        if field_type not in types:
            self.add(
                at_key(path, "type"), f"unknown field type {field_type!r}; field types: {', '.join(sorted(types))}"
            )
            return
        if "multiple" in field and field_type != "select":
            self.add(at_key(path, "multiple"), "only select fields can be multiple")
        if "show_preview" in field and field_type != "file":
            self.add(at_key(path, "show_preview"), "only file fields show a preview")
        options_ok = self.options(field, path, field_type)
        kind = field_kind(field) if _has_type(field.get("multiple", False), "bool") else types[field_type]["kind"]
        if "value" in field and options_ok:
            self.initial_value(field, path, kind)
        if isinstance(field.get("validators"), dict):
            self.validators(field, at_key(path, "validators"), kind, options_ok)

    def options(self, field: dict[str, Any], path: str, field_type: str) -> bool:
        """Checks `options`; True when the field's options (if it needs any) are usable."""
        if field_type not in CHOICE_TYPES:
            if "options" in field:
                self.add(at_key(path, "options"), f"only {', '.join(CHOICE_TYPES)} fields have options")
            return True
        if "options" not in field:
            self.add(at_key(path, "options"), f"is required for a {field_type} field (a list of {{label, value}})")
            return False
        options = self.children(field, path, "options", "option")
        if not isinstance(field["options"], list) or len(options) != len(field["options"]):
            return False
        seen: dict[str, int] = {}
        for index, (option_path, option) in enumerate(options):
            value = option.get("value")
            if isinstance(value, str):
                if value in seen:
                    self.add(at_key(option_path, "value"), f"{value!r} is already the value of option {seen[value]}")
                seen.setdefault(value, index)
        checked = [p for p, o in options if o.get("checked") is True]
        single = field_type == "radio" or (field_type == "select" and field.get("multiple") is not True)
        if single and len(checked) > 1:
            self.add(at_key(path, "options"), "only one option of a single-choice field can be checked")
        return all(isinstance(o.get("value"), str) for _, o in options)

    def initial_value(self, field: dict[str, Any], path: str, kind: str) -> None:
        value, value_path = field["value"], at_key(path, "value")
        options = [o["value"] for o in field.get("options", [])]
        if kind == "files":
            if value not in ("", None):
                self.add(value_path, "a file field cannot have an initial value")
        elif kind == "number":
            if not (value == "" or _is_number(value) or (isinstance(value, str) and _parses_as_number(value))):
                self.add(value_path, f"must be a number (or empty), got {value!r}")
        elif kind == "choice":
            if not isinstance(value, str) or (value != "" and value not in options):
                self.add(value_path, f'must be "" or the value of one of the options ({", ".join(map(repr, options))})')
        elif kind == "choices":
            chosen = _initial_choices(value)
            if chosen is None or any(v not in options for v in chosen):
                self.add(
                    value_path,
                    "must be a list of option values (or, as in the original, an object of option value -> "
                    f"true/false); options: {', '.join(map(repr, options))}",
                )
        elif not isinstance(value, str):
            self.add(value_path, f"must be a string, got {_type_name(value)}")

    def validators(self, field: dict[str, Any], path: str, kind: str, options_ok: bool) -> None:
        table = rule_table()
        validators = field["validators"]
        names = [rule.name for rule in table.validators]
        for name, argument in validators.items():
            rule = table.validator(name)
            name_path = at_key(path, name)
            if rule is None:
                close = difflib.get_close_matches(name, names, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                self.add(name_path, f"unknown validator {name!r}; {hint}validators: {', '.join(names)}")
                continue
            if kind not in rule.messages:
                self.add(
                    name_path,
                    f"{name} does not apply to {_field_words(field)}; it applies to {_applies_words(rule.messages)}",
                )
                continue
            problem = _argument_problem(rule.argument, argument)
            if problem:
                self.add(name_path, problem)
        self.validator_combinations(field, path, kind, options_ok)

    def validator_combinations(self, field: dict[str, Any], path: str, kind: str, options_ok: bool) -> None:
        v = field["validators"]
        low, high = v.get("minLength"), v.get("maxLength")
        if _is_count(low) and _is_count(high) and low > high:
            self.add(at_key(path, "minLength"), f"is more than maxLength ({low} > {high}): no answer can pass")
        if v.get("required") is True and _is_count(high) and high == 0:
            self.add(at_key(path, "maxLength"), "is 0 but the field is required: no answer can pass")
        if kind == "choices" and options_ok and _is_count(low) and low > len(field.get("options", [])):
            self.add(
                at_key(path, "minLength"),
                f"asks for {low} choices but the field has only {len(field['options'])} options",
            )
        lowest, highest = v.get("min"), v.get("max")
        if _is_number(lowest) and _is_number(highest) and lowest > highest:
            self.add(at_key(path, "min"), f"is more than max ({lowest} > {highest}): no answer can pass")


# ---- argument checks -----------------------------------------------------------------------------------


def _argument_problem(argument_type: str, argument: Any) -> str | None:
    if argument_type == "boolean":
        return None if isinstance(argument, bool) else f"must be true or false, got {_type_name(argument)}"
    if argument_type == "count":
        return None if _is_count(argument) else f"must be a whole number of 0 or more, got {argument!r}"
    if argument_type == "number":
        if not _is_number(argument) or abs(argument) >= _NUMBER_LIMIT or 0 < abs(argument) < _NUMBER_SMALLEST:
            return f"must be a number between -1e15 and 1e15 (0, or at least 0.0001 away from it), got {argument!r}"
        return None
    if argument_type == "extensions":
        if not isinstance(argument, list) or not argument:
            return f'must be a non-empty list of file extensions such as ["png", "jpg"], got {_type_name(argument)}'
        wrong = [item for item in argument if not isinstance(item, str) or not _EXTENSION.match(item)]
        if wrong:
            return f"{wrong[0]!r} is not a file extension (letters and digits, optionally after a dot)"
        return None
    if argument_type == "regexp":
        return _regexp_problem(argument)
    raise AssertionError(f"validators.json names an unknown argument type {argument_type!r}")


def _regexp_problem(argument: Any) -> str | None:
    shape_ok = isinstance(argument, str) or (
        isinstance(argument, list) and 1 <= len(argument) <= 3 and all(isinstance(item, str) for item in argument)
    )
    if not shape_ok:
        return (
            'must be a pattern, or [pattern, flags] such as ["^[0-9]+$", "i"], or [pattern, flags, expected format] '
            'such as ["^[0-9]{5}$", "", "5 digits, such as 02139"]'
        )
    try:
        compiled_regexp(argument)
    except RegexpProblem as exc:
        return str(exc)
    return None


# ---- small helpers -------------------------------------------------------------------------------------

_TYPE_WORDS = {
    "string": "text (a string)",
    "bool": "true or false",
    "object": "an object",
    "list": "a list",
    "any": "a value",
}


def _has_type(value: Any, type_name: str) -> bool:
    if type_name == "string":
        return isinstance(value, str)
    if type_name == "bool":
        return isinstance(value, bool)
    if type_name == "object":
        return isinstance(value, dict)
    if type_name == "list":
        return isinstance(value, list)
    return True


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _parses_as_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _initial_choices(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    if isinstance(value, dict) and all(isinstance(v, bool) for v in value.values()):
        return [k for k, v in value.items() if v]
    return None


def _field_words(field: Mapping[str, Any]) -> str:
    if field["type"] == "select":
        return "multiple select fields" if field.get("multiple") is True else "single select fields"
    return f"{field['type']} fields"


def _applies_words(messages: Mapping[str, str]) -> str:
    words = []
    for field_type, spec in rule_table().field_types.items():
        if spec["kind"] in messages:
            words.append("single select" if field_type == "select" else field_type)
        elif spec.get("kind_if_multiple") in messages:
            words.append("multiple select")
    return ", ".join(words) + " fields"
