"""The completion step in real Chromium: after the operator stored a unit's submission, the static page goes back
to the "platform" (a tiny HTTP server this test runs on 127.0.0.1): MTurk-style by POSTing a form with the
assignmentId, Prolific-style by a GET with the completion code in the query. The onboarding test before the unit
never leaves the page, and a page reloaded after it submitted completes again.

Real operator (in this process, on its own thread), real router, real static blueprint, real SQLite.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest
import tomli_w

from mephisto_core.abstractions import Blueprint, CrowdProvider, PageCompletion, WorkerIdentity
from mephisto_core.data_model import Agent, AgentStatus, Database, OnboardingAgent
from mephisto_core.hookspecs import hookimpl
from mephisto_core.operations.run.operator import Operator
from mephisto_core.settings import Settings
from mephisto_core.task_config import load_task_config

TIMEOUT_MS = 15_000
ONBOARDING_HTML = '<p><label for="q1">Type <em>ready</em>:</label> <input id="q1" name="q1" required></p>'


class FakePlatform:
    """Records what pages POST and GET, and answers with a page of its own."""

    def __init__(self) -> None:
        self.posted: list[dict[str, list[str]]] = []
        self.got: list[tuple[str, dict[str, list[str]]]] = []
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                platform.posted.append(parse_qs(body))
                self._answer()

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != "/favicon.ico":  # the browser asks for it by itself
                    platform.got.append((parts.path, parse_qs(parts.query)))
                self._answer()

            def _answer(self) -> None:
                page = b"<!doctype html><h1>The platform got it</h1>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # no request lines in the test output

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class PlatformProvider(CrowdProvider):
    """MTurk-style links (`assignmentId`, `turkSubmitTo`) complete by POST; `?study=1` links complete Prolific-style
    by a GET to `completion_url` with the completion code."""

    type_name: ClassVar[str] = "browser_completion_test"
    default_requester_name: ClassVar[str | None] = "TEST_REQUESTER"
    publishes_units: ClassVar[bool] = False
    identifies_workers_locally: ClassVar[bool] = True
    completion_url: ClassVar[str] = ""

    def identify_worker(self, params: Any) -> WorkerIdentity:
        worker, assignment = params.get("worker_id"), params.get("assignmentId")
        if params.get("turkSubmitTo"):
            submit_to = f"{params['turkSubmitTo']}/mturk/externalSubmit"
            post = PageCompletion(submit_to, "POST", {"assignmentId": assignment})
            return WorkerIdentity(worker, provider_agent_id=assignment, completion=post)
        if params.get("study"):
            code = PageCompletion(self.completion_url, "GET", {"cc": "C0DE42"}, label="Return to Prolific")
            return WorkerIdentity(worker, completion=code)
        return WorkerIdentity(worker)


CUSTOM_PAGE = "<!doctype html><title>custom</title><script src='/mephisto-task.js'></script><p>A custom page</p>"


class CustomPageBlueprint(Blueprint):
    """A page built without the taskPage helpers: the test drives `window.mephisto` itself."""

    type_name: ClassVar[str] = "custom_page_test"

    def iter_assignments(self) -> Iterator[dict[str, Any]]:
        yield {"n": 1}

    def build(self, build_dir: Path) -> None:
        (build_dir / "index.html").write_text(CUSTOM_PAGE)


class _Plugin:
    @hookimpl
    def mephisto_register_providers(self, register: Any) -> None:
        register(PlatformProvider)

    @hookimpl
    def mephisto_register_blueprints(self, register: Any) -> None:
        register(CustomPageBlueprint)


class OperatorThread:
    """A real operator running `config` on its own event loop thread, until `stop`."""

    def __init__(self, settings: Settings, database: Database, config: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.operator = Operator(settings, database)
        self.run: Future[Any] = asyncio.run_coroutine_threadsafe(self.operator.run(config), self.loop)
        asyncio.run_coroutine_threadsafe(asyncio.wait_for(self.operator.ready.wait(), 20), self.loop).result(25)
        self.url = self.operator.stats.worker_url

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.operator.request_stop)
        self.loop.call_soon_threadsafe(self.operator.request_stop)
        try:
            self.run.result(20)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


@pytest.fixture
def platform() -> Iterator[FakePlatform]:
    fake = FakePlatform()
    PlatformProvider.completion_url = f"{fake.url}/submissions/complete"
    yield fake
    fake.close()


@pytest.fixture
def running_task(
    static_task: Path,
    mephisto_register_plugin: Any,
    mephisto_settings: Settings,
    sqlite_database: Database,
    platform: FakePlatform,
) -> Iterator[OperatorThread]:
    """The static template with an onboarding test, on the test provider, served by an in-process operator."""
    mephisto_register_plugin(_Plugin())
    (static_task.parent / "onboarding.html").write_text(ONBOARDING_HTML)
    text = static_task.read_text().replace('type = "mock"', 'type = "browser_completion_test"')
    static_task.write_text(text + '\n[task.onboarding]\nanswers = { q1 = "ready" }\n')
    config = load_task_config(static_task, ["architect.port=0", "blueprint.onboarding_source=onboarding.html"])
    running = OperatorThread(mephisto_settings, sqlite_database, config)
    yield running
    running.stop()


# Reports (on the console) each message page mephisto-task.js draws: its heading and its button, if any.
WATCH_MESSAGES = """() => new MutationObserver(() => {
  const shown = document.querySelector('.mephisto-message');
  if (shown && !shown.dataset.reported) {
    shown.dataset.reported = '1';
    const button = shown.querySelector('button');
    console.log('message: ' + shown.querySelector('h1').textContent + ' | ' + (button ? button.textContent : ''));
  }
}).observe(document.body, {childList: true, subtree: true})"""


def pass_onboarding_then_submit(page: Any, link: str, platform: FakePlatform) -> None:
    page.goto(link)
    page.locator("input[name=q1]").fill("ready")
    page.get_by_role("button", name="Submit").click()
    page.get_by_text("You passed the qualification test").wait_for()
    # The onboarding test was stored and the page stayed: nothing reached the platform.
    assert platform.posted == [] and platform.got == []
    assert urlsplit(page.url).netloc == urlsplit(link).netloc
    page.get_by_role("button", name="Start the task").click()
    page.locator("select[name=frequency]").select_option("weekly")
    page.locator("textarea[name=answer]").fill("I read in the park by the lake on Sundays.")
    page.evaluate(WATCH_MESSAGES)
    page.get_by_role("button", name="Submit").click()


@pytest.mark.browser
def test_an_mturk_style_page_posts_the_assignment_id_once_its_answer_is_stored(
    running_task: OperatorThread, platform: FakePlatform, browser: Any
) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    link = f"{running_task.url}?worker_id=alice&assignmentId=ASG-7&turkSubmitTo={platform.url}"
    pass_onboarding_then_submit(page, link, platform)
    page.wait_for_url(f"{platform.url}/mturk/externalSubmit")
    page.get_by_role("heading", name="The platform got it").wait_for()
    assert platform.posted == [{"assignmentId": ["ASG-7"]}]
    # Stored before the page left.
    (agent,) = Agent.select()
    assert agent.status == AgentStatus.COMPLETED and agent.outputs["answer"].startswith("I read in the park")
    assert agent.provider_agent_id == "ASG-7"
    (onboarding,) = OnboardingAgent.select()
    assert onboarding.status == AgentStatus.APPROVED

    # Back on the task page in the same tab (its token kept): the unit is submitted, so it completes again.
    page.goto(link)
    page.wait_for_url(f"{platform.url}/mturk/externalSubmit")
    assert platform.posted == [{"assignmentId": ["ASG-7"]}] * 2
    assert Agent.select().count() == 1
    context.close()


def _held_then_continued(route: Any) -> None:
    time.sleep(0.3)
    route.continue_()


@pytest.mark.browser
def test_a_prolific_style_page_goes_to_the_completion_url_with_its_code(
    running_task: OperatorThread, platform: FakePlatform, browser: Any
) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    shown: list[str] = []
    page.on("console", lambda message: shown.append(message.text))
    # The page logs its message and starts leaving in the same task. Chromium drops the console event of a
    # document that is already gone, so the way out is held a moment: the old page stays until the event is in.
    page.route(f"{platform.url}/submissions/complete*", _held_then_continued)
    pass_onboarding_then_submit(page, f"{running_task.url}?worker_id=bob&study=1", platform)
    page.wait_for_url(f"{platform.url}/submissions/complete?cc=C0DE42")
    # Before it left, the page said the work was stored, with the button in case the browser had not followed
    # (and no "next unit": the platform decides what comes next).
    assert [text for text in shown if text.startswith("message: ")] == [
        "message: Your work was stored | Return to Prolific"
    ]
    assert platform.got == [("/submissions/complete", {"cc": ["C0DE42"]})]
    assert Agent.get().outputs["frequency"] == "weekly"
    context.close()


@pytest.mark.browser
def test_a_link_without_a_completion_step_thanks_and_offers_the_next_unit(
    running_task: OperatorThread, platform: FakePlatform, browser: Any
) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    pass_onboarding_then_submit(page, f"{running_task.url}?worker_id=carol", platform)
    page.get_by_text("Your answer was submitted.").wait_for()
    page.get_by_role("button", name="Do another unit").wait_for()
    assert platform.posted == [] and platform.got == []
    context.close()


@pytest.fixture
def custom_page_task(
    tmp_path: Path,
    mephisto_register_plugin: Any,
    mephisto_settings: Settings,
    sqlite_database: Database,
    platform: FakePlatform,
) -> Iterator[OperatorThread]:
    mephisto_register_plugin(_Plugin())
    path = tmp_path / "custom.toml"
    task = {"name": "custom", "title": "Custom", "description": "A custom page", "reward": 0.1}
    path.write_text(
        tomli_w.dumps(
            {
                "task": task,
                "blueprint": {"type": "custom_page_test"},
                "architect": {"type": "local", "port": 0},
                "provider": {"type": "browser_completion_test"},
            }
        )
    )
    running = OperatorThread(mephisto_settings, sqlite_database, load_task_config(path))
    yield running
    running.stop()


@pytest.mark.browser
def test_a_custom_page_gets_the_completion_from_handle_submit_and_completes_only_after_it(
    custom_page_task: OperatorThread, platform: FakePlatform, browser: Any
) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{custom_page_task.url}?worker_id=erin&assignmentId=ASG-9&turkSubmitTo={platform.url}")
    posted = {"url": f"{platform.url}/mturk/externalSubmit", "method": "POST", "fields": {"assignmentId": "ASG-9"}}
    early = page.evaluate(
        "async () => { const info = await mephisto.ready; return [info.completion, mephisto.complete()]; }"
    )
    # Known from the start, but nothing happens before the answer is stored.
    assert early == [{**posted, "label": None}, False]
    answer = page.evaluate("async () => (await mephisto.handleSubmit({answer: 'custom'})).completion")
    assert answer == {**posted, "label": None}
    assert platform.posted == [] and Agent.get().outputs == {"answer": "custom"}
    page.evaluate("() => { setTimeout(() => mephisto.complete(), 0); }")
    page.wait_for_url(f"{platform.url}/mturk/externalSubmit")
    assert platform.posted == [{"assignmentId": ["ASG-9"]}]
    context.close()
