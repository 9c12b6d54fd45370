"""Real Chromium on the static template: the page after a worker's work when the server is gone, and a submit
made while the server is unreachable (told to the worker, kept on the page, stored once the server is back)."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

from e2e_helpers import submit_and_wait

from mephisto_core.data_model import Agent, AgentStatus, Worker, open_database


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _fill(page, answer: str) -> None:
    page.locator("select[name=frequency]").select_option("weekly")
    page.locator("textarea[name=answer]").fill(answer)


def test_thanks_page_turns_into_an_end_page_without_a_link_when_the_server_exits(static_task, start_launch, browser):
    launch = start_launch(str(static_task), "architect.port=0", "--no-panel")
    parts = urlsplit(launch.wait_for_link())
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{parts.scheme}://{parts.netloc}/?worker_id=alice")
    assert page.locator('link[rel="icon"]').count() == 1  # a favicon
    _fill(page, "On the train to work, mostly.")
    submit_and_wait(page)
    assert page.evaluate("document.activeElement.textContent") == "Thank you"  # focus on what happened
    assert page.get_by_role("button", name="Do another unit").is_visible()

    launch.stop_cleanly()
    page.get_by_text("You are done").wait_for(timeout=15_000)
    assert "no more units" in page.locator("body").inner_text()
    assert page.locator("a, button").count() == 0  # nothing that leads to a server that is gone
    context.close()


def test_launch_ends_by_itself_at_once_when_the_last_unit_is_submitted_in_a_page_left_open(
    static_task, start_launch, browser
) -> None:
    # The page stays on its thanks page and says nothing more: the run ends once a channel round trip shows the
    # router had the answer (operations/run/late_answers.py), not after waiting for the page.
    data = static_task.parent / "data.csv"
    data.write_text(data.read_text().splitlines()[0] + "\nreading,Describe a place where you like to read.\n")
    launch = start_launch(str(static_task), "architect.port=0", "--no-panel")
    parts = urlsplit(launch.wait_for_link())
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{parts.scheme}://{parts.netloc}/?worker_id=alice")
    _fill(page, "At the kitchen table.")
    submit_and_wait(page)
    submitted = time.monotonic()
    assert launch.wait(30) == 0, launch.output()
    assert time.monotonic() - submitted < 5, launch.output()
    page.get_by_text("You are done").wait_for(timeout=15_000)
    context.close()


def test_submit_while_the_server_is_gone_is_kept_and_sent_when_it_returns(
    static_task, start_launch, browser, mephisto_settings
) -> None:
    port = _free_port()
    args = (str(static_task), f"architect.port={port}", "task.disconnect_grace_seconds=120", "--no-panel")
    first = start_launch(*args)
    parts = urlsplit(first.wait_for_link())
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{parts.scheme}://{parts.netloc}/?worker_id=bob")
    _fill(page, "Kept through the outage.")

    first.kill()  # the server vanishes (no clean-up): bob's unit stays his
    page.wait_for_function("window.mephisto.connected === false", timeout=15_000)
    page.get_by_role("button", name="Submit").click()
    status = page.locator(".task-status")
    status.get_by_text("The connection to the server is lost.").wait_for(timeout=5_000)
    text = status.inner_text()
    assert "Your answer is kept on this page (stored at " in text and "will be sent when the connection returns" in text

    second = start_launch(*args)  # the relaunch resumes the run on the same address
    second.wait_for_link()
    page.get_by_text("Your answer was submitted.").wait_for(timeout=40_000)
    second.stop_cleanly()
    context.close()

    db = open_database(None, mephisto_settings.sqlite_path)
    try:
        (agent,) = Agent.select().where(Agent.worker == Worker.get(Worker.name == "bob"))
        assert agent.status == AgentStatus.COMPLETED
        assert agent.outputs["answer"] == "Kept through the outage."
    finally:
        db.close()
