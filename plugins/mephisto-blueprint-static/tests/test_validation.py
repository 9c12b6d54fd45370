"""Server-side check of answers: only the page's own fields, each with the shape the page script makes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mephisto_blueprint_static.blueprint import StaticBlueprint
from mephisto_blueprint_static.fields import FieldKind, form_fields, row_independent_fields
from mephisto_blueprint_static.template import fill
from static_support import MakeBlueprint

from mephisto_core.abstractions import UploadedFile

PAGE = """
<p>${text}</p>
<input name="title">
<input type="number" name="age" min="0" max="120">
<textarea name="notes"></textarea>
<input type="checkbox" name="agree">
<input type="checkbox" name="colors" value="red"><input type="checkbox" name="colors" value="blue">
<input type="radio" name="size" value="s"><input type="radio" name="size" value="l">
<select name="pick"><option>One</option><option value="2">Two</option></select>
<select name="many" multiple><option>a</option><option>b</option></select>
<input type="file" name="doc">
<input type="submit" name="go" value="Go">
<input name="field_${id}">
"""


@pytest.fixture
def blueprint(make_blueprint: MakeBlueprint) -> StaticBlueprint:
    return make_blueprint(files={"task.html": PAGE, "d.csv": "text,id\nhello,7\n"}, data_csv="d.csv")


INPUTS = {"text": "hello", "id": "7"}


def _upload(field: str, name: str = "a.txt") -> UploadedFile:
    return UploadedFile(field=field, name=name, size=3, content_type="text/plain", path=Path("/tmp") / name)


def test_fields_are_read_with_their_kinds() -> None:
    fields = form_fields(PAGE.replace("${id}", "7"))
    kinds = {name: f.kind for name, f in fields.items()}
    assert kinds == {
        "title": FieldKind.TEXT,
        "age": FieldKind.NUMBER,
        "notes": FieldKind.TEXTAREA,
        "agree": FieldKind.CHECKBOX,
        "colors": FieldKind.CHECKBOX_GROUP,
        "size": FieldKind.RADIO,
        "pick": FieldKind.SELECT,
        "many": FieldKind.SELECT_MULTIPLE,
        "doc": FieldKind.FILE,
        "field_7": FieldKind.TEXT,
    }
    assert [o.value for o in fields["pick"].controls[0].options] == ["One", "2"]


def test_a_complete_answer_is_accepted(blueprint: StaticBlueprint) -> None:
    outputs: dict[str, Any] = {
        "title": "x",
        "age": "42",
        "notes": "long text",
        "agree": True,
        "colors": ["red"],
        "size": None,
        "pick": "2",
        "many": [],
        "doc": ["a.txt"],
        "field_7": "filled from the row",
    }
    assert blueprint.validate_outputs(INPUTS, outputs, [_upload("doc")]) == {}


def test_missing_fields_are_accepted(blueprint: StaticBlueprint) -> None:
    assert blueprint.validate_outputs(INPUTS, {"title": "only this"}, []) == {}


def test_unknown_field_names_are_refused(blueprint: StaticBlueprint) -> None:
    problems = blueprint.validate_outputs(INPUTS, {"title": "x", "is_admin": True, "go": "Go", "field_8": "x"}, [])
    assert set(problems) == {"is_admin", "go", "field_8"}
    assert problems["is_admin"] == "is not a field of this task's form"


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("title", {"nested": 1}, "must be text, got an object"),
        ("title", ["a"], "must be text, got a list"),
        ("title", True, "must be text, got a boolean"),
        ("agree", "yes", "must be true or false"),
        ("colors", "red", "must be a list of strings"),
        ("colors", ["red", 1], "a list holding non-strings"),
        ("size", 3, "chosen option's value or null"),
        ("many", "a", "must be a list of strings"),
        ("doc", "a.txt", "must be a list of strings"),
    ],
)
def test_values_of_the_wrong_shape_are_refused(blueprint: StaticBlueprint, name: str, value: Any, words: str) -> None:
    problems = blueprint.validate_outputs(INPUTS, {name: value}, [])
    assert list(problems) == [name]
    assert words in problems[name]


def test_numbers_and_null_are_accepted_for_text_fields(blueprint: StaticBlueprint) -> None:
    assert blueprint.validate_outputs(INPUTS, {"age": 42, "title": None, "notes": 1.5}, []) == {}


def test_files_only_for_file_inputs(blueprint: StaticBlueprint) -> None:
    problems = blueprint.validate_outputs(INPUTS, {}, [_upload("title", "x.exe"), _upload("nowhere"), _upload("doc")])
    assert set(problems) == {"title", "nowhere"}
    assert "'x.exe'" in problems["title"]


def test_same_name_on_different_controls_is_a_list() -> None:
    fields = form_fields('<input name="x"><select name="x"><option>a</option></select>')
    assert fields["x"].kind is FieldKind.MIXED


def test_parser_ignores_unnamed_controls_and_options_of_unnamed_selects() -> None:
    fields = form_fields(
        '<input><select><option>z</option></select><select name="s"><option value="">Choose</option>'
        "<option disabled>  Two\n words </option></select><textarea>t</textarea><button name=b>x</button>"
    )
    assert list(fields) == ["s"]
    options = fields["s"].controls[0].options
    assert [(o.value, o.disabled) for o in options] == [("", False), ("Two words", True)]


# Values that would change the fields if they could reach markup: new attributes, a file input, quotes.
HOSTILE_VALUES = ["x type=file name=doc", '" name="injected', "' multiple x='", "<input name=evil>", "a b"]


@pytest.mark.parametrize(
    "page",
    [
        '<p>${text}</p><input name="title" value="${text}"><select name="s"><option>${text}</option></select>',
        "<input name='t' placeholder='${text}'><textarea name=\"n\">${text}</textarea><!-- ${text} -->",
        "<p>no placeholder at all</p><input name=plain>",
    ],
)
def test_fields_of_a_page_whose_values_only_show_are_read_once_for_every_row(page: str) -> None:
    fixed = row_independent_fields(page)
    assert fixed is not None
    for value in ["", "hello", *HOSTILE_VALUES]:
        filled = form_fields(fill(page, {"text": value}))
        assert {n: (f.kind, [c.type for c in f.controls]) for n, f in fixed.items()} == {
            n: (f.kind, [c.type for c in f.controls]) for n, f in filled.items()
        }


@pytest.mark.parametrize(
    "page",
    [
        '<input name="field_${id}">',  # the name comes from the row
        '<input name="a" type="${id}">',  # so does the type
        "<input name=a value=${id}>",  # unquoted: a value with a space adds attributes
        '<input name="a" ${id}>',  # an attribute (or `multiple`) from the row
        '<select name="s" ${id}><option>x</option></select>',
        "<${id} name=a>",  # the tag itself
    ],
)
def test_fields_of_a_page_whose_values_reach_markup_are_read_per_row(page: str) -> None:
    assert row_independent_fields(page) is None


def test_a_row_dependent_page_is_still_validated_against_its_own_row(blueprint: StaticBlueprint) -> None:
    assert blueprint.validate_outputs({"text": "t", "id": "8"}, {"field_8": "x"}, []) == {}
    assert set(blueprint.validate_outputs({"text": "t", "id": "8"}, {"field_7": "x"}, [])) == {"field_7"}
