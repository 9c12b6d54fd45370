"""The `static` task template that `mephisto init` copies: its task file loads and its data checks out."""

from __future__ import annotations

import csv

import pytest
from mephisto_blueprint_static.blueprint import StaticBlueprint
from mephisto_blueprint_static.template import placeholders
from static_support import TEMPLATE_DIR


def test_template_task_file_validates_with_the_first_party_plugins() -> None:
    # The template names the local architect and mock provider, which are separate distributions.
    pytest.importorskip("mephisto_architect_local", reason="pip install -e plugins/mephisto-architect-local")
    pytest.importorskip("mephisto_provider_mock", reason="pip install -e plugins/mephisto-provider-mock")
    from mephisto_core import plugins
    from mephisto_core.task_config import load_task_config

    plugins.reset()
    try:
        config = load_task_config(TEMPLATE_DIR / "task.toml")
        assert config.task.name == "static-example"
        assert str(config.task.reward) == "0.05"
        assert (config.blueprint_type, config.architect_type, config.provider_type) == (
            "static",
            "local",
            "mock",
        )
        blueprint = StaticBlueprint(config.blueprint_args, config.task, config.task_dir)
        blueprint.check()
        assert blueprint.count_assignments() == 4
    finally:
        plugins.reset()


def test_template_html_shows_a_column_and_has_every_promised_field() -> None:
    html = (TEMPLATE_DIR / "task.html").read_text(encoding="utf-8")
    with (TEMPLATE_DIR / "data.csv").open(encoding="utf-8", newline="") as fh:
        columns = next(csv.reader(fh))
    assert set(placeholders(html)) <= set(columns)
    for needle in ("<select", "<textarea", 'type="file"'):
        assert needle in html


def test_template_readme_starts_with_a_one_sentence_summary() -> None:
    first = (TEMPLATE_DIR / "README.md").read_text(encoding="utf-8").splitlines()[0]
    assert first.endswith(".") and first.count(". ") == 0 and not first.startswith("#")
