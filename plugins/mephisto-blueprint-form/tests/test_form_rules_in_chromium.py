"""The same shared vectors through form-rules.js in real Chromium: the page and the server must agree."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest
from form_support import VECTORS
from mephisto_blueprint_form.rules import rules_text

RULES_JS = resources.files("mephisto_blueprint_form").joinpath("assets", "form-rules.js").read_text(encoding="utf-8")


@pytest.fixture
def rules_page(page: Any) -> Any:
    """A blank page with form-rules.js loaded and `window.rules` made from validators.json."""
    page.set_content("<!doctype html><title>rules</title>")
    page.add_script_tag(content=RULES_JS)
    page.evaluate("table => { window.rules = FormRules.create(table); }", json.loads(rules_text()))
    return page


def test_browser_gives_every_vector_the_expected_messages(rules_page: Any) -> None:
    cases = VECTORS["cases"]
    got = rules_page.evaluate("cases => cases.map(c => window.rules.fieldMessages(c.field, c.value))", cases)
    mismatches = [
        f"{case['name']}: expected {case['messages']}, browser said {messages}"
        for case, messages in zip(cases, got, strict=True)
        if messages != case["messages"]
    ]
    assert mismatches == []


def test_browser_compiles_exactly_the_patterns_the_vectors_say(rules_page: Any) -> None:
    syntax = [case for case in VECTORS["regexp_syntax"] if case["browser"] != "either"]
    compiled = rules_page.evaluate(
        # Through the page's own code path: a regexp validator compiles its pattern on first use.
        """cases => cases.map(c => {
            const field = {type: "input", name: "x", label: "X", validators: {regexp: [c.pattern, c.flags]}};
            try {
                window.rules.fieldMessages(field, "a");
                return "compiles";
            } catch (err) {
                return err instanceof SyntaxError ? "throws" : "other error: " + err;
            }
        })""",
        syntax,
    )
    mismatches = [
        f"/{case['pattern']}/{case['flags']}: expected {case['browser']}, browser {result}"
        for case, result in zip(syntax, compiled, strict=True)
        if result != case["browser"]
    ]
    assert mismatches == []


def test_everything_the_server_accepts_the_browser_compiles() -> None:
    assert all(case["browser"] == "compiles" for case in VECTORS["regexp_syntax"] if case["server_accepts"])
