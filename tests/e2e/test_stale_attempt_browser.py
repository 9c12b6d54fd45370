"""Real Chromium on the static template: a page whose unit is gone says so, offers the next unit and draws it with
its own data; a page whose time runs out says so even when no server message can reach it."""

from __future__ import annotations

import csv
from typing import Any
from urllib.parse import urlsplit

from e2e_helpers import submit_and_wait

from mephisto_core.data_model import Agent, AgentStatus, open_database

# Records the page's sockets, and refuses new ones while `__offline` is set: the page's network is down.
SOCKET_SWITCH = """
window.__sockets = [];
window.__offline = false;
const RealSocket = window.WebSocket;
window.WebSocket = class extends RealSocket {
  constructor(...args) {
    if (window.__offline) { throw new Error("offline"); }
    super(...args);
    window.__sockets.push(this);
  }
};
"""
GO_OFFLINE = "() => { window.__offline = true; window.__sockets.forEach((s) => s.close()); }"


def prompts(static_task: Any) -> dict[str, str]:
    with (static_task.parent / "data.csv").open() as fh:
        return {row["topic"]: row["prompt"] for row in csv.DictReader(fh)}


def shown_topic(page: Any) -> str:
    return str(page.locator("input[name=topic]").input_value())


def worker_page(browser: Any, base: str, name: str) -> Any:
    context = browser.new_context()
    context.add_init_script(SOCKET_SWITCH)
    page = context.new_page()
    page.goto(f"{base}?worker_id={name}")
    page.locator("textarea[name=answer]").wait_for(timeout=15_000)
    return page


def test_page_back_after_its_unit_was_released_says_so_and_draws_the_next_unit(
    static_task, start_launch, browser, mephisto_settings
):
    launch = start_launch(str(static_task), "architect.port=0", "task.disconnect_grace_seconds=1", "--no-panel")
    parts = urlsplit(launch.wait_for_link())
    base = f"{parts.scheme}://{parts.netloc}/"
    rows = prompts(static_task)

    alice = worker_page(browser, base, "alice")
    first_topic, first_agent = shown_topic(alice), alice.evaluate("() => mephisto.agentId")
    assert rows[first_topic] in alice.inner_text("body")
    alice.locator("textarea[name=answer]").fill(f"my answer about {first_topic}")
    alice.evaluate(GO_OFFLINE)
    # Away longer than the grace period: the unit goes back to the pool, and bob takes a unit meanwhile.
    alice.wait_for_timeout(3_000)
    bob = worker_page(browser, base, "bob")
    bob_topic = shown_topic(bob)
    alice.evaluate("() => { window.__offline = false; }")
    # The page reconnects with its old token: it is told the unit is gone, never handed another one silently.
    alice.get_by_text("This unit is no longer yours").wait_for(timeout=20_000)
    assert "disconnected for too long" in alice.inner_text("body")
    assert alice.locator("textarea[name=answer]").count() == 0
    # The worker asks for the next unit: the page draws it with that unit's own data.
    alice.get_by_role("button", name="Take the next unit").click()
    alice.locator("textarea[name=answer]").wait_for(timeout=15_000)
    second_topic, second_agent = shown_topic(alice), alice.evaluate("() => mephisto.agentId")
    assert second_agent != first_agent and second_topic != bob_topic
    assert rows[second_topic] in alice.inner_text("body")
    alice.locator("select[name=frequency]").select_option("weekly")
    alice.locator("textarea[name=answer]").fill(f"my answer about {second_topic}")
    submit_and_wait(alice)

    launch.stop_now()
    launch.wait(30)
    db = open_database(None, mephisto_settings.sqlite_path)
    try:
        (stored,) = Agent.select().where(Agent.outputs.is_null(False))
        # The answer is stored on the unit whose data the page showed when it was written.
        assert stored.id == second_agent and stored.assignment.inputs["topic"] == second_topic
        assert stored.outputs["answer"] == f"my answer about {second_topic}"
        assert Agent.get_by_id(first_agent).status == AgentStatus.DISCONNECTED
    finally:
        db.close()


def test_page_shows_that_the_time_ran_out_even_when_no_server_message_reaches_it(
    static_task, start_launch, browser, mephisto_settings
):
    launch = start_launch(str(static_task), "architect.port=0", "task.assignment_duration_seconds=4", "--no-panel")
    parts = urlsplit(launch.wait_for_link())
    page = worker_page(browser, f"{parts.scheme}://{parts.netloc}/", "carol")
    deadline_in = page.evaluate("() => mephisto.deadline - Date.now()")
    assert 0 < deadline_in <= 4_000
    page.evaluate(GO_OFFLINE)  # the operator's timed_out push cannot arrive: the page's own clock tells
    page.get_by_text("Your time for this unit is up").wait_for(timeout=15_000)
    assert "Your answer was not stored" in page.inner_text("body")
    assert page.get_by_role("button", name="Take the next unit").is_visible()
    launch.stop_now()
    launch.wait(30)
