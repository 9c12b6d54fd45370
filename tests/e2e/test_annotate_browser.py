"""The annotate template end to end in Chromium: `mephisto init --template annotate`, `mephisto launch` as a real
process, two workers annotating one review entirely by keyboard (label shortcuts, Shift+arrows to select a span,
arrow keys on the Likert scale, Ctrl+Enter), a raw submit from the page's JS that skips the page's check and is
refused by the server, then the export's columns and span agreement, and the review app showing the spans.

MEPHISTO_DOCS_SCREENSHOTS=1 writes docs/images/annotate-task.png and annotate-review.png.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from e2e_helpers import review_app_page
from playwright.sync_api import Page, expect

from mephisto_core.testing.processes import run_mephisto

REPO = Path(__file__).resolve().parents[2]
FIRST_REVIEW = "Boils fast and looks great, but the lid is flimsy."


def _focus(page: Page, selector: str) -> None:
    """Press Tab until the focused element matches `selector` (the way a keyboard user gets there)."""
    for _ in range(20):
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


def _annotate_by_keyboard(page: Page, sentiment_key: str, skip: int, length: int, span_key: str, points: int) -> None:
    page.keyboard.press(sentiment_key)
    _focus(page, ".span-text")
    for _ in range(skip):
        page.keyboard.press("ArrowRight")
    for _ in range(length):
        page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press(span_key)
    _focus(page, "input[name='likert-confidence']")
    page.keyboard.press("Space")  # the first point
    for _ in range(points - 1):
        page.keyboard.press("ArrowRight")


def test_annotate_by_keyboard_server_refuses_bypass_and_export_agrees(
    mephisto_init, mephisto_launch, mephisto_review, browser, mephisto_cli_env, tmp_path
):
    screenshots = os.environ.get("MEPHISTO_DOCS_SCREENSHOTS") == "1"
    task = mephisto_init("annotate", folder="sentiment")
    launch = mephisto_launch(task, "architect.port=0", "--no-panel")
    parts = urlsplit(launch.wait_for_link())
    base = f"{parts.scheme}://{parts.netloc}/"

    pages: dict[str, Any] = {}
    for name in ("alice", "bob"):
        context = browser.new_context(viewport={"width": 1000, "height": 900})
        page = context.new_page()
        page.goto(f"{base}?worker_id={name}")
        page.get_by_role("heading", name="Sentiment of product reviews").wait_for(timeout=15_000)
        pages[name] = page
    alice, bob = pages["alice"], pages["bob"]
    for page in (alice, bob):
        expect(page.locator(".span-text")).to_have_text(FIRST_REVIEW)  # both hold a unit of the first review
        expect(page.locator(".progress")).to_have_text("1 of 4")
        expect(page.locator("button[data-value='positive'] kbd")).to_have_text("p")  # the shortcut, shown

    # The page's own check: nothing answered yet, Ctrl+Enter names the two required questions.
    bob.keyboard.press("Control+Enter")
    expect(bob.locator(".task-status")).to_have_text("2 answers need fixing before you can submit.")
    # Skipping the page: a raw submit from its JS is refused by the server, per scheme.
    refused = bob.evaluate(
        """() => window.mephisto.handleSubmit(
            {sentiment: "great", opinions: [{start: 0, end: 5, label: "good", text: "BOILS"}], confidence: 9}, {}
        ).then(() => null, (e) => e.fields)"""
    )
    assert refused == {
        "sentiment": "Choose one of: positive, neutral, negative.",
        "opinions": "Span 1 does not match the text.",
        "confidence": "Choose a point from 1 to 5.",
    }

    # alice: positive, "fast" (6..10) good, 4 of 5. bob: positive, "fast and" (6..14) good, 5 of 5.
    _annotate_by_keyboard(alice, "p", 6, 4, "g", 4)
    expect(alice.locator(".span-text mark")).to_have_text("fast")
    expect(alice.locator(".span-list li")).to_contain_text("good: \u201cfast\u201d")
    if screenshots:
        alice.screenshot(path=str(REPO / "docs" / "images" / "annotate-task.png"), full_page=True)
    _annotate_by_keyboard(bob, "p", 6, 8, "g", 5)
    # Overlap is not allowed in the template: marking "and" again as bad is refused in the page.
    _focus(bob, ".span-text")
    for _ in range(3):
        bob.keyboard.press("Shift+ArrowLeft")
    bob.keyboard.press("b")
    expect(bob.locator("[data-scheme='opinions'] .scheme-error")).to_have_text(
        "Spans may not overlap here; remove one of the overlapping spans."
    )
    expect(bob.locator(".span-list li")).to_have_count(1)
    for page in (alice, bob):
        page.keyboard.press("Control+Enter")
        page.get_by_text("Your answer was submitted.").wait_for(timeout=15_000)
    launch.stop_cleanly()

    exported = run_mephisto("export", "--task", "sentiment", "--format", "csv", env=mephisto_cli_env)
    assert exported.returncode == 0, exported.stderr
    rows = {row["worker_id"]: row for row in csv.DictReader(io.StringIO(exported.stdout))}
    assert rows["alice"]["outputs.sentiment"] == "positive" and rows["alice"]["outputs.confidence"] == "4"
    assert json.loads(rows["alice"]["outputs.opinions"]) == [{"start": 6, "end": 10, "label": "good", "text": "fast"}]
    assert json.loads(rows["bob"]["outputs.opinions"]) == [{"start": 6, "end": 14, "label": "good", "text": "fast and"}]
    assert rows["bob"]["outputs.confidence"] == "5"

    agreement = run_mephisto("export", "--task", "sentiment", "--agreement", "--format", "json", env=mephisto_cli_env)
    assert agreement.returncode == 0, agreement.stderr
    numbers = json.loads(agreement.stdout)
    # Characters: 2*4/(4+8) = 66.7 %; tokens: {fast} vs {fast, and}: 2*1/3 = 66.7 %; no equal span: 0 %.
    assert abs(numbers["opinions"]["percent"] - 200 / 3) < 1e-9
    assert abs(numbers["opinions"]["token_percent"] - 200 / 3) < 1e-9
    assert numbers["opinions"]["exact_percent"] == 0.0
    assert numbers["sentiment"]["percent"] == 100.0
    assert numbers["confidence"]["mean_absolute_difference"] == 1.0

    with review_app_page(browser, mephisto_review().wait_for_link(), width=1100, height=800) as page:
        page.get_by_text("The answer as the task page shows it").click(timeout=15_000)  # review_html, in a frame
        frame = page.frame_locator(".review-frame")
        expect(frame.locator(".mephisto-annotate-review mark").first).to_contain_text("fast", timeout=15_000)
        expect(frame.locator(".mephisto-annotate-review .chip").first).to_have_text("positive")
        page.locator("#task-view").scroll_into_view_if_needed()
        if screenshots:
            page.screenshot(path=str(REPO / "docs" / "images" / "annotate-review.png"))
