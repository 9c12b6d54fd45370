"""Two real Chromium pages chat through a live task made by `mephisto init --template chat`: the waiting room, turns,
typing, a partner who drops mid-episode and comes back to the conversation so far, the end of the episode; then the
conversation is in `mephisto export` and in the review app's chat view."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from e2e_helpers import review_app_page
from playwright.sync_api import Browser, Page, expect

from mephisto_core.testing.processes import run_mephisto


def _say(page: Page, text: str) -> None:
    expect(page.locator("#chat-status")).to_have_text("Your turn: write your message.", timeout=15_000)
    page.locator("#chat-input").fill(text)
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".chat-line.mine", has_text=text)).to_be_visible(timeout=15_000)  # stored, then shown


def test_two_pages_chat_survive_a_drop_and_the_chat_is_exported_and_reviewed(
    mephisto_init: Callable[..., Path], start_launch, mephisto_review, browser: Browser, cli_env
):
    task = mephisto_init("chat", folder="chat")
    launch = start_launch(
        str(task), "architect.port=0", "blueprint.num_assignments=1", "blueprint.on_partner_disconnect=wait:30"
    )
    parts = urlsplit(launch.wait_for_link())
    base = f"{parts.scheme}://{parts.netloc}/"
    alice_context, bob_context = browser.new_context(), browser.new_context()
    alice, bob = alice_context.new_page(), bob_context.new_page()
    try:
        alice.goto(f"{base}?worker_id=alice")
        expect(alice.locator("#chat-status")).to_have_text("Waiting for partners: 1 of 2 here.", timeout=15_000)
        expect(alice.get_by_role("heading", name="Chat with another person")).to_be_visible()
        bob.goto(f"{base}?worker_id=bob")
        expect(bob.locator(".chat-line.task", has_text="Welcome, Worker 2")).to_be_visible(timeout=15_000)
        expect(bob.locator("#chat-input")).to_be_disabled()  # not bob's turn yet

        _say(alice, "Hello, I am reading Dune.")
        expect(bob.locator(".chat-line", has_text="Hello, I am reading Dune.")).to_contain_text("Worker 1")
        bob.locator("#chat-input").press_sequentially("Nice")
        expect(alice.locator("#chat-status")).to_have_text("Worker 2 is typing…", timeout=15_000)
        bob.locator("#chat-input").fill("")
        _say(bob, "Nice, I love that book.")

        # Alice's page goes away mid-episode; bob is told and the episode waits; she comes back in the same tab.
        alice.goto("about:blank")
        expect(bob.locator("#chat-status")).to_contain_text("Worker 1 lost the connection", timeout=15_000)
        alice.goto(f"{base}?worker_id=alice")
        expect(alice.locator(".chat-line", has_text="Nice, I love that book.")).to_be_visible(timeout=15_000)
        expect(alice.locator(".chat-line.mine", has_text="Hello, I am reading Dune.")).to_be_visible()
        expect(bob.locator("#chat-status")).to_have_text("Worker 1 is back.", timeout=15_000)

        _say(alice, "Who is your favourite character?")
        _say(bob, "Stilgar.")
        for page in (alice, bob):
            expect(page.locator("#chat-status")).to_have_text("The conversation is over. Thank you!", timeout=15_000)
            expect(page.locator("#chat-form")).to_be_hidden()
    finally:
        alice_context.close()
        bob_context.close()
    assert launch.wait(30) == 0, launch.output()  # its one conversation done, the run ends by itself
    assert "All 2 units are done." in launch.output()

    exported = run_mephisto("export", "--task", "chat", env=cli_env)
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert len(rows) == 2 and {r["status"] for r in rows} == {"completed"}
    said = [(line["sender"], line["data"]["text"]) for line in rows[0]["outputs"]["transcript"] if line["sender"]]
    assert said == [
        ("Worker 1", "Hello, I am reading Dune."),
        ("Worker 2", "Nice, I love that book."),
        ("Worker 1", "Who is your favourite character?"),
        ("Worker 2", "Stilgar."),
    ]

    with review_app_page(browser, mephisto_review().wait_for_link()) as page:
        page.get_by_role("button", name=re.compile(r"Open unit \d+")).first.click()
        chat = page.frame_locator("iframe.review-frame")
        expect(chat.locator(".live-line", has_text="Stilgar.")).to_contain_text("Worker 2")
        expect(chat.locator(".live-line.task").first).to_contain_text("Task → Worker 1")
