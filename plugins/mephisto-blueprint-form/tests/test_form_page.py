"""The form page in Chromium, against a stand-in for window.mephisto that records what the page submits.

The stand-in replaces /mephisto-task.js only; index.html and the form scripts are the real build. Answers the
page collects are checked with the blueprint's own validate_outputs, so page and server cannot drift apart.
Whole flows through the real router and operator are in tests/e2e/test_form_browser.py.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from form_support import MakeBlueprint, config_with, reference_config
from mephisto_blueprint_form.blueprint import FormBlueprint

from mephisto_core.abstractions import UploadedFile
from mephisto_core.testing import task_page_helpers_js

if TYPE_CHECKING:
    from playwright.sync_api import Page

STUB = """
(function () {
  const config = __CONFIG__;
  window.__calls = { submissions: [] };
  const api = {
    initialTaskData: config.data, isPreview: !!config.preview, isOnboarding: false, alreadySubmitted: false,
    showMessage: (title) => { document.body.textContent = title; },
    handleSubmit: async (outputs, files) => {
      const sent = {};
      for (const name of Object.keys(files || {})) {
        sent[name] = Array.from(files[name]).map((f) => f.name);
      }
      window.__calls.submissions.push({ outputs: JSON.parse(JSON.stringify(outputs)), files: sent });
      const reply = config.replies.shift();
      if (reply) {
        const err = new Error(reply.message);
        err.code = reply.code;
        err.fields = reply.fields;
        throw err;
      }
      return { type: "submitted", next: "done" };
    },
  };
  api.nextUnit = () => location.reload();
  api.ready = Promise.resolve({});
  window.mephisto = api;
})();
"""


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean."""


Serve = Callable[..., str]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    """serve(blueprint, preview=False, replies=[]) -> URL of the built page with the stand-in client."""
    servers: list[ThreadingHTTPServer] = []

    def start(blueprint: FormBlueprint, preview: bool = False, replies: list[dict[str, Any]] | None = None) -> str:
        build = tmp_path / f"build{len(servers)}"
        blueprint.build(build)
        inputs = next(blueprint.iter_assignments())
        data = blueprint.preview_data() if preview else blueprint.init_data(inputs, 0)
        config = {"data": data, "preview": preview, "replies": replies or []}
        # The stand-in protocol part, then the real mephisto.taskPage helpers the page is built on.
        stub = STUB.replace("__CONFIG__", json.dumps(config)) + task_page_helpers_js()
        (build / "mephisto-task.js").write_text(stub, encoding="utf-8")
        server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(build)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/?worker_id=alice"

    yield start
    for server in servers:
        server.shutdown()


def submissions(page: Page) -> list[dict[str, Any]]:
    return list(page.evaluate("window.__calls.submissions"))


def messages_of(page: Page, name: str) -> list[str]:
    return page.locator(f"[data-field='{name}'] .field-errors li").all_inner_texts()


def test_sections_fieldsets_and_labelled_fields_are_rendered(
    page: Page, serve: Serve, make_blueprint: MakeBlueprint
) -> None:
    page.goto(serve(make_blueprint()))
    assert page.get_by_role("heading", level=1).inner_text() == "Form example"
    assert page.get_by_role("button", name="About you").get_attribute("aria-expanded") == "true"
    assert page.locator("fieldset.form-fieldset > legend").all_inner_texts()[:2] == [
        "Personal information",
        "Cultural background",
    ]
    first = page.get_by_label("First name")
    assert first.get_attribute("placeholder") == "Type first name"
    assert first.get_attribute("title") == "Your first name"
    assert first.get_attribute("aria-required") == "true"
    described = first.get_attribute("aria-describedby")
    assert described == "id_name_first-errors"
    email = page.get_by_label("Email address for Mephisto")
    help_id, errors_id = email.get_attribute("aria-describedby").split()
    assert page.locator(f"#{help_id}").inner_text() == "We may contact you later for additional information"
    assert page.locator(f"#{errors_id}").get_attribute("aria-live") == "polite"
    assert page.get_by_label("Language").evaluate("s => s.multiple") is True
    assert page.get_by_label("JavaScript").is_checked()
    assert page.get_by_role("radio").count() == 4
    assert page.locator("p.row-help").first.inner_text() == "Please use your legal name"


