"""Scheme parsing: the template loads, and a bad scheme is a located error (file, line of its key, dotted key)."""

from __future__ import annotations

import pytest
from annotate_support import ALL_SCHEMES, TEMPLATE_DIR, blueprint_for

from mephisto_core.errors import ConfigError
from mephisto_core.task_config import load_task_config


def test_the_template_loads_and_checks():
    blueprint = blueprint_for(TEMPLATE_DIR / "task.toml")
    assert [s.name for s in blueprint.schemes] == ["sentiment", "opinions", "confidence"]
    assert blueprint.count_assignments() == 4
    assert blueprint.schemes[0].shortcuts == {"p": "positive", "u": "neutral", "n": "negative"}


def test_every_scheme_type_parses(make_task):
    blueprint = blueprint_for(make_task(ALL_SCHEMES))
    assert [s.type for s in blueprint.schemes] == [
        "single",
        "multi",
        "likert",
        "slider",
        "text",
        "span",
        "pairwise",
        "bestworst",
    ]
    assert [label.value for label in blueprint.schemes[1].labels] == ["food", "staff", "price"]


def _error(path) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        blueprint_for(path)
    return caught.value


def _line_of(path, text: str, occurrence: int = 1) -> int:
    lines = path.read_text().splitlines()
    hits = [number for number, line in enumerate(lines, start=1) if text in line]
    return hits[occurrence - 1]


def test_a_bad_value_points_at_its_key_in_the_right_table(make_task):
    path = make_task(ALL_SCHEMES.replace("points = 5", "points = 20"))
    error = _error(path)
    assert error.key == "blueprint.schemes.2.points"
    assert error.line == _line_of(path, "points = 20")
    assert str(error).startswith(f"{path}:{error.line}, key 'blueprint.schemes.2.points'")


def test_rules_about_a_whole_scheme_point_at_its_table(make_task):
    path = make_task(ALL_SCHEMES.replace('field = "text"\n', ""))  # the span scheme (6th) loses its column
    error = _error(path)
    assert "a span scheme needs field" in str(error)
    assert error.key == "blueprint.schemes.5"
    assert error.line == _line_of(path, "[[blueprint.schemes]]", 6)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (("max_choices = 2", "max_choices = 9"), "max_choices"),
        (("step = 0.5", "step = 0.5\nlabels = ['x']"), "labels do(es) not apply to a slider scheme"),
        (("min_length = 3", "min_length = 30"), "min_length (30) is above max_length (20)"),
        (('items = ["a", "b"]', 'items = ["a"]'), "exactly 2 items"),
        (('{ value = "neg", key = "n" }', '{ value = "pos", key = "q" }'), "label 'pos' is given twice"),
        (('{ value = "neg", key = "n" }', '{ value = "neg", key = "ab" }'), "one printable character"),
        (('type = "likert"', 'type = "rating"'), "Input should be"),
    ],
)
def test_each_rule_is_checked_when_the_task_file_is_read(make_task, change, words):
    path = make_task(ALL_SCHEMES.replace(*change))
    error = _error(path)
    assert words in str(error)
    assert error.line is not None and error.key is not None and error.key.startswith("blueprint.schemes.")


def test_shortcuts_are_unique_on_the_page_and_names_unique(make_task):
    clash = ALL_SCHEMES.replace('{ value = "good", key = "g" }', '{ value = "good", key = "p" }')
    assert "the shortcut 'p' is used by both 'sentiment' and 'aspects'" in str(_error(make_task(clash)))
    twice = ALL_SCHEMES.replace('name = "topics"', 'name = "sentiment"')
    assert "two schemes are named 'sentiment'" in str(_error(make_task(twice)))


def test_a_row_without_a_column_a_scheme_shows_is_reported_at_check(make_task):
    rows = [{"id": "r1", "text": "fine", "a": "x", "b": "y"}, {"id": "r2", "a": "x", "b": "y"}]
    path = make_task(ALL_SCHEMES, rows=rows)
    load_task_config(path)  # the task file itself is fine
    error = _error(path)
    assert error.file == path.parent / "rows.jsonl" and error.line == 2
    assert "row 2: the column 'text' (aspects shows it) is missing" in str(error)


def test_a_stored_configuration_loads_again(make_task):
    """A run stores its configuration with every key (defaults too); the review app rebuilds the blueprint from it."""
    from mephisto_blueprint_annotate.args import AnnotateBlueprintArgs

    config = load_task_config(make_task(ALL_SCHEMES))
    stored = config.to_dict()["blueprint"]
    stored.pop("type")
    assert AnnotateBlueprintArgs.model_validate(stored) == config.blueprint_args
