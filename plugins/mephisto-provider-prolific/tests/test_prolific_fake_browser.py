"""A participant in real Chromium: study URL, task page, redirect to the fake's completion URL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from mephisto_provider_prolific.testing import FakeProlific
from prolific_fake_fixtures import CODE, api_client, published_study

if TYPE_CHECKING:
    from playwright.sync_api import Page


class _TaskPage(BaseHTTPRequestHandler):
    """A task page that shows the session it was given and sends the participant to Prolific when done."""

    completion_url = ""

    def do_GET(self) -> None:
        params = parse_qs(urlsplit(self.path).query)
        session = params.get("session", [""])[0]
        done = f"{self.completion_url}?{urlencode({'cc': CODE})}"
        html = f"<p id='session'>{session}</p><button id='done' onclick=\"location.href='{done}'\">Done</button>"
        payload = html.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def fake() -> Iterator[FakeProlific]:
    with FakeProlific() as running:
        yield running
    assert running.server_errors == []


@pytest.fixture
def task_site(fake: FakeProlific) -> Iterator[str]:
    handler = type("TaskPage", (_TaskPage,), {"completion_url": fake.completion_url})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/task"
    server.shutdown()
    server.server_close()


def test_participant_finishes_in_chromium(fake: FakeProlific, task_site: str, page: Page) -> None:
    with api_client(fake) as api:
        study = published_study(
            api,
            total_available_places=2,
            external_study_url=f"{task_site}?pid={{{{%PROLIFIC_PID%}}}}&session={{{{%SESSION_ID%}}}}",
        )
        first = fake.start(study["id"], fake.new_participant_id())
        other = fake.start(study["id"], fake.new_participant_id())  # two ACTIVE: only the cookie tells them apart
        page.context.add_cookies(fake.browser_cookies(first))  # type: ignore[arg-type]
        page.goto(first.url)
        assert page.text_content("#session") == first.session_id
        page.click("#done")
        page.wait_for_selector("text=Submission completed")
        assert page.text_content("#status") == "AWAITING REVIEW"
        statuses = {
            s["id"]: s["status"] for s in api.get("submissions/", params={"study": study["id"]}).json()["results"]
        }
        assert statuses == {first.submission_id: "AWAITING REVIEW", other.submission_id: "ACTIVE"}