def test_only_instructions_are_html_everything_else_is_text(
    page: Page, serve: Serve, make_blueprint: MakeBlueprint
) -> None:
    config = config_with({"type": "input", "name": "a", "label": "<b>bold?</b>", "help": "<i>x</i>"})
    config["form"]["instruction"] = "<p class='intro'>Read <strong>carefully</strong>.</p>"
    config["form"]["title"] = "<img src=x onerror=alert(1)>"
    page.goto(serve(make_blueprint(config)))
    assert page.locator(".form-instruction p.intro strong").inner_text() == "carefully"
    assert page.get_by_role("heading", level=1).inner_text() == "<img src=x onerror=alert(1)>"
    assert page.get_by_label("<b>bold?</b>").count() == 1
    assert page.locator(".field-help").inner_text() == "<i>x</i>"


def test_messages_appear_as_the_worker_types(page: Page, serve: Serve, make_blueprint: MakeBlueprint) -> None:
    page.goto(serve(make_blueprint()))
    page.get_by_label("First name").fill("A")
    assert messages_of(page, "name_first") == ["Value should be at least 2 characters long."]
    assert page.get_by_label("First name").get_attribute("aria-invalid") == "true"
    page.get_by_label("First name").fill("Ada")
    assert messages_of(page, "name_first") == []
    assert page.get_by_label("First name").get_attribute("aria-invalid") is None
    page.get_by_label("Email address for Mephisto").fill("ada@example.com")
    assert messages_of(page, "email") == []  # the reference form takes any domain
    page.get_by_label("Language").select_option(["en"])
    assert messages_of(page, "language") == ["Should have at least 2 items selected."]


def test_submitting_an_incomplete_form_shows_every_message_and_sends_nothing(
    page: Page, serve: Serve, make_blueprint: MakeBlueprint
) -> None:
    config = reference_config()
    config["form"]["sections"][1]["initially_collapsed"] = True
    page.goto(serve(make_blueprint(config)))
    toggle = page.get_by_role("button", name="Second section")
    assert toggle.get_attribute("aria-expanded") == "false"
    page.get_by_role("button", name="Submit").click()
    assert page.locator(".task-status").inner_text() == "8 answers need fixing before you can submit."
    for name in ("name_first", "email", "country", "language", "kids", "avatar", "motto"):
        assert messages_of(page, name) == ["This field is required."], name
    assert messages_of(page, "name_last") == []  # optional, as its help says
    assert messages_of(page, "skills") == ["Should have at least 2 items selected."]
    assert toggle.get_attribute("aria-expanded") == "true"  # opened: it holds a field that needs fixing
    assert page.evaluate("document.activeElement.id") == "id_name_first"
    assert submissions(page) == []


def test_collapsible_sections_work_from_the_keyboard(page: Page, serve: Serve, make_blueprint: MakeBlueprint) -> None:
    page.goto(serve(make_blueprint()))
    toggle = page.get_by_role("button", name="About you")
    toggle.focus()
    page.keyboard.press("Enter")
    assert toggle.get_attribute("aria-expanded") == "false"
    assert page.get_by_label("First name").is_hidden()
    page.keyboard.press("Space")
    assert page.get_by_label("First name").is_visible()
    assert toggle.evaluate("b => getComputedStyle(b).outlineStyle") == "solid"  # visible focus


