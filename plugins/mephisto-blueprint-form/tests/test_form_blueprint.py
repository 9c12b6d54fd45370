"""The blueprint itself: checks before launch, assignments, the built page, server-side answers, review HTML."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from form_support import MakeBlueprint, config_with, reference_config

from mephisto_core.abstractions import UploadedFile
from mephisto_core.errors import ConfigError

VALID_ANSWER: dict[str, Any] = {
    "name_first": "Ada",
    "name_last": "Lovelace",
    "email": "ada@mephisto.ai",
    "country": "CAN",
    "language": ["en", "fr"],
    "bio": "",
    "skills": ["javascript", "python"],
    "kids": "0",
    "avatar": ["ada.png"],
    "resume": [],
    "motto": "Imagination",
}


def upload(field: str, name: str) -> UploadedFile:
    return UploadedFile(field=field, name=name, size=3, content_type="image/png", path=Path("/uploads") / name)


def test_check_lists_every_problem_of_the_data_file(make_blueprint: MakeBlueprint, task_dir: Path) -> None:
    config = reference_config()
    fields = config["form"]["sections"][0]["fieldsets"][0]["rows"][0]["fields"]
    fields[0]["type"] = "date"
    fields[1]["validators"]["regexp"] = ["\\p{L}", ""]
    blueprint = make_blueprint(config)
    with pytest.raises(ConfigError) as caught:
        blueprint.check()
    error = caught.value
    assert error.key == "blueprint.data_json" and error.file == task_dir / "form.json"
    assert error.detail.splitlines() == [
        f"the form config has 2 problems (check it with: mephisto form validate {task_dir / 'form.json'}):",
        "  form.sections[0].fieldsets[0].rows[0].fields[0].type: unknown field type 'date'; field types: checkbox, "
        "email, file, hidden, input, number, password, radio, select, textarea",
        "  form.sections[0].fieldsets[0].rows[0].fields[1].validators.regexp: Unicode property escapes \\p{...} "
        "(position 0) are not supported; list the characters in a class instead",
    ]


def test_missing_data_file_is_a_config_error(make_blueprint: MakeBlueprint, task_dir: Path) -> None:
    blueprint = make_blueprint()
    (task_dir / "form.json").unlink()
    with pytest.raises(ConfigError, match="file not found"):
        blueprint.check()


def test_one_config_makes_units_assignments(make_blueprint: MakeBlueprint) -> None:
    blueprint = make_blueprint(units=3)
    blueprint.check()
    assert blueprint.count_assignments() == 3
    assert [a["form"]["title"] for a in blueprint.iter_assignments()] == ["Form example"] * 3


def test_a_list_makes_one_assignment_per_config(make_blueprint: MakeBlueprint) -> None:
    first, second = reference_config(), reference_config()
    second["form"]["title"] = "Second"
    blueprint = make_blueprint([first, second])
    blueprint.check()
    assert [a["form"]["title"] for a in blueprint.iter_assignments()] == ["Form example", "Second"]


def test_units_with_a_list_is_refused(make_blueprint: MakeBlueprint) -> None:
    blueprint = make_blueprint([reference_config()], units=2)
    with pytest.raises(ConfigError, match="units applies only when data_json holds a single form") as caught:
        blueprint.check()
    assert caught.value.key == "blueprint.units"


def test_page_data_and_preview_carry_the_form(make_blueprint: MakeBlueprint) -> None:
    blueprint = make_blueprint()
    inputs = next(blueprint.iter_assignments())
    assert blueprint.init_data(inputs, 0) == {"form": inputs["form"]}
    assert blueprint.preview_data() == {"form": inputs["form"]}


def test_build_writes_the_page_with_the_rule_table_inside(make_blueprint: MakeBlueprint, tmp_path: Path) -> None:
    build = tmp_path / "build"
    make_blueprint().build(build)
    assert sorted(p.name for p in build.iterdir()) == ["form-render.js", "form-rules.js", "form-task.js", "index.html"]
    page = (build / "index.html").read_text()
    assert "<title>A &lt;form&gt; test</title>" in page
    embedded = re.search(r'<script type="application/json" id="form-rules">(.*?)</script>', page, re.DOTALL)
    assert embedded is not None and "</" not in embedded.group(1)
    assert [v["name"] for v in json.loads(embedded.group(1))["validators"]][:3] == [
        "required",
        "minLength",
        "maxLength",
    ]


def test_valid_answer_with_its_file_is_accepted(make_blueprint: MakeBlueprint) -> None:
    blueprint = make_blueprint()
    inputs = next(blueprint.iter_assignments())
    assert blueprint.validate_outputs(inputs, dict(VALID_ANSWER), [upload("avatar", "ada.png")]) == {}


def test_invalid_answer_gets_a_message_per_field(make_blueprint: MakeBlueprint) -> None:
    blueprint = make_blueprint()
    inputs = next(blueprint.iter_assignments())
    answer = dict(VALID_ANSWER, name_first="A", email="ada at example.com", language=["en"], avatar=[], extra="x")
    del answer["motto"]
    assert blueprint.validate_outputs(inputs, answer, []) == {
        "extra": "is not a field of this form",
        "name_first": "Value should be at least 2 characters long.",
        "email": "Enter an email address, such as name@example.org.",
        "language": "Should have at least 2 items selected.",
        "avatar": "This field is required.",
        "motto": "This field is required.",
    }


def test_files_must_match_what_the_answer_lists(make_blueprint: MakeBlueprint) -> None:
    blueprint = make_blueprint()
    inputs = next(blueprint.iter_assignments())
    claimed = blueprint.validate_outputs(inputs, dict(VALID_ANSWER), [])
    assert claimed == {"avatar": "The files listed (ada.png) are not the files received (none); attach them again."}
    stray = blueprint.validate_outputs(
        inputs, dict(VALID_ANSWER), [upload("avatar", "ada.png"), upload("motto", "x.png")]
    )
    assert stray == {"motto": "a file was sent for a field that is not a file field"}


def test_review_html_shows_answers_escaped_and_files_as_links(make_blueprint: MakeBlueprint) -> None:
    blueprint = make_blueprint()
    inputs = next(blueprint.iter_assignments())
    answer = dict(VALID_ANSWER, motto="<script>alert(1)</script>", bio='He said "hi" & left')
    html = blueprint.review_html(inputs, answer, {"avatar": ["/files/7/ada.png"]})
    assert html is not None
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "He said &quot;hi&quot; &amp; left</textarea>" in html
    assert '<a href="/files/7/ada.png" download>ada.png</a>' in html
    assert '<option value="CAN" selected>Canada</option>' in html
    assert '<input type="checkbox" disabled checked> Python' in html
    assert '<input type="checkbox" disabled> SQL' in html
    assert "disabled" in html and "<form" not in html


def test_hidden_field_cannot_be_changed_by_the_worker(make_blueprint: MakeBlueprint) -> None:
    config = config_with({"type": "hidden", "name": "batch", "label": "Batch", "value": "b-7"})
    blueprint = make_blueprint(config)
    inputs = next(blueprint.iter_assignments())
    assert blueprint.validate_outputs(inputs, {"batch": "b-7"}, []) == {}
    assert blueprint.validate_outputs(inputs, {}, []) == {}
    assert blueprint.validate_outputs(inputs, {"batch": "b-8"}, []) == {
        "batch": "This value is set by the form and cannot be changed."
    }
