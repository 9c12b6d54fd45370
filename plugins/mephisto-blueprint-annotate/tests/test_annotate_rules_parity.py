"""The page's rules (annotate.js, run in Chromium) and the server's (answers.py) give the same message for the
same answer, for every answer a page can produce."""

from __future__ import annotations

from importlib import resources
from typing import Any

from annotate_support import ALL_SCHEMES, ROWS, blueprint_for
from mephisto_blueprint_annotate.answers import scheme_problem

SPAN = {"start": 4, "end": 8, "label": "bad", "text": "soup"}
OVERLAPPING = {"start": 4, "end": 12, "label": "good", "text": "soup was"}
VECTORS: dict[str, list[Any]] = {
    "sentiment": [None, "pos", "neg"],
    "topics": [[], ["food"], ["food", "staff"], ["food", "staff", "price"]],
    "sure": [None, 1, 5],
    "score": [None, 0, 0.5, 10, 7.5],
    "why": ["", "ab", "abc", "x" * 20, "x" * 21],
    "aspects": [[], [SPAN], [SPAN, OVERLAPPING], [{"start": 5, "end": 8, "label": "bad", "text": "oup"}]],
    "better": [None, "a", "b", "tie"],
    "rank": [None, {"best": "a", "worst": "b"}, {"best": "a", "worst": "a"}, {"best": "a", "worst": None}],
}


def test_page_and_server_rules_agree(make_task, browser):
    blueprint = blueprint_for(make_task(ALL_SCHEMES.replace("max_choices = 2", "max_choices = 2\nrequired = false")))
    script = resources.files("mephisto_blueprint_annotate").joinpath("assets", "annotate.js").read_text()
    page = browser.new_page()
    try:
        page.set_content('<main id="task-root"></main>')
        page.add_script_tag(content=script)
        schemes = {scheme.name: scheme for scheme in blueprint.schemes}
        compared = 0
        for name, values in VECTORS.items():
            scheme = schemes[name]
            dumped = scheme.model_dump(mode="json")
            for value in values:
                in_page = page.evaluate(
                    "([s, row, v]) => window.mephistoAnnotateRules.problem(s, row, v)", [dumped, ROWS[0], value]
                )
                assert in_page == scheme_problem(scheme, ROWS[0], value), (name, value)
                compared += 1
        assert compared == 32
    finally:
        page.close()
