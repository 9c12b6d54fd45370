"""Real Chromium through the static template: two workers fill the form, upload a photo and submit; the database
then holds both answers and the files byte for byte."""

from __future__ import annotations

import zlib
from urllib.parse import urlsplit

import pytest
from e2e_helpers import mephisto, submit_and_wait

from mephisto_core.data_model import Agent, AgentFile, AgentStatus, Unit, UnitStatus, Worker, open_database


def _png(seed: int) -> bytes:
    """A tiny valid PNG whose bytes differ per seed."""
    raw = b"\x00" + bytes([seed % 256, 40, 200])

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    header = (1).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


ANSWERS = {
    "alice": {
        "frequency": "weekly",
        "answer": "I read in the park by the lake on Sundays.",
        "may_quote": True,
    },
    "bob": {
        "frequency": "rarely",
        "answer": "A quiet corner of the library with big windows.",
        "may_quote": False,
    },
}


@pytest.mark.parametrize("routers", [1, 3], ids=["one-router", "three-routers-on-the-port"])
def test_two_workers_submit_the_static_template_in_chromium(
    static_task, start_launch, browser, mephisto_settings, routers
):
    # With three routers the page, its script, its socket and its upload reach whichever router the kernel picks.
    launch = start_launch(str(static_task), "architect.port=0", f"architect.router_processes={routers}", "--no-panel")
    parts = urlsplit(launch.wait_for_link())
    base = f"{parts.scheme}://{parts.netloc}/"
    photos = {name: _png(i) for i, name in enumerate(ANSWERS)}

    for name, answer in ANSWERS.items():
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{base}?worker_id={name}")
        page.locator("select[name=frequency]").select_option(answer["frequency"])
        page.locator("textarea[name=answer]").fill(answer["answer"])
        if answer["may_quote"]:
            page.locator("input[name=may_quote]").check()
        page.locator("input[name=photo]").set_input_files(
            files=[{"name": f"{name}.png", "mimeType": "image/png", "buffer": photos[name]}]
        )
        submit_and_wait(page)
        context.close()

    launch.interrupt()  # graceful stop: the two units left nobody took are withdrawn
    assert launch.wait(30) == 0, launch.output()

    db = open_database(None, mephisto_settings.sqlite_path)
    try:
        for name, answer in ANSWERS.items():
            worker = Worker.get(Worker.name == name)
            (agent,) = Agent.select().where(Agent.worker == worker)
            assert agent.status == AgentStatus.COMPLETED
            outputs = agent.outputs
            assert outputs["frequency"] == answer["frequency"]
            assert outputs["answer"] == answer["answer"]
            assert outputs["may_quote"] is answer["may_quote"]
            assert outputs["topic"] == agent.assignment.inputs["topic"]
            (stored,) = AgentFile.select().where(AgentFile.agent == agent)
            assert (stored.field, stored.name, stored.content_type) == ("photo", f"{name}.png", "image/png")
            assert (mephisto_settings.data_dir / stored.path).read_bytes() == photos[name]
        statuses = sorted(u.status for u in Unit.select())
        assert statuses == [UnitStatus.COMPLETED] * 2 + [UnitStatus.EXPIRED] * 2
    finally:
        db.close()


def test_blocked_worker_sees_a_refusal_page_in_words(static_task, start_launch, browser, cli_env):
    launch = start_launch(str(static_task), "architect.port=0", "--no-panel")
    parts = urlsplit(launch.wait_for_link())
    link = f"{parts.scheme}://{parts.netloc}/?worker_id=mallory"
    context = browser.new_context()
    page = context.new_page()
    page.goto(link)
    page.locator("select[name=frequency]").wait_for()  # mallory got a unit
    blocked = mephisto("workers", "block", "mallory", "--reason", "copied answers", env=cli_env)
    assert blocked.returncode == 0, blocked.stderr
    page.reload()
    page.get_by_text("You can no longer work on this task.").wait_for(timeout=15_000)
    assert page.locator("select[name=frequency]").count() == 0
    context.close()
    launch.stop_cleanly()
    assert "refusals: blocked 1" in launch.output()
