"""Live onboarding in real Chromium pages: the chat page shows the onboarding conversation; a worker who passes goes
on to the waiting room of a real unit, one who fails is told why."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Browser, Page, expect

ONBOARDING = """

async def onboarding(agent):
    agent.observe({"text": "Before you start: what is 2 + 2?"})
    answer = await agent.act(timeout=30)
    if answer.get("text") == "4":
        agent.pass_onboarding()
    else:
        agent.fail_onboarding("2 + 2 is 4.")
"""


def _answer(page: Page, url: str, text: str) -> None:
    page.goto(url)
    expect(page.locator(".chat-line.task", has_text="what is 2 + 2?")).to_be_visible(timeout=15_000)
    expect(page.locator("#chat-status")).to_have_text("Your turn: write your message.", timeout=15_000)
    page.locator("#chat-input").fill(text)
    page.get_by_role("button", name="Send").click()


def test_onboarding_conversation_then_waiting_room_or_refusal(
    mephisto_init: Callable[..., Path], start_launch, browser: Browser
):
    task = mephisto_init("chat", folder="chat")
    world = task.parent / "world.py"
    world.write_text(world.read_text() + ONBOARDING)
    launch = start_launch(str(task), "architect.port=0", "blueprint.num_assignments=1")
    parts = urlsplit(launch.wait_for_link())
    base = f"{parts.scheme}://{parts.netloc}/"
    alice, carol = browser.new_context().new_page(), browser.new_context().new_page()
    _answer(alice, f"{base}?worker_id=alice", "4")
    expect(alice.locator(".chat-line.mine", has_text="4")).to_be_visible(timeout=15_000)
    # Passed: the page asks for a real unit on its own and lands in the waiting room.
    expect(alice.locator("#chat-status")).to_have_text("Waiting for partners: 1 of 2 here.", timeout=15_000)
    expect(alice.locator(".chat-line")).to_have_count(0)
    _answer(carol, f"{base}?worker_id=carol", "5")
    expect(carol.locator("#chat-status")).to_have_text(
        "You did not pass the introduction, so this task is not open to you. 2 + 2 is 4.", timeout=15_000
    )
    expect(carol.locator("#chat-form")).to_be_hidden()
    carol.reload()  # a reload is refused by the pool with its onboarding message
    expect(carol.get_by_text("You did not pass the qualification test of this task")).to_be_visible(timeout=15_000)