def test_keyboard_alone_fills_and_submits_a_form(page: Page, serve: Serve, make_blueprint: MakeBlueprint) -> None:
    config = config_with(
        {"type": "input", "name": "name", "label": "Name", "validators": {"required": True}},
        {
            "type": "select",
            "name": "colour",
            "label": "Colour",
            "validators": {"required": True},
            "options": [
                {"label": "-", "value": ""},
                {"label": "Red", "value": "red"},
                {"label": "Blue", "value": "blue"},
            ],
        },
        {
            "type": "radio",
            "name": "size",
            "label": "Size",
            "validators": {"required": True},
            "options": [{"label": "Small", "value": "s"}, {"label": "Large", "value": "l"}],
        },
        {
            "type": "checkbox",
            "name": "extras",
            "label": "Extras",
            "options": [{"label": "Cheese", "value": "cheese"}, {"label": "Olives", "value": "olives"}],
        },
        {"type": "number", "name": "count", "label": "Count", "validators": {"min": 1, "max": 3}},
    )
    blueprint = make_blueprint(config)
    page.goto(serve(blueprint))
    page.keyboard.press("Tab")  # the section toggle
    page.keyboard.press("Tab")
    page.keyboard.type("Grace")
    page.keyboard.press("Tab")
    page.keyboard.press("ArrowDown")  # Red
    page.keyboard.press("ArrowDown")  # Blue
    page.keyboard.press("Tab")
    page.keyboard.press("ArrowDown")  # radio group: moves to and checks Large
    page.keyboard.press("Tab")
    page.keyboard.press("Space")  # Cheese
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.type("2")
    page.keyboard.press("Enter")
    page.get_by_text("Your answer was submitted.").wait_for()
    (sent,) = submissions(page)
    assert sent["outputs"] == {"name": "Grace", "colour": "blue", "size": "l", "extras": ["cheese"], "count": 2}
    inputs = next(blueprint.iter_assignments())
    assert blueprint.validate_outputs(inputs, sent["outputs"], []) == {}


def test_server_refusal_shows_its_messages_next_to_the_fields(
    page: Page, serve: Serve, make_blueprint: MakeBlueprint
) -> None:
    config = config_with({"type": "input", "name": "code", "label": "Code"})
    refusal = {
        "code": "invalid_submission",
        "message": "Some answers need fixing.",
        "fields": {"code": "Taken already.", "ghost": "?"},
    }
    page.goto(serve(make_blueprint(config), replies=[refusal]))
    page.get_by_label("Code").fill("x1")
    page.get_by_role("button", name="Send").click()
    page.get_by_text("Taken already.").wait_for()
    assert messages_of(page, "code") == ["Taken already."]
    assert page.locator(".task-status").inner_text() == "Some answers need fixing. ghost: ?"
    assert page.get_by_role("button", name="Send").is_enabled()


def test_answers_collected_by_the_page_pass_the_server_check(
    page: Page, serve: Serve, make_blueprint: MakeBlueprint
) -> None:
    blueprint = make_blueprint()
    page.goto(serve(blueprint))
    page.get_by_label("First name").fill("Ada")
    page.get_by_label("Last name").fill("Lovelace")
    page.get_by_label("Email address for Mephisto").fill("ada@mephisto.ai")
    page.get_by_label("Country").select_option("USA")
    page.get_by_label("Language").select_option(["en", "fr"])
    page.get_by_label("Python").check()
    page.get_by_label("None").check()
    page.get_by_label("Profile Picture").set_input_files(
        files=[{"name": "ada.png", "mimeType": "image/png", "buffer": b"png"}]
    )
    page.get_by_label("Personal Motto").fill("Onwards")
    page.get_by_role("button", name="Submit").click()
    page.get_by_text("Your answer was submitted.").wait_for()
    (sent,) = submissions(page)
    assert sent["files"] == {"avatar": ["ada.png"]}
    assert sent["outputs"]["skills"] == ["javascript", "python"] and sent["outputs"]["resume"] == []
    files = [UploadedFile("avatar", "ada.png", 3, "image/png", Path("/u/ada.png"))]
    assert blueprint.validate_outputs(next(blueprint.iter_assignments()), sent["outputs"], files) == {}


def test_phone_sized_screen_stacks_fields_without_sideways_scrolling(
    browser: Any, serve: Serve, make_blueprint: MakeBlueprint
) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        page.goto(serve(make_blueprint()))
        page.get_by_label("First name").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        first = page.get_by_label("First name").bounding_box()
        last = page.get_by_label("Last name").bounding_box()
        assert first is not None and last is not None
        assert last["y"] > first["y"] + first["height"]  # the row wrapped: one field under the other
        assert first["x"] + first["width"] <= 360
    finally:
        context.close()


def test_preview_shows_the_form_read_only(page: Page, serve: Serve, make_blueprint: MakeBlueprint) -> None:
    page.goto(serve(make_blueprint(), preview=True))
    page.get_by_text("This is a preview.").wait_for()
    assert page.get_by_label("First name").is_disabled()
    assert page.get_by_role("button", name="Submit").count() == 0
