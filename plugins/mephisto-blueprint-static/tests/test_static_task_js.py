"""static-task.js in Chromium, against a stand-in for window.mephisto that records what the page submits.

The stand-in replaces /mephisto-task.js only; the page, static-task.js and the task HTML are the real build.
Answers collected by the page are checked with the blueprint's own validate_outputs, so the page script and
the server-side rules cannot drift apart. Whole flows through the real router and operator are tested in
the core's end-to-end suite.
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
from mephisto_blueprint_static.blueprint import StaticBlueprint
from static_support import MakeBlueprint, template_blueprint

from mephisto_core.testing import task_page_helpers_js

if TYPE_CHECKING:
    from playwright.sync_api import Page

# Configured per test through window-level JSON; records every call so the test can read it back.
STUB = """
(function () {
  const config = __CONFIG__;
  window.__calls = { submissions: [], messages: [] };
  const api = {
    initialTaskData: null, isPreview: false, isOnboarding: false, alreadySubmitted: false,
    showMessage: (title, text) => {
      window.__calls.messages.push([title, text]);
      document.body.innerHTML = "<h1 id='message-title'></h1>";
      document.getElementById("message-title").textContent = title;
    },
    handleSubmit: async (outputs, files) => {
      const sent = {};
      for (const name of Object.keys(files || {})) {
        sent[name] = await Promise.all(Array.from(files[name]).map(async (f) => [f.name, await f.text()]));
      }
      window.__calls.submissions.push({ outputs: outputs, files: sent });
      const reply = config.replies.shift() || { ok: { type: "submitted", next: "done" } };
      if (reply.error) {
        const err = new Error(reply.error.message);
        err.code = reply.error.code;
        err.fields = reply.error.fields;
        throw err;
      }
      return reply.ok;
    },
  };
  api.nextUnit = () => {
    // The real one forgets the unit's token and reloads (tested with the real client in the core).
    sessionStorage.setItem("next-unit-asked", "yes");
    location.reload();
  };
  if (config.refused) {
    const err = new Error(config.refused.message);
    err.reason = config.refused.reason;
    api.ready = Promise.reject(err);
  } else {
    Object.assign(api, config.state);
    api.ready = Promise.resolve(config.state);
  }
  window.mephisto = api;
})();
"""


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean."""


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[StaticBlueprint, dict[str, Any]], str]]:
    """serve(blueprint, stub_config) -> URL of the built page, with the stand-in client."""
    servers: list[ThreadingHTTPServer] = []

    def start(blueprint: StaticBlueprint, config: dict[str, Any]) -> str:
        build = tmp_path / f"build{len(servers)}"
        blueprint.build(build)
        config = {"replies": [], **config}
        # The stand-in protocol part, then the real mephisto.taskPage helpers the page is built on.
        stub = STUB.replace("__CONFIG__", json.dumps(config)) + task_page_helpers_js()
        (build / "mephisto-task.js").write_text(stub, encoding="utf-8")
        handler = functools.partial(_QuietHandler, directory=str(build))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/?worker_id=alice"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _template() -> StaticBlueprint:
    return template_blueprint()


def _task_state(blueprint: StaticBlueprint, inputs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"state": {"initialTaskData": blueprint.init_data(inputs, 0), **extra}}


def _submissions(page: Page) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = page.evaluate("window.__calls.submissions")
    return result


def test_template_answer_is_collected_validated_and_thanked(page: Page, serve: Any, tmp_path: Path) -> None:
    blueprint = _template()
    inputs = next(blueprint.iter_assignments())
    page.goto(serve(blueprint, _task_state(blueprint, inputs)))
    page.get_by_text(inputs["prompt"]).wait_for()
    page.select_option("select[name=frequency]", "weekly")
    page.fill("textarea[name=answer]", "A bench under the old oak in the park.")
    photo = tmp_path / "bench.png"
    photo.write_bytes(b"not really a png")
    page.set_input_files("input[name=photo]", str(photo))
    page.check("input[name=may_quote]")
    page.click("button[type=submit]")
    page.get_by_role("heading", name="Thank you").wait_for()

    [sent] = _submissions(page)
    assert sent["outputs"] == {
        "topic": inputs["topic"],
        "frequency": "weekly",
        "answer": "A bench under the old oak in the park.",
        "photo": ["bench.png"],
        "may_quote": True,
    }
    assert sent["files"] == {"photo": [["bench.png", "not really a png"]]}
    assert blueprint.validate_outputs(inputs, sent["outputs"], []) == {}
    assert page.get_by_role("button", name="Do another unit").is_visible()


def test_browser_validation_blocks_a_missing_required_field(page: Page, serve: Any) -> None:
    blueprint = _template()
    inputs = next(blueprint.iter_assignments())
    page.goto(serve(blueprint, _task_state(blueprint, inputs)))
    page.fill("textarea[name=answer]", "Long enough to pass the minimum length.")
    page.click("button[type=submit]")  # frequency is still "Choose one..."
    assert page.evaluate("document.querySelector('select[name=frequency]').validity.valueMissing") is True
    assert _submissions(page) == []


