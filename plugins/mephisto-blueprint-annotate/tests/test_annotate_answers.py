"""The server's check of every scheme type, simulated answers, and the review HTML."""

from __future__ import annotations

import random
from typing import Any

import pytest
from annotate_support import ALL_SCHEMES, ROWS, blueprint_for

ROW = ROWS[0]  # "The soup was cold but the bread was great."
GOOD: dict[str, Any] = {
    "sentiment": "pos",
    "topics": ["food"],
    "sure": 4,
    "score": 7.5,
    "why": "tasty",
    "aspects": [
        {"start": 4, "end": 8, "label": "bad", "text": "soup"},
        {"start": 13, "end": 17, "label": "bad", "text": "cold"},
    ],
    "better": "tie",
    "rank": {"best": "a", "worst": "id"},
}


@pytest.fixture
def blueprint(make_task):
    return blueprint_for(make_task(ALL_SCHEMES))


def test_a_good_answer_is_accepted(blueprint):
    assert blueprint.validate_outputs(ROW, GOOD, []) == {}


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("sentiment", "meh", "Choose one of: pos, neg."),
        ("sentiment", None, "This question needs an answer."),
        ("topics", ["food", "staff", "price"], "Choose at most 2."),
        ("topics", [], "Choose at least 1."),
        ("topics", ["food", "food"], "A label is chosen twice."),
        ("sure", 6, "Choose a point from 1 to 5."),
        ("sure", True, "Choose a point from 1 to 5."),
        ("score", 7.3, "Choose a value in steps of 0.5."),
        ("score", 11, "Choose a value from 0 to 10."),
        ("why", "ab", "Write at least 3 characters (now 2)."),
        ("why", "x" * 21, "Write at most 20 characters (now 21)."),
        ("aspects", [{"start": 4, "end": 8, "label": "bad", "text": "SOUP"}], "Span 1 does not match the text."),
        ("aspects", [{"start": 40, "end": 48, "label": "bad", "text": "x"}], "Span 1 is outside the text."),
        ("aspects", [{"start": 4, "end": 8, "label": "meh", "text": "soup"}], "Span 1 has a label that is not"),
        ("aspects", [{"start": 4, "end": 8, "label": "bad"}], "Span 1 is not a marked span."),
        ("aspects", [{"start": 4, "end": 7, "label": "bad", "text": "sou"}], "Span 1 does not cover whole words."),
        (
            "aspects",
            [
                {"start": 4, "end": 8, "label": "bad", "text": "soup"},
                {"start": 4, "end": 12, "label": "good", "text": "soup was"},
            ],
            "Spans may not overlap here",
        ),
        ("better", "c", "Choose one of the two."),
        ("rank", {"best": "a", "worst": "a"}, "The best and the worst must be different items."),
        ("rank", {"best": "a"}, "Choose the best and the worst."),
    ],
)
def test_each_rule_refuses_a_bad_answer_by_name(blueprint, name, value, message):
    problems = blueprint.validate_outputs(ROW, {**GOOD, name: value}, [])
    assert list(problems) == [name]
    assert problems[name].startswith(message)


def test_unknown_keys_and_files_are_refused(blueprint, tmp_path):
    from mephisto_core.abstractions import UploadedFile

    upload = UploadedFile(field="photo", name="a.png", size=1, content_type="image/png", path=tmp_path / "a.png")
    problems = blueprint.validate_outputs(ROW, {**GOOD, "extra": 1}, [upload])
    assert problems == {"extra": "is not a question of this task", "photo": "this task takes no files"}


def test_overlapping_spans_pass_when_the_scheme_allows_them(make_task):
    overlapping = ALL_SCHEMES.replace('field = "text"', 'field = "text"\nallow_overlap = true')
    blueprint = blueprint_for(make_task(overlapping))
    spans = [
        {"start": 4, "end": 8, "label": "bad", "text": "soup"},
        {"start": 4, "end": 17, "label": "good", "text": "soup was cold"},
    ]
    assert blueprint.validate_outputs(ROW, {**GOOD, "aspects": spans}, []) == {}


def test_optional_schemes_may_be_left_empty(make_task):
    blueprint = blueprint_for(make_task(ALL_SCHEMES.replace('name = "why"', 'name = "why"\nrequired = false')))
    assert blueprint.validate_outputs(ROW, {**GOOD, "why": ""}, []) == {}


def test_simulated_answers_pass_the_servers_check(blueprint):
    rng = random.Random(7)
    for row in ROWS * 10:
        answer = blueprint.simulate_answer(blueprint.init_data(row, 0), rng)
        assert blueprint.validate_outputs(row, answer.outputs, []) == {}
        assert answer.files == []


def test_init_data_has_the_row_the_schemes_and_the_progress_bound(blueprint):
    data = blueprint.init_data(ROW, 0)
    assert data["row"] == ROW
    assert [s["name"] for s in data["schemes"]][:2] == ["sentiment", "topics"]
    assert data["display_fields"] == []  # id, text, a, b are all shown by schemes
    assert data["progress"] == {"task": "annotate-test", "total": 2}


def test_review_html_highlights_spans_and_shows_labels_and_points(blueprint):
    html = blueprint.review_html(
        {**ROW, "text": "<b>soup</b> was cold"},
        {**GOOD, "aspects": [{"start": 3, "end": 7, "label": "bad", "text": "soup"}]},
        {},
    )
    assert '<mark title="bad">soup<sub>bad</sub></mark>' in html
    assert "&lt;b&gt;" in html and "<b>soup" not in html  # data is escaped
    assert '<span class="chip">pos</span>' in html
    assert '<span class="chip">4 of 5</span>' in html
    assert "best: <span" in html and "about the same" in html


def test_review_html_splits_overlapping_spans_into_segments(make_task):
    blueprint = blueprint_for(make_task(ALL_SCHEMES.replace('field = "text"', 'field = "text"\nallow_overlap = true')))
    spans = [
        {"start": 4, "end": 8, "label": "bad", "text": "soup"},
        {"start": 4, "end": 12, "label": "good", "text": "soup was"},
    ]
    html = blueprint.review_html(ROW, {**GOOD, "aspects": spans}, {})
    assert (
        '<mark title="bad, good">soup<sub>bad, good</sub></mark><mark title="good"> was<sub>good</sub></mark>' in html
    )
