"""The form template end to end: `mephisto init --template form`, `mephisto launch` as a real process, then Chromium
filling the reference form (wrong answers first, then right ones), a page that skips the browser's checks and speaks
the protocol itself, and simulated workers."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from e2e_helpers import submit_and_wait
from websockets.asyncio.client import ClientConnection, connect

from mephisto_core.data_model import Agent, AgentFile, AgentStatus, Unit, UnitStatus, Worker, open_database

PHOTO = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + zlib.compress(b"form photo") + b"\xff\x00\x10"
RESUME = b"%PDF-1.4\n% a resume that is not really a PDF\n" + bytes(range(256))

VALID = {
    "name_first": "Ada",
    "name_last": "Lovelace",
    "email": "ada.king@example.org",
    "country": "CAN",
    "language": ["en", "fr", "es"],
    "bio": "Mathematician.\nWrote the first published program.",
    "skills": ["javascript", "python"],
    "kids": ">=3",
    "avatar": ["ada.png"],
    "resume": ["resume.pdf"],
    "motto": "That brain of mine is something more than merely mortal.",
}


@pytest.fixture
def form_task(tmp_path: Path, cli_env: dict[str, str]) -> Path:
    """A task folder created by `mephisto init` from the form template; returns its task.toml."""
    folder = tmp_path / "survey"
    result = subprocess.run(
        [sys.executable, "-m", "mephisto_core.cli", "init", str(folder), "--template", "form"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return folder / "task.toml"


def _base_url(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.scheme}://{parts.netloc}/"


def _errors(page: Any, name: str) -> list[str]:
    return list(page.locator(f"[data-field='{name}'] .field-errors li").all_inner_texts())


def test_worker_fills_the_reference_form_in_chromium_wrong_then_right(
    form_task, start_launch, browser, mephisto_settings
):
    launch = start_launch(str(form_task), "architect.port=0", "--no-panel")
    base = _base_url(launch.wait_for_link())
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}?worker_id=ada")
    page.get_by_role("heading", name="Form example").wait_for(timeout=15_000)

    # Wrong answers, each message checked as the worker types.
    first = page.get_by_label("First name")
    first.fill("A")
    assert _errors(page, "name_first") == ["Value should be at least 2 characters long."]
    first.fill("Augusta Ada King-Noel")
    assert _errors(page, "name_first") == ["Value should be no more than 20 characters long."]
    email = page.get_by_label("Email address for Mephisto")
    email.fill("ada")
    assert _errors(page, "email") == ["Enter an email address, such as name@example.org."]
    email.fill("ada@example.com")
    assert _errors(page, "email") == []  # any domain: the template's old rule took only @mephisto.ai
    language = page.get_by_label("Language")
    language.select_option(["en"])
    assert _errors(page, "language") == ["Should have at least 2 items selected."]
    language.select_option(["en", "fr", "es", "ch"])
    assert _errors(page, "language") == ["Should have at most 3 items selected."]
    for skill in ("React", "Python", "SQL"):
        page.get_by_label(skill).check()  # JavaScript is ticked already: four in all
    assert _errors(page, "skills") == ["Should have at most 3 items selected."]

    # Submitting now sends nothing and shows every remaining message.
    page.get_by_role("button", name="Submit").click()
    assert page.locator(".task-status").inner_text() == "7 answers need fixing before you can submit."
    for name in ("country", "kids", "avatar", "motto"):
        assert _errors(page, name) == ["This field is required."], name
    assert _errors(page, "name_last") == []  # its help says optional, and it is
    assert _errors(page, "name_first") == ["Value should be no more than 20 characters long."]
    assert _errors(page, "resume") == [] and _errors(page, "bio") == []

    # Right answers.
    first.fill(VALID["name_first"])
    page.get_by_label("Last name").fill(VALID["name_last"])
    email.fill(VALID["email"])
    page.get_by_label("Country").select_option(VALID["country"])
    language.select_option(VALID["language"])
    page.get_by_label("Biography since age of 18").fill(VALID["bio"])
    for skill in ("React", "SQL"):
        page.get_by_label(skill).uncheck()
    page.get_by_label("Three or more").check()
    page.get_by_label("Profile Picture").set_input_files(
        files=[{"name": "ada.png", "mimeType": "image/png", "buffer": PHOTO}]
    )
    page.get_by_label("Resume").set_input_files(
        files=[{"name": "resume.pdf", "mimeType": "application/pdf", "buffer": RESUME}]
    )
    page.get_by_label("Personal Motto").fill(VALID["motto"])
    assert page.locator(".field-errors li").count() == 0
    submit_and_wait(page)
    context.close()

    launch.stop_cleanly()
    db = open_database(None, mephisto_settings.sqlite_path)
    try:
        (agent,) = Agent.select().where(Agent.worker == Worker.get(Worker.name == "ada"))
        assert agent.status == AgentStatus.COMPLETED
        assert agent.outputs == VALID
        stored = {f.field: f for f in AgentFile.select().where(AgentFile.agent == agent)}
        assert sorted(stored) == ["avatar", "resume"]
        assert (stored["avatar"].name, stored["avatar"].content_type) == ("ada.png", "image/png")
        assert (mephisto_settings.data_dir / stored["avatar"].path).read_bytes() == PHOTO
        assert (stored["resume"].name, stored["resume"].content_type) == ("resume.pdf", "application/pdf")
        assert (mephisto_settings.data_dir / stored["resume"].path).read_bytes() == RESUME
    finally:
        db.close()


class Page:
    """A worker page speaking the protocol by hand over a real WebSocket (no browser, no page checks)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.next_id = 0

    @classmethod
    async def open(cls, base_url: str) -> Page:
        return cls(await connect("ws" + base_url[4:] + "ws"))

    async def request(self, **msg: Any) -> dict[str, Any]:
        self.next_id += 1
        await self.ws.send(json.dumps({**msg, "id": self.next_id}))
        return await self._answer()

    async def upload(self, upload_id: str, field: str, name: str, data: bytes) -> dict[str, Any]:
        self.next_id += 1
        header = {
            "type": "upload",
            "id": self.next_id,
            "upload_id": upload_id,
            "field": field,
            "name": name,
            "content_type": "application/octet-stream",
        }
        encoded = json.dumps(header).encode()
        await self.ws.send(len(encoded).to_bytes(4, "big") + encoded + data)
        return await self._answer()

    async def _answer(self) -> dict[str, Any]:
        while True:
            reply = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
            if reply.get("id") == self.next_id:
                return dict(reply)


