"""Simulated workers: their answers always pass the server's check, whatever the seed."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from form_support import config_with, reference_config
from hypothesis import given, settings
from hypothesis import strategies as st
from mephisto_blueprint_form.simulate import SimulationError, simulate_form
from mephisto_blueprint_form.submission import submission_problems

from mephisto_core.abstractions import SimulatedAnswer, UploadedFile

SEEDS = st.integers(min_value=0, max_value=2**32 - 1)


def uploads(answer: SimulatedAnswer) -> list[UploadedFile]:
    return [
        UploadedFile(field=f, name=n, size=len(b), content_type=t, path=Path("/uploads") / n)
        for f, n, t, b in answer.files
    ]


def answer_problems(config: dict[str, Any], seed: int) -> tuple[SimulatedAnswer, dict[str, str]]:
    answer = simulate_form(config["form"], random.Random(seed))
    return answer, submission_problems(config, answer.outputs, uploads(answer))


REFERENCE = reference_config()

RICH = config_with(
    {
        "type": "input",
        "name": "code",
        "label": "Code",
        "validators": {"required": True, "regexp": ["^[A-Z]{3}-\\d{4}$", ""]},
    },
    {
        "type": "input",
        "name": "short",
        "label": "Short",
        "validators": {"required": True, "minLength": 2, "maxLength": 3},
    },
    {"type": "input", "name": "long", "label": "Long", "validators": {"minLength": 40, "regexp": "\\bcopper\\b|\\w"}},
    {"type": "email", "name": "mail", "label": "Mail", "validators": {"required": True}},
    {"type": "email", "name": "tiny", "label": "Tiny mail", "validators": {"required": True, "maxLength": 8}},
    {
        "type": "password",
        "name": "secret",
        "label": "Secret",
        "validators": {"required": True, "minLength": 12, "regexp": ["^(?=.*\\d)(?=.*[a-z])(?=.*[A-Z]).+$", ""]},
    },
    {
        "type": "textarea",
        "name": "story",
        "label": "Story",
        "validators": {"required": True, "minLength": 30, "maxLength": 60},
    },
    {"type": "textarea", "name": "lines", "label": "Lines", "validators": {"regexp": ["^\\w+\\s\\w+$", "s"]}},
    {"type": "number", "name": "count", "label": "Count", "validators": {"required": True, "min": 3, "max": 9}},
    {"type": "number", "name": "ratio", "label": "Ratio", "validators": {"required": True, "min": 0.25, "max": 0.75}},
    {"type": "number", "name": "free", "label": "Free", "validators": {"max": -5}},
    {
        "type": "select",
        "name": "one",
        "label": "One",
        "validators": {"required": True},
        "options": [{"label": "Choose", "value": ""}, {"label": "Yes", "value": "yes"}, {"label": "No", "value": "no"}],
    },
    {
        "type": "select",
        "name": "many",
        "label": "Many",
        "multiple": True,
        "validators": {"required": True, "minLength": 2, "maxLength": 3},
        "options": [{"label": x, "value": x} for x in ("a", "b", "c", "d", "e")],
    },
    {
        "type": "radio",
        "name": "r",
        "label": "R",
        "options": [{"label": "1", "value": "1"}, {"label": "2", "value": "2"}],
    },
    {
        "type": "checkbox",
        "name": "boxes",
        "label": "Boxes",
        "validators": {"required": True, "maxLength": 1},
        "options": [{"label": x, "value": x} for x in ("p", "q")],
    },
    {
        "type": "file",
        "name": "photo",
        "label": "Photo",
        "validators": {"required": True, "fileExtension": ["png", ".JPG"]},
    },
    {"type": "file", "name": "doc", "label": "Doc", "validators": {"fileExtension": ["pdf"]}},
    {"type": "hidden", "name": "batch", "label": "Batch", "value": "b-7"},
)


@settings(max_examples=150)
@given(seed=SEEDS)
def test_simulated_answers_to_the_reference_form_always_pass(seed: int) -> None:
    answer, problems = answer_problems(REFERENCE, seed)
    assert problems == {}
    outputs = answer.outputs
    assert "@" in outputs["email"]
    assert 2 <= len(outputs["language"]) <= 3
    assert 2 <= len(outputs["skills"]) <= 3
    assert outputs["country"] in {"USA", "CAN"}
    assert outputs["avatar"] == [name for field, name, _, _ in answer.files if field == "avatar"]


@settings(max_examples=150)
@given(seed=SEEDS)
def test_simulated_answers_respect_every_validator(seed: int) -> None:
    answer, problems = answer_problems(RICH, seed)
    assert problems == {}
    outputs = answer.outputs
    assert outputs["photo"][0].endswith((".png", ".jpg"))
    assert outputs["batch"] == "b-7"
    assert 0.25 <= outputs["ratio"] <= 0.75
    assert isinstance(outputs["count"], int)


def test_same_seed_gives_the_same_answer() -> None:
    first = simulate_form(REFERENCE["form"], random.Random(7))
    second = simulate_form(REFERENCE["form"], random.Random(7))
    assert first == second


def test_an_unsatisfiable_field_is_a_clear_error() -> None:
    # Valid as a config (the pattern compiles), but no string passes both it and the length limit.
    config = config_with(
        {
            "type": "input",
            "name": "x",
            "label": "X",
            "validators": {"required": True, "maxLength": 2, "regexp": ["^abc$", ""]},
        }
    )
    with pytest.raises(SimulationError, match="'x'"):
        simulate_form(config["form"], random.Random(1))
