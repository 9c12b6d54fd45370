"""What a worker's page receives: filled and escaped task HTML, the preview, the onboarding page."""

from __future__ import annotations

import pytest
from mephisto_blueprint_static.template import fill, placeholders
from static_support import MakeBlueprint

from mephisto_core.errors import ConfigError


def test_script_in_a_csv_cell_arrives_escaped(make_blueprint: MakeBlueprint) -> None:
    blueprint = make_blueprint(
        files={
            "task.html": '<p>${text}</p><input name="a" value="${text}">',
            "d.csv": "text\n\"<script>alert('x')</script>\"\n",
        },
        data_csv="d.csv",
    )
    blueprint.check()
    inputs = next(blueprint.iter_assignments())
    data = blueprint.init_data(inputs, 0)
    assert "<script>" not in data["html"]
    expected = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"
    assert data["html"] == f'<p>{expected}</p><input name="a" value="{expected}">'
    assert data["inputs"] == {"text": "<script>alert('x')</script>"}


def test_quotes_cannot_break_out_of_an_attribute() -> None:
    assert fill('<img alt="${t}">', {"t": '" onerror="x'}) == '<img alt="&quot; onerror=&quot;x">'


def test_json_values_are_written_in_json_spelling() -> None:
    source = "${none}|${yes}|${no}|${n}|${items}|${obj}"
    values = {"none": None, "yes": True, "no": False, "n": 2.5, "items": [1, "a"], "obj": {"k": "é"}}
    assert fill(source, values) == "|true|false|2.5|[1, &quot;a&quot;]|{&quot;k&quot;: &quot;é&quot;}"


def test_double_dollar_keeps_a_literal_placeholder() -> None:
    source = "<script>const s = `$${name}`;</script>${name}"
    assert placeholders(source) == ["name"]
    assert fill(source, {"name": "Ann"}) == "<script>const s = `${name}`;</script>Ann"
    assert placeholders("$${only}") == []


def test_one_page_filled_for_many_rows_gives_each_its_own_values() -> None:
    source = "$${a}${a}${b}|${a}$${b}"
    assert fill(source, {"a": 1, "b": "<"}) == "${a}1&lt;|1${b}"
    assert fill(source, {"a": "x", "b": ""}) == "${a}x|x${b}"
    assert fill("no placeholders", {}) == "no placeholders"
    with pytest.raises(KeyError, match="b"):
        fill(source, {"a": 1})


def test_placeholders_listed_once_in_order() -> None:
    assert placeholders("${b} ${a} ${b} ${column with spaces}") == ["b", "a", "column with spaces"]


def test_init_data_for_inputs_missing_a_placeholder_is_a_clear_error(make_blueprint: MakeBlueprint) -> None:
    blueprint = make_blueprint()
    with pytest.raises(ConfigError, match=r"\$\{text\}") as caught:
        blueprint.init_data({"other": 1}, 0)
    assert caught.value.key == "blueprint.task_source"


def test_preview_html_is_served_as_written(make_blueprint: MakeBlueprint) -> None:
    blueprint = make_blueprint(files={"preview.html": "<h1>Preview ${not_filled}</h1>"}, preview_source="preview.html")
    assert blueprint.preview_data() == {"html": "<h1>Preview ${not_filled}</h1>"}


def test_preview_defaults_to_escaped_title_and_description(make_blueprint: MakeBlueprint) -> None:
    assert make_blueprint().preview_data() == {"html": "<h1>A &lt;static&gt; test</h1><p>Label things &amp; more.</p>"}


def test_onboarding_follows_onboarding_source(make_blueprint: MakeBlueprint) -> None:
    without = make_blueprint()
    assert without.has_onboarding() is False
    with_onboarding = make_blueprint(files={"onboard.html": "<p>Learn</p>"}, onboarding_source="onboard.html")
    with_onboarding.check()
    assert with_onboarding.has_onboarding() is True
    assert with_onboarding.onboarding_data() == {"html": "<p>Learn</p>"}
    assert with_onboarding.validate_onboarding({"anything": "x"}) is True
