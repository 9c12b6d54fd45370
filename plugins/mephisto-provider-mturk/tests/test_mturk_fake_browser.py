"""A real Chromium page posts its form to the fake's externalSubmit, as a task page inside MTurk does."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import mturk_fake_fixtures as fx
import pytest
from mephisto_provider_mturk.testing import FakeMTurk
from mturk_fake_fixtures import external_question, make_hit
from playwright.sync_api import Page

fake, mturk = fx.fake, fx.mturk  # the shared fixtures, under their own names

# The page reads MTurk's query parameters and posts to <turkSubmitTo>/mturk/externalSubmit, as a
# task page must; in preview (ASSIGNMENT_ID_NOT_AVAILABLE) it disables the button.
TASK_PAGE = b"""<!doctype html><html><head><meta charset="utf-8"><title>task</title></head><body>
<form id="f" method="post">
  <input type="hidden" name="assignmentId" id="assignmentId">
  <input name="label" id="label">
  <label><input type="checkbox" name="tags" value="cat" checked>cat</label>
  <label><input type="checkbox" name="tags" value="dog" checked>dog</label>
  <button id="go" type="submit">Submit</button>
</form>
<script>
  const q = new URLSearchParams(location.search);
  document.getElementById("assignmentId").value = q.get("assignmentId");
  document.getElementById("f").action = q.get("turkSubmitTo") + "/mturk/externalSubmit";
  if (q.get("assignmentId") === "ASSIGNMENT_ID_NOT_AVAILABLE") document.getElementById("go").disabled = true;
</script></body></html>"""


class _TaskPage(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(TASK_PAGE)))
        self.end_headers()
        self.wfile.write(TASK_PAGE)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def task_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TaskPage)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/task"
    finally:
        server.shutdown()
        server.server_close()


def test_browser_form_post_becomes_the_assignment_answer(
    page: Page, fake: FakeMTurk, mturk: Any, task_url: str
) -> None:
    hit_id = make_hit(mturk, question=external_question(task_url))["HITId"]
    page.goto(fake.preview_url(hit_id))
    assert page.is_disabled("#go")
    visit = fake.accept(hit_id, "A1BROWSER")
    assert visit.url is not None
    page.goto(visit.url)
    page.fill("#label", "chat noir & café")
    with page.expect_navigation():
        page.click("#go")
    assert "has been submitted" in page.inner_text("#mturk-submit-result")
    (assignment,) = mturk.list_assignments_for_hit(HITId=hit_id)["Assignments"]
    assert assignment["AssignmentStatus"] == "Submitted"
    assert fake.answers(visit.assignment_id) == [("label", "chat noir & café"), ("tags", "cat"), ("tags", "dog")]
    page.go_back()
    with page.expect_navigation():
        page.click("#go")  # a second post of the same assignment is refused
    assert "could not be submitted" in page.inner_text("#mturk-submit-result")