def test_refused_submission_shows_field_messages_and_reenables_the_button(page: Page, serve: Any) -> None:
    blueprint = _template()
    inputs = next(blueprint.iter_assignments())
    reply = {
        "error": {
            "code": "invalid_submission",
            "message": "Please fix the answer.",
            "fields": {"answer": "Too vague.", "ghost": "Not on the page."},
        }
    }
    page.goto(serve(blueprint, {**_task_state(blueprint, inputs), "replies": [reply]}))
    page.select_option("select[name=frequency]", "daily")
    page.fill("textarea[name=answer]", "Something something something.")
    page.click("button[type=submit]")
    page.get_by_text("Too vague.").wait_for()
    status = page.locator(".task-status").inner_text()
    assert "Please fix the answer." in status and "ghost: Not on the page." in status
    assert page.get_attribute("textarea[name=answer]", "aria-invalid") == "true"
    assert page.is_enabled("button[type=submit]")
    # Sending again clears the old messages and succeeds.
    page.click("button[type=submit]")
    page.get_by_role("heading", name="Thank you").wait_for()
    assert len(_submissions(page)) == 2


def test_refusal_shows_the_reason_through_show_message(page: Page, serve: Any) -> None:
    config = {"refused": {"reason": "no_units", "message": "All units are taken. Thank you for your interest."}}
    page.goto(serve(_template(), config))
    page.get_by_role("heading", name="No task available right now").wait_for()
    assert page.evaluate("window.__calls.messages") == [
        ["No task available right now", "All units are taken. Thank you for your interest."]
    ]


def test_preview_shows_the_preview_html(page: Page, serve: Any) -> None:
    blueprint = _template()
    state = {"state": {"isPreview": True, "initialTaskData": blueprint.preview_data()}}
    page.goto(serve(blueprint, state))
    page.get_by_text("Accept the task to see your prompt.").wait_for()
    assert page.locator("form").count() == 0


def test_already_submitted_unit_shows_thanks(page: Page, serve: Any) -> None:
    blueprint = _template()
    page.goto(serve(blueprint, _task_state(blueprint, next(blueprint.iter_assignments()), alreadySubmitted=True)))
    page.get_by_role("heading", name="Thank you").wait_for()
    assert page.locator("form").count() == 0


def test_do_another_unit_asks_the_client_for_the_next_unit(page: Page, serve: Any) -> None:
    # mephisto.nextUnit() forgets the stored token and reloads: tests/router/test_task_page_helpers.py checks
    # that with the real client; here, that the page's button hands over to it.
    blueprint = _template()
    url = serve(blueprint, _task_state(blueprint, next(blueprint.iter_assignments()), alreadySubmitted=True))
    page.goto(url)
    with page.expect_navigation():
        page.click("text=Do another unit")
    assert page.evaluate("sessionStorage.getItem('next-unit-asked')") == "yes"


ALL_KINDS = """
<p>${text}</p>
<form action="/elsewhere"><input name="inner_form_field" value="kept"></form>
<input name="title" value="t">
<input type="number" name="age" value="7">
<input type="email" name="mail" value="a@example.org">
<textarea name="notes">n</textarea>
<input type="checkbox" name="agree">
<input type="checkbox" name="colors" value="red" checked><input type="checkbox" name="colors" value="blue">
<input type="checkbox" name="flags">
<input type="radio" name="size" value="s"><input type="radio" name="size" value="l">
<input type="radio" name="shape" value="round" checked>
<select name="pick"><option>One</option><option value="2" selected>Two</option></select>
<select name="many" multiple><option selected>a</option><option>b</option><option selected>c</option></select>
<input type="file" name="doc">
<input name="mixed" value="typed"><input type="checkbox" name="mixed" value="ticked" checked>
<input type="submit" name="go" value="Also submits">
<input type="hidden" name="from_script">
<script>document.querySelector("[name=from_script]").value = "script ran";</script>
"""


def test_every_kind_of_field_is_collected_as_the_server_expects(
    page: Page, serve: Any, make_blueprint: MakeBlueprint
) -> None:
    blueprint = make_blueprint(files={"task.html": ALL_KINDS})
    blueprint.check()
    inputs = next(blueprint.iter_assignments())
    page.goto(serve(blueprint, _task_state(blueprint, inputs)))
    page.get_by_text(inputs["text"]).wait_for()
    page.check("input[name=flags]")
    page.click("input[name=go]")  # the task's own submit button submits the same form
    page.get_by_role("heading", name="Thank you").wait_for()
    [sent] = _submissions(page)
    assert sent["outputs"] == {
        "inner_form_field": "kept",
        "title": "t",
        "age": "7",
        "mail": "a@example.org",
        "notes": "n",
        "agree": False,
        "colors": ["red"],
        "flags": True,
        "size": None,
        "shape": "round",
        "pick": "2",
        "many": ["a", "c"],
        "doc": [],
        "mixed": ["typed", "ticked"],
        "from_script": "script ran",
    }
    assert sent["files"] == {}
    assert blueprint.validate_outputs(inputs, sent["outputs"], []) == {}


@pytest.mark.parametrize(
    ("next_step", "heading"),
    [
        ("onboarding_passed", "You passed the qualification test"),
        ("onboarding_failed", "Thank you for trying"),
    ],
)
def test_onboarding_result_is_shown(
    page: Page, serve: Any, make_blueprint: MakeBlueprint, next_step: str, heading: str
) -> None:
    blueprint = make_blueprint(
        files={"onboard.html": '<p>Type "ready"</p><input name="word" required>'},
        onboarding_source="onboard.html",
    )
    state = {"state": {"isOnboarding": True, "initialTaskData": blueprint.onboarding_data()}}
    page.goto(serve(blueprint, {**state, "replies": [{"ok": {"type": "submitted", "next": next_step}}]}))
    page.fill("input[name=word]", "ready")
    page.click("button[type=submit]")
    page.get_by_role("heading", name=heading).wait_for()
    assert _submissions(page)[0]["outputs"] == {"word": "ready"}
