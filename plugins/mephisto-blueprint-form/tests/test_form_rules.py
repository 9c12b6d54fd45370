"""The server's validators: the shared vectors (also run in Chromium), and each validator's own behaviour."""

from __future__ import annotations

from typing import Any

import pytest
from form_support import VECTORS, config_with
from mephisto_blueprint_form.jsregex import JS_WHITESPACE, RegexpProblem
from mephisto_blueprint_form.pyregex import compile_js_regexp
from mephisto_blueprint_form.rules import field_messages, rule_table, trim
from mephisto_blueprint_form.schema import validate_config

CASES = VECTORS["cases"]
SYNTAX = VECTORS["regexp_syntax"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_shared_vector_gives_the_expected_messages(case: dict[str, Any]) -> None:
    assert field_messages(case["field"], case["value"]) == case["messages"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_every_vector_field_is_a_valid_config(case: dict[str, Any]) -> None:
    assert validate_config(config_with(case["field"])) == []


@pytest.mark.parametrize("case", SYNTAX, ids=[f"/{c['pattern']}/{c['flags']}" for c in SYNTAX])
def test_server_accepts_exactly_the_portable_patterns(case: dict[str, Any]) -> None:
    if case["server_accepts"]:
        compile_js_regexp(case["pattern"], case["flags"])
    else:
        with pytest.raises(RegexpProblem):
            compile_js_regexp(case["pattern"], case["flags"])


def test_vectors_cover_every_validator_and_kind() -> None:
    used_validators = {name for case in CASES for name in case["field"].get("validators", {})}
    assert used_validators == {rule.name for rule in rule_table().validators}
    assert {case["field"]["type"] for case in CASES} == set(rule_table().field_types)


def test_trim_uses_javascripts_white_space_not_pythons() -> None:
    assert rule_table().whitespace == frozenset(JS_WHITESPACE)
    assert trim("\ufeff a \u3000") == "a"
    assert trim("\x85a\x1c") == "\x85a\x1c"  # str.strip() would remove both


def test_required_reports_only_required_for_an_empty_value() -> None:
    field = {
        "type": "input",
        "name": "n",
        "label": "N",
        "validators": {"required": True, "minLength": 3, "regexp": "x"},
    }
    assert field_messages(field, "  ") == ["This field is required."]


def test_min_length_message_names_the_number() -> None:
    field = {"type": "textarea", "name": "n", "label": "N", "validators": {"minLength": 12}}
    assert field_messages(field, "eleven char") == ["Value should be at least 12 characters long."]


def test_max_length_counts_choices_on_a_checkbox() -> None:
    field = {
        "type": "checkbox",
        "name": "c",
        "label": "C",
        "options": [{"label": x, "value": x} for x in "abcd"],
        "validators": {"maxLength": 2},
    }
    assert field_messages(field, ["a", "b", "c"]) == ["Should have at most 2 items selected."]
    assert field_messages(field, ["a", "c"]) == []


def test_regexp_given_as_a_plain_string_uses_default_flags_igm() -> None:
    field = {"type": "input", "name": "n", "label": "N", "validators": {"regexp": "^yes$"}}
    assert field_messages(field, "no\nYES") == []
    assert field_messages(field, "no") == ["Incorrectly formatted input."]


def test_file_extension_lists_every_wrong_extension_once() -> None:
    field = {"type": "file", "name": "f", "label": "F", "validators": {"fileExtension": ["txt"]}}
    assert field_messages(field, ["a.pdf", "b.PDF", "c.doc", "d.txt"]) == [
        "File type should be: txt. You attached: pdf, doc."
    ]


def test_min_and_max_both_apply_to_numbers() -> None:
    field = {"type": "number", "name": "n", "label": "N", "validators": {"min": 1, "max": 5}}
    assert field_messages(field, 0) == ["Value should be at least 1."]
    assert field_messages(field, 6) == ["Value should be at most 5."]
    assert field_messages(field, 3) == []
    assert field_messages(field, float("nan")) == ["Enter a number."]


def test_translation_spells_out_what_python_would_read_differently() -> None:
    pattern = compile_js_regexp("^a.\\d$", "").python.pattern
    assert pattern == "\\A" + "a[^\\x0a\\x0d\\u2028\\u2029][0-9]" + "\\Z"
