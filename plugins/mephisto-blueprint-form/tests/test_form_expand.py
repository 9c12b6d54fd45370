"""`mephisto form expand`: one form per token set, and clear errors when config and token sets disagree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from form_support import config_with, write_json

from mephisto_core.cli import cli

FIELD = "form.sections[0].fieldsets[0].rows[0].fields[0]"


def template() -> dict[str, Any]:
    config = config_with(
        {
            "type": "textarea",
            "name": "description",
            "label": "Describe {{ animal }}",
            "tooltip": "About the {{animal}}",
            "placeholder": "Write here",
            "validators": {"required": True},
        }
    )
    config["form"]["title"] = "Study {{study}}"
    config["form"]["instruction"] = "<p>Look at the <b>{{animal}}</b>.</p>"
    config["form_metadata"] = {"batch": 3}
    return config


def run_expand(tmp_path: Path, config: Any, token_sets: Any) -> tuple[int, list[str], Path]:
    config_path = write_json(tmp_path / "config.json", config)
    tokens_path = write_json(tmp_path / "tokens.json", token_sets)
    output = tmp_path / "out" / "forms.json"
    result = CliRunner().invoke(cli, ["form", "expand", str(config_path), str(tokens_path), "-o", str(output)])
    return result.exit_code, result.output.splitlines(), output


def test_one_form_per_token_set_with_the_set_kept_in_metadata(tmp_path: Path) -> None:
    sets = [
        {"tokens_values": {"animal": "cat", "study": 1}},
        {"tokens_values": {"animal": "<i>owl</i>", "study": 2}},
    ]
    code, lines, output = run_expand(tmp_path, template(), sets)
    assert code == 0, lines
    assert lines == [f"Wrote 2 forms to {output}."]
    forms = json.loads(output.read_text())
    assert [f["form"]["title"] for f in forms] == ["Study 1", "Study 2"]
    first = forms[0]["form"]["sections"][0]["fieldsets"][0]["rows"][0]["fields"][0]
    assert (first["label"], first["tooltip"], first["placeholder"]) == ("Describe cat", "About the cat", "Write here")
    assert forms[1]["form"]["instruction"] == "<p>Look at the <b><i>owl</i></b>.</p>"
    assert forms[0]["form_metadata"] == {"batch": 3, "tokens_values": {"animal": "cat", "study": 1}}
    # The result is a launchable data_json.
    result = CliRunner().invoke(cli, ["form", "validate", str(output)])
    assert result.exit_code == 0, result.output


def test_token_used_but_not_defined_points_into_the_config(tmp_path: Path) -> None:
    code, lines, output = run_expand(tmp_path, template(), [{"tokens_values": {"animal": "cat"}}])
    assert code == 1
    assert lines == [
        f"{tmp_path / 'config.json'}: form.title: uses the token {{{{study}}}}, which the token sets do not define"
    ]
    assert not output.exists()


def test_token_defined_but_not_used_points_into_the_token_file(tmp_path: Path) -> None:
    sets = [{"tokens_values": {"animal": "cat", "study": "1", "colour": "red"}}]
    code, lines, _ = run_expand(tmp_path, template(), sets)
    assert code == 1
    assert lines == [
        f"{tmp_path / 'tokens.json'}: [0].tokens_values.colour: the token 'colour' is not used in the form config"
    ]


def test_sets_with_different_token_names_are_refused(tmp_path: Path) -> None:
    sets = [
        {"tokens_values": {"animal": "cat", "study": "1"}},
        {"tokens_values": {"animal": "dog"}},
        {"tokens_values": {"animal": "owl", "study": "3", "extra": "x"}},
    ]
    code, lines, _ = run_expand(tmp_path, template(), sets)
    assert code == 1
    tokens = tmp_path / "tokens.json"
    assert lines == [
        f"{tokens}: [1].tokens_values: defines other token names than the first set (it lacks study); every set "
        "must define the same names",
        f"{tokens}: [2].tokens_values: defines other token names than the first set (it adds extra); every set "
        "must define the same names",
        f"{tokens}: [2].tokens_values.extra: the token 'extra' is not used in the form config",
    ]


def test_malformed_token_files(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    assert run_expand(tmp_path, template(), {"animal": ["cat"]})[1] == [
        f'{tokens}: (top level): must be a list of {{"tokens_values": {{...}}}} objects'
    ]
    assert run_expand(tmp_path, template(), [{"tokens": {}}])[1] == [
        f'{tokens}: [0]: must be an object with exactly one key, "tokens_values"'
    ]
    assert run_expand(tmp_path, template(), [{"tokens_values": {"animal": ["x"], "study": "1"}}])[1] == [
        f"{tokens}: [0].tokens_values.animal: must be text or a number"
    ]


def test_tokens_in_the_wrong_attribute_stop_the_expansion(tmp_path: Path) -> None:
    config = template()
    config["form"]["sections"][0]["fieldsets"][0]["rows"][0]["fields"][0]["placeholder"] = "{{animal}}"
    code, lines, _ = run_expand(tmp_path, config, [{"tokens_values": {"animal": "cat", "study": "1"}}])
    assert code == 1
    assert lines == [
        f"{tmp_path / 'config.json'}: {FIELD}.placeholder: the token {{{{animal}}}} is in 'placeholder'; tokens may "
        "only appear in help, instruction, label, title, tooltip"
    ]


def test_a_list_of_configs_cannot_be_expanded(tmp_path: Path) -> None:
    code, lines, _ = run_expand(tmp_path, [template()], [{"tokens_values": {"animal": "cat", "study": "1"}}])
    assert (code, lines) == (
        1,
        [
            f"{tmp_path / 'config.json'}: (top level): "
            'must be one form config (an object with "form") to expand, not a list'
        ],
    )