def test_submission_that_skips_the_page_checks_is_refused_per_field_and_not_stored(
    form_task, start_launch, mephisto_settings
):
    # A short grace period: the closed page's unit is given back quickly, so the graceful stop does not wait.
    launch = start_launch(str(form_task), "architect.port=0", "task.disconnect_grace_seconds=0.5", "--no-panel")
    base = _base_url(launch.wait_for_link())
    bad = dict(
        VALID,
        name_first="A",
        email="ada at example.com",
        language=["en"],
        skills=["javascript", "cobol"],
        kids=None,
        avatar=["ada.png"],
        resume=[],
        injected="<script>",
    )

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        page = await Page.open(base)
        hello = await page.request(type="hello", params={"worker_id": "mallory"}, token=None)
        assert hello["type"] == "assigned"
        ack = await page.upload("upload-motto-01", "motto", "motto.png", PHOTO)
        assert ack["type"] == "upload_ack"
        refused = await page.request(
            type="submit", submit_key="mallory-key-1", outputs=bad, uploads=["upload-motto-01"]
        )
        fixed = await page.request(
            type="submit", submit_key="mallory-key-2", outputs=dict(VALID, avatar=[], resume=[]), uploads=[]
        )
        await page.ws.close()
        return refused, fixed

    refused, still_refused = asyncio.run(scenario())
    assert refused["type"] == "error" and refused["code"] == "invalid_submission"
    assert refused["fields"] == {
        "injected": "is not a field of this form",
        "motto": "a file was sent for a field that is not a file field",
        "name_first": "Value should be at least 2 characters long.",
        "email": "Enter an email address, such as name@example.org.",
        "language": "Should have at least 2 items selected.",
        "skills": "Choose from the options given.",
        "kids": "This field is required.",
        "avatar": "The files listed (ada.png) are not the files received (none); attach them again.",
    }
    assert still_refused["code"] == "invalid_submission"
    assert still_refused["fields"] == {"avatar": "This field is required."}

    launch.stop_cleanly()
    db = open_database(None, mephisto_settings.sqlite_path)
    try:
        (agent,) = Agent.select()
        assert agent.status != AgentStatus.COMPLETED
        assert agent.outputs is None and agent.submit_key is None
        assert AgentFile.select().count() == 0
        assert Unit.select().where(Unit.status == UnitStatus.COMPLETED).count() == 0
    finally:
        db.close()


def test_template_launch_with_three_simulated_workers_completes(form_task, start_launch, mephisto_settings):
    launch = start_launch(str(form_task), "architect.port=0", "--simulate", "3", "--no-panel")
    assert launch.wait(90) == 0, launch.output()
    assert "All 3 units are done" in launch.output()
    db = open_database(None, mephisto_settings.sqlite_path)
    try:
        assert [u.status for u in Unit.select()] == [UnitStatus.COMPLETED] * 3
        for agent in Agent.select():
            assert "@" in agent.outputs["email"]
            assert 2 <= len(agent.outputs["language"]) <= 3
            files = {f.field: f.name for f in AgentFile.select().where(AgentFile.agent == agent)}
            assert files["avatar"] == agent.outputs["avatar"][0]
    finally:
        db.close()
