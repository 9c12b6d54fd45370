"""mephisto.taskPage (the helpers static and form pages share) in Chromium, with the real client and router.

A small page built only on the helpers gets a unit from the fake operator, refuses to send an answer its own
check rejects, sends one answer however often it is submitted, thanks the worker, and takes the next unit.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from router_helpers import SECRET, BackgroundLoop, FakeOperator

from mephisto_core.router import RouterServer
from mephisto_core.testing import task_page_helpers_js

pytestmark = pytest.mark.browser

TIMEOUT_MS = 15_000

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>helpers</title></head>
<body><div id="task-root"></div>
<script src="/mephisto-task.js"></script>
<script>
  const root = document.getElementById("task-root");
  const page = mephisto.taskPage;
  window.sent = 0;
  page.start(root, {
    preview: () => root.replaceChildren(page.element("p", "", "a preview")),
    task: (data) => {
      const form = page.element("form");
      const input = page.element("input");
      input.name = "answer";
      const button = page.element("button", "task-button", "Send");
      button.type = "submit";
      const status = page.statusLine();
      form.append(page.element("p", "prompt", data.text), input, button, status);
      root.replaceChildren(form);
      page.handleFormSubmit(form, {
        button: button,
        status: status,
        check: () => (input.value ? null : "Write something first."),
        collect: () => { window.sent += 1; return { outputs: { answer: input.value }, files: {} }; },
        done: () => page.showThanks(root),
      });
    },
  });
</script></body></html>
"""


class LiveTask:
    """The real router serving PAGE, on a background loop, with the fake operator on its channel."""

    def __init__(self, build_dir: Path, **operator_options: Any) -> None:
        self.loop = BackgroundLoop()
        self.server = RouterServer(build_dir, SECRET)
        self.loop.run(self.server.start())
        self.operator = FakeOperator(self.server.channel_url, **operator_options)
        self.loop.run(self.operator.__aenter__())

    def close(self) -> None:
        self.loop.run(self.operator.__aexit__(None, None, None))
        self.loop.run(self.server.stop())
        self.loop.close()


@pytest.fixture
def start_task(tmp_path: Path) -> Iterator[Any]:
    build = tmp_path / "build"
    build.mkdir()
    (build / "index.html").write_text(PAGE, encoding="utf-8")
    started: list[LiveTask] = []

    def start(**operator_options: Any) -> LiveTask:
        started.append(LiveTask(build, **operator_options))
        return started[-1]

    yield start
    for live in started:
        live.close()


@pytest.fixture
def task_page(page: Any) -> Iterator[Any]:
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    assert errors == [], f"the page raised: {errors}"


def test_the_page_draws_its_unit_checks_sends_once_and_thanks(start_task: Any, task_page: Any) -> None:
    live = start_task(init_data={"text": "<b>Is this a cat?</b>"})
    task_page.goto(live.server.url + "?worker_id=alice")
    assert task_page.inner_text(".prompt") == "<b>Is this a cat?</b>"  # text, never HTML

    task_page.click("text=Send")
    assert task_page.inner_text(".task-status") == "Write something first."
    assert task_page.get_attribute(".task-status", "class") == "task-status is-error"
    assert live.operator.messages("submit") == []

    task_page.fill("input[name=answer]", "yes")
    task_page.evaluate("() => { const f = document.querySelector('form'); f.requestSubmit(); f.requestSubmit(); }")
    task_page.get_by_role("heading", name="Thank you").wait_for()
    assert task_page.evaluate("() => window.sent") == 1
    [submit] = live.operator.messages("submit")
    assert submit["outputs"] == {"answer": "yes"}
    assert task_page.evaluate("() => document.activeElement.tagName") == "H1"
    assert task_page.get_attribute(".task-done", "role") == "status"


def test_do_another_unit_forgets_only_the_token_and_asks_for_a_new_unit(start_task: Any, task_page: Any) -> None:
    live = start_task()
    url = live.server.url + "?worker_id=alice"
    task_page.goto(url)
    task_page.fill("input[name=answer]", "yes")
    task_page.click("text=Send")
    task_page.get_by_role("heading", name="Thank you").wait_for()
    key = "mephisto-token:" + url  # how mephisto-task.js keys the token: origin + path + query
    assert task_page.evaluate("([k]) => sessionStorage.getItem(k)", [key])
    task_page.evaluate("() => sessionStorage.setItem('other', 'keep')")

    with task_page.expect_navigation():
        task_page.click("text=Do another unit")
    task_page.locator(".prompt").wait_for()
    assert task_page.evaluate("sessionStorage.getItem('other')") == "keep"
    hellos = live.operator.messages("hello")
    assert [hello["token"] for hello in hellos] == [None, None]  # the next unit, not the old one again


@pytest.mark.parametrize(
    ("reason", "title"),
    [("blocked", "This task is not open to you"), ("no_units", "No task available right now")],
)
def test_a_refused_worker_sees_the_title_of_the_reason(
    start_task: Any, task_page: Any, reason: str, title: str
) -> None:
    live = start_task(refuse_reason=reason)
    task_page.goto(live.server.url + "?worker_id=mallory")
    task_page.get_by_role("heading", name=title).wait_for()
    assert task_page.query_selector("form") is None


def test_the_helpers_block_is_what_the_router_serves() -> None:
    served = (Path(__file__).resolve().parents[2] / "src/mephisto_core/router/static/mephisto-task.js").read_text()
    block = task_page_helpers_js()
    assert block.startswith("/* ---- mephisto.taskPage: begin ----") and block.strip() in served
    assert "mephisto.taskPage = {" in block
