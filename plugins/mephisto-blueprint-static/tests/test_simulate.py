"""Simulated workers: their answers always pass the blueprint's validation and respect the page's rules."""

from __future__ import annotations

import random
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from mephisto_blueprint_static.fields import form_fields
from mephisto_blueprint_static.simulate import simulate
from static_support import MakeBlueprint, template_blueprint

from mephisto_core.abstractions import UploadedFile


def _uploads(answer_files: list[tuple[str, str, str, bytes]]) -> list[UploadedFile]:
    return [
        UploadedFile(field=f, name=n, size=len(b), content_type=t, path=Path("/uploads") / n)
        for f, n, t, b in answer_files
    ]


TEMPLATE = template_blueprint()
TEMPLATE_ROWS = list(TEMPLATE.iter_assignments())


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1), row=st.integers(min_value=0, max_value=3))
def test_simulated_answers_to_the_template_always_validate(seed: int, row: int) -> None:
    inputs = TEMPLATE_ROWS[row]
    init_data = TEMPLATE.init_data(inputs, 0)
    answer = TEMPLATE.simulate_answer(init_data, random.Random(seed))
    assert TEMPLATE.validate_outputs(inputs, answer.outputs, _uploads(answer.files)) == {}
    # Required fields are filled the way the browser would insist on.
    assert answer.outputs["frequency"] in {"daily", "weekly", "monthly", "rarely"}
    assert 20 <= len(answer.outputs["answer"]) <= 2000
    assert answer.outputs["topic"] == inputs["topic"]
    assert isinstance(answer.outputs["may_quote"], bool)
    assert answer.outputs["photo"] == [name for field, name, _, _ in answer.files if field == "photo"]
    assert all(content_type == "image/png" for _, _, content_type, _ in answer.files)


def test_same_seed_gives_the_same_answer() -> None:
    init_data = TEMPLATE.init_data(TEMPLATE_ROWS[0], 0)
    first = TEMPLATE.simulate_answer(init_data, random.Random(7))
    second = TEMPLATE.simulate_answer(init_data, random.Random(7))
    assert first == second


RICH_PAGE = """
<input name="plain" minlength="30" maxlength="40">
<input type="email" name="mail" required>
<input type="number" name="count" min="3" max="9" step="2" required>
<input type="number" name="ratio" min="0" max="1" step="0.25">
<input type="range" name="level">
<input type="number" name="free" step="any" min="-1" max="1">
<input type="url" name="site"><input type="date" name="day"><input type="color" name="tint">
<input type="hidden" name="secret" value="keep-me">
<textarea name="story" maxlength="15" required></textarea>
<select name="one" required>
  <option value="">Choose</option><option disabled>x</option><option>yes</option>
</select>
<select name="several" multiple required><option>a</option><option>b</option></select>
<input type="radio" name="r" value="1"><input type="radio" name="r" value="2" disabled>
<input type="checkbox" name="must" required>
<input type="checkbox" name="group" value="a" required><input type="checkbox" name="group" value="b">
<input type="file" name="doc" accept=".pdf">
<input type="file" name="notes">
<input name="mix"><input type="checkbox" name="mix" value="ticked" required>
"""


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_simulated_answers_respect_each_kind_of_field(seed: int) -> None:
    fields = form_fields(RICH_PAGE)
    answer = simulate(fields, random.Random(seed))
    out = answer.outputs
    assert set(out) == set(fields)
    assert 30 <= len(out["plain"]) <= 40
    local, _, domain = out["mail"].partition("@")
    assert local and domain == "example.org"
    assert out["count"] in {"3", "5", "7", "9"}
    assert out["ratio"] in {"0.00", "0.25", "0.50", "0.75", "1.00"}
    assert 0 <= int(out["level"]) <= 100
    assert -1 <= float(out["free"]) <= 1
    assert out["site"].startswith("https://")
    assert out["tint"].startswith("#") and len(out["tint"]) == 7
    assert out["secret"] == "keep-me"
    assert 0 < len(out["story"]) <= 15
    assert out["one"] == "yes"
    assert out["several"] and set(out["several"]) <= {"a", "b"}
    assert out["r"] == "1"
    assert out["must"] is True
    assert "a" in out["group"]
    assert "ticked" in out["mix"]
    files = {field: (name, content_type) for field, name, content_type, _ in answer.files}
    assert files == {"doc": ("simulated.pdf", "application/pdf"), "notes": ("simulated.txt", "text/plain")}
    assert out["doc"] == ["simulated.pdf"]


def test_simulated_answer_validates_for_a_page_with_placeholders_in_names(
    make_blueprint: MakeBlueprint,
) -> None:
    blueprint = make_blueprint(files={"task.html": '<input name="q_${text}" required>'})
    blueprint.check()
    for inputs in blueprint.iter_assignments():
        init_data = blueprint.init_data(inputs, 0)
        answer = blueprint.simulate_answer(init_data, random.Random(1))
        assert list(answer.outputs) == [f"q_{inputs['text']}"]
        assert blueprint.validate_outputs(inputs, answer.outputs, []) == {}
