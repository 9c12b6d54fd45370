"""`mephisto form validate`: every problem of a malformed config printed with its JSON path, exit status 1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from form_support import config_with, reference_config, write_json

from mephisto_core.cli import cli

FIELD = "form.sections[0].fieldsets[0].rows[0].fields"


def run_validate(tmp_path: Path, data: Any, *options: str) -> tuple[int, list[str], str]:
    """(exit code, problem lines on stdout, stderr) of `mephisto form validate` on `data`."""
    path = write_json(tmp_path / "form.json", data)
    result = CliRunner().invoke(cli, ["form", "validate", str(path), *options])
    return result.exit_code, result.stdout.splitlines(), result.stderr


def field(**overrides: Any) -> dict[str, Any]:
    return {"type": "input", "name": "answer", "label": "Answer", **overrides}


def test_reference_example_has_no_problems(tmp_path: Path) -> None:
    code, lines, _ = run_validate(tmp_path, reference_config())
    assert code == 0
    assert lines == [f"{tmp_path / 'form.json'}: no problems (1 form, 11 fields)."]


def test_unknown_keys_are_reported_with_a_suggestion_and_missing_keys_named(tmp_path: Path) -> None:
    config = config_with(field())
    section = config["form"]["sections"][0]
    section["fieldset"] = section.pop("fieldsets")
    code, lines, stderr = run_validate(tmp_path, config)
    assert code == 1
    assert lines == [
        "form.sections[0].fieldset: unknown key 'fieldset' for a section; did you mean 'fieldsets'? allowed: "
        "title, fieldsets, name, instruction, collapsable, initially_collapsed, classes, id",
        "form.sections[0].fieldsets: is required (every section has 'fieldsets')",
    ]
    assert "2 problems" in stderr


def test_unknown_field_type_lists_the_known_ones(tmp_path: Path) -> None:
    code, lines, _ = run_validate(tmp_path, config_with(field(type="date")))
    assert code == 1
    assert lines == [
        f"{FIELD}[0].type: unknown field type 'date'; field types: checkbox, email, file, hidden, input, "
        "number, password, radio, select, textarea"
    ]


def test_missing_required_keys_of_field_and_form(tmp_path: Path) -> None:
    config = config_with({"type": "input", "name": "a"})
    del config["form"]["submit_button"]
    code, lines, _ = run_validate(tmp_path, config)
    assert code == 1
    assert lines == [
        "form.submit_button: is required (every form has 'submit_button')",
        f"{FIELD}[0].label: is required (every field has 'label')",
    ]


def test_wrong_types_and_empty_lists(tmp_path: Path) -> None:
    config = config_with(field(label=7, multiple="yes"))
    config["form"]["sections"].append({"title": "Empty", "fieldsets": []})
    code, lines, _ = run_validate(tmp_path, config)
    assert code == 1
    assert lines == [
        f"{FIELD}[0].label: must be text (a string), got the number 7",
        f"{FIELD}[0].multiple: must be true or false, got the text 'yes'",
        f"{FIELD}[0].multiple: only select fields can be multiple",
        "form.sections[1].fieldsets: is empty; give at least one fieldset",
    ]


def test_duplicate_names_and_ids_point_at_the_first_use(tmp_path: Path) -> None:
    config = config_with(field(id="x1"), field(id="x1"), field(name="other", id="x 2"))
    code, lines, _ = run_validate(tmp_path, config)
    assert code == 1
    assert lines == [
        f"{FIELD}[1].id: the id 'x1' is already used by {FIELD}[0]",
        f"{FIELD}[1].name: the name 'answer' is already used by {FIELD}[0]",
        f"{FIELD}[2].id: must be a non-empty id without spaces",
    ]


def test_bad_validators_each_get_a_message(tmp_path: Path) -> None:
    select = {
        "type": "select",
        "name": "pick",
        "label": "Pick",
        "options": [{"label": "A", "value": "a"}],
        "validators": {"regexp": "^a$", "minLength": 1},
    }
    text = field(validators={"minlength": 2, "maxLength": "3", "required": "yes", "fileExtension": ["png"]})
    number = {"type": "number", "name": "n", "label": "N", "validators": {"min": 5, "max": 1, "minLength": 2}}
    choices = {
        "type": "checkbox",
        "name": "c",
        "label": "C",
        "options": [{"label": "A", "value": "a"}],
        "validators": {"minLength": 2},
    }
    code, lines, _ = run_validate(tmp_path, config_with(select, text, number, choices))
    assert code == 1
    assert lines == [
        f"{FIELD}[0].validators.regexp: regexp does not apply to single select fields; it applies to input, "
        "email, password, textarea fields",
        f"{FIELD}[0].validators.minLength: minLength does not apply to single select fields; it applies to "
        "input, email, password, textarea, multiple select, checkbox fields",
        f"{FIELD}[1].validators.minlength: unknown validator 'minlength'; did you mean 'minLength'? validators: "
        "required, minLength, maxLength, min, max, regexp, fileExtension",
        f"{FIELD}[1].validators.maxLength: must be a whole number of 0 or more, got '3'",
        f"{FIELD}[1].validators.required: must be true or false, got the text 'yes'",
        f"{FIELD}[1].validators.fileExtension: fileExtension does not apply to input fields; it applies to file fields",
        f"{FIELD}[2].validators.minLength: minLength does not apply to number fields; it applies to input, "
        "email, password, textarea, multiple select, checkbox fields",
        f"{FIELD}[2].validators.min: is more than max (5 > 1): no answer can pass",
        f"{FIELD}[3].validators.minLength: asks for 2 choices but the field has only 1 options",
    ]


def test_bad_regexps_say_why_at_the_validator_path(tmp_path: Path) -> None:
    fields = [
        field(name="a", validators={"regexp": ["\\p{L}+", "u"]}),
        field(name="b", validators={"regexp": ["a{", "i"]}),
        field(name="c", validators={"regexp": ["x", "ix"]}),
        field(name="d", validators={"regexp": ["\\@home", ""]}),
        field(name="e", validators={"regexp": ["(?<=a+)b", ""]}),
        field(name="f", validators={"regexp": ["x", "i", "a format", "extra"]}),
    ]
    code, lines, _ = run_validate(tmp_path, config_with(*fields))
    assert code == 1
    assert lines == [
        f"{FIELD}[0].validators.regexp: Unicode property escapes \\p{{...}} (position 0) are not supported; "
        "list the characters in a class instead",
        f"{FIELD}[1].validators.regexp: incomplete quantifier '{{' at position 1",
        f"{FIELD}[2].validators.regexp: 'x' is not a regular expression flag; use only g, i, m, s and u",
        f"{FIELD}[3].validators.regexp: invalid escape '\\@' (the page compiles patterns in Unicode mode, where "
        "only ^ $ \\ . * + ? ( ) [ ] { } | / may be escaped; write @ alone) at position 0",
        f"{FIELD}[4].validators.regexp: the server cannot run this pattern: look-behind requires fixed-width pattern",
        f'{FIELD}[5].validators.regexp: must be a pattern, or [pattern, flags] such as ["^[0-9]+$", "i"], or '
        '[pattern, flags, expected format] such as ["^[0-9]{5}$", "", "5 digits, such as 02139"]',
    ]


def test_options_missing_mistyped_or_repeated(tmp_path: Path) -> None:
    radio = {"type": "radio", "name": "r", "label": "R"}
    select = {
        "type": "select",
        "name": "s",
        "label": "S",
        "options": [{"label": "One", "value": 1}, {"label": "Two", "value": "2", "checked": True}],
    }
    checkbox = {
        "type": "checkbox",
        "name": "c",
        "label": "C",
        "options": [{"label": "A", "value": "a"}, {"label": "Again", "value": "a"}],
        "value": ["b"],
    }
    text = field(options=[{"label": "A", "value": "a"}])
    code, lines, _ = run_validate(tmp_path, config_with(radio, select, checkbox, text))
    assert code == 1
    assert lines == [
        f"{FIELD}[0].options: is required for a radio field (a list of {{label, value}})",
        f"{FIELD}[1].options[0].value: must be text (a string), got the number 1",
        f"{FIELD}[2].options[1].value: 'a' is already the value of option 0",
        f"{FIELD}[2].value: must be a list of option values (or, as in the original, an object of option value "
        "-> true/false); options: 'a', 'a'",
        f"{FIELD}[3].options: only select, radio, checkbox fields have options",
    ]


def test_tokens_outside_text_attributes_and_unfilled_tokens(tmp_path: Path) -> None:
    config = config_with(field(label="Hello {{ name }}", placeholder="{{name}}", help="{{ fn(1) }}"))
    code, lines, stderr = run_validate(tmp_path, config)
    assert code == 1
    assert lines == [
        f"{FIELD}[0].label: the token {{{{ name }}}} has no value: fill tokens with "
        "`mephisto form expand CONFIG TOKENS -o OUT`",
        f"{FIELD}[0].placeholder: the token {{{{name}}}} is in 'placeholder'; tokens may only appear in help, "
        "instruction, label, title, tooltip",
        f"{FIELD}[0].help: {{{{ fn(1) }}}} is not a token: write {{{{name}}}} with letters, digits and _ "
        "(procedure tokens such as {{fn(...)}} are not supported)",
    ]
    assert "--allow-tokens" in stderr
    code, lines, _ = run_validate(tmp_path, config, "--allow-tokens")
    assert code == 1
    assert [line.split(":")[0] for line in lines] == [f"{FIELD}[0].placeholder", f"{FIELD}[0].help"]


def test_triggers_are_refused_rather_than_ignored(tmp_path: Path) -> None:
    config = config_with(field(triggers={"onClick": "doSomething"}))
    code, lines, _ = run_validate(tmp_path, config)
    assert (code, lines) == (
        1,
        [f"{FIELD}[0].triggers: custom JavaScript triggers are not supported by the form blueprint; remove 'triggers'"],
    )


def test_list_of_configs_prefixes_paths_with_the_index(tmp_path: Path) -> None:
    broken = config_with(field(type="colour"))
    code, lines, _ = run_validate(tmp_path, [config_with(field()), broken])
    assert code == 1
    assert lines[0].startswith(f"[1].{FIELD}[0].type: unknown field type 'colour'")


def test_not_a_config_at_all(tmp_path: Path) -> None:
    assert run_validate(tmp_path, [])[:2] == (1, ["(top level): is an empty list; give at least one form config"])
    assert run_validate(tmp_path, "form")[:2] == (1, ["(top level): must be an object (a config), got the text 'form'"])


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"form": {\n  "title": "x",\n}\n}', encoding="utf-8")
    result = CliRunner().invoke(cli, ["form", "validate", str(path)])
    assert result.exit_code == 1
    assert f"{path}:3: is not valid JSON: Expecting property name enclosed in double quotes (line 3, column 1)" in (
        result.output
    )


def test_duplicate_json_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "twice.json"
    path.write_text(json.dumps(reference_config())[:-1] + ', "form": {}}', encoding="utf-8")
    result = CliRunner().invoke(cli, ["form", "validate", str(path)])
    assert result.exit_code == 1
    assert "an object has the key 'form' twice" in result.output
