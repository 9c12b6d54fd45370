"""Data rows, preview and onboarding data, and the server's checks of answers and uploads."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from bundle_support import MakeBundle

from mephisto_core.abstractions import UploadedFile
from mephisto_core.errors import ConfigError


def _file(field: str, tmp_path: Path) -> UploadedFile:
    return UploadedFile(field=field, name="a.png", size=3, content_type="image/png", path=tmp_path / "a.png")


def test_each_data_row_is_an_assignment_and_its_page_data(make_bundle: MakeBundle) -> None:
    rows = [{"sentence": "a", "n": 1}, {"sentence": "b", "n": 2}, {"sentence": "c", "n": 3}]
    blueprint = make_bundle(files={"d.jsonl": "\n".join(map(json.dumps, rows)) + "\n"}, data_jsonl="d.jsonl")
    blueprint.check()
    assert blueprint.count_assignments() == 3
    assert list(blueprint.iter_assignments()) == rows
    assert blueprint.init_data(rows[1], 0) == rows[1]


def test_a_bad_data_row_names_its_line(make_bundle: MakeBundle) -> None:
    blueprint = make_bundle(files={"d.jsonl": '{"a": 1}\n{"a": \n'}, data_jsonl="d.jsonl")
    with pytest.raises(ConfigError) as caught:
        blueprint.check()
    assert (caught.value.key, caught.value.line) == ("blueprint.data_jsonl", 2)


def test_exactly_one_data_file() -> None:
    from mephisto_blueprint_bundle.args import BundleBlueprintArgs
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="give exactly one of data_csv, data_json, data_jsonl"):
        BundleBlueprintArgs(data_csv="a.csv", data_json="b.json")


def test_preview_has_title_description_and_the_preview_html(make_bundle: MakeBundle) -> None:
    plain = make_bundle()
    assert plain.preview_data() == {"title": "Rate <things>", "description": "Say how they sound."}
    with_file = make_bundle(files={"preview.html": "<h1>Hi</h1>"}, preview_source="preview.html")
    with_file.check()
    assert with_file.preview_data()["html"] == "<h1>Hi</h1>"


def test_onboarding_data_is_the_files_object(make_bundle: MakeBundle) -> None:
    assert not make_bundle().has_onboarding()
    blueprint = make_bundle(files={"onb.json": '{"sentence": "practice"}'}, onboarding_data="onb.json")
    blueprint.check()
    assert blueprint.has_onboarding()
    assert blueprint.onboarding_data() == {"sentence": "practice"}


def test_onboarding_data_must_be_one_object(make_bundle: MakeBundle) -> None:
    blueprint = make_bundle(files={"onb.json": "[1, 2]"}, onboarding_data="onb.json")
    with pytest.raises(ConfigError, match="one JSON object") as caught:
        blueprint.check()
    assert caught.value.key == "blueprint.onboarding_data"
    broken = make_bundle(files={"onb2.json": "{\n nope"}, onboarding_data="onb2.json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        broken.check()


def test_required_outputs_and_upload_fields_are_checked_on_the_server(make_bundle: MakeBundle, tmp_path: Path) -> None:
    blueprint = make_bundle(required_outputs=["label"], upload_fields=["photo"])
    inputs = {"sentence": "a"}
    assert blueprint.validate_outputs(inputs, {"label": "positive"}, [_file("photo", tmp_path)]) == {}
    assert blueprint.validate_outputs(inputs, {"label": ""}, []) == {"label": "This answer is required."}
    refused = blueprint.validate_outputs(inputs, {"label": "x"}, [_file("resume", tmp_path)])
    assert refused == {"resume": "This task takes no file named 'resume' (upload fields: photo)."}
    no_uploads = make_bundle()
    assert "upload fields: none" in no_uploads.validate_outputs(inputs, {}, [_file("photo", tmp_path)])["photo"]


def test_simulated_answers_fill_the_required_outputs(make_bundle: MakeBundle) -> None:
    blueprint = make_bundle(required_outputs=["label", "comment"])
    answer = blueprint.simulate_answer({"sentence": "a"}, random.Random(1))
    assert set(answer.outputs) == {"label", "comment"}
    assert blueprint.validate_outputs({}, answer.outputs, []) == {}
