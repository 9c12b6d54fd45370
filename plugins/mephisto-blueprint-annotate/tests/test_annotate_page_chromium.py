"""Every scheme type answered in Chromium through the real page (`mephisto launch` as a process): mouse span
selection, multi-label limits and text length checked as the worker goes, the stored answer exactly as expected."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from annotate_support import ALL_SCHEMES, ROWS
from playwright.sync_api import expect

from mephisto_core.testing.processes import run_mephisto

SELECT_SOUP = """() => {
  const text = document.querySelector("[data-scheme='aspects'] .span-text");
  const node = text.firstElementChild.firstChild;  // one text node: nothing marked yet
  const range = document.createRange();
  range.setStart(node, 5);  // "ou": the scheme snaps to whole words ("soup")
  range.setEnd(node, 7);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
  text.dispatchEvent(new MouseEvent("mouseup", { bubbles: true }));
}"""


def _error(page, scheme: str):
    return page.locator(f"[data-scheme='{scheme}'] .scheme-error")


def test_every_scheme_answered_in_the_page_is_stored(make_task, mephisto_launch, browser, mephisto_cli_env):
    task = make_task(ALL_SCHEMES, extra='instructions = "<p>Be <em>careful</em>.</p>"')
    launch = mephisto_launch(task, "--no-panel")
    parts = urlsplit(launch.wait_for_link())
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{parts.scheme}://{parts.netloc}/")  # no worker: the preview, every control disabled
    expect(page.locator(".preview-note")).to_be_visible(timeout=15_000)
    expect(page.locator("[data-scheme='aspects'] .span-text")).to_have_text(ROWS[0]["text"])
    expect(page.locator("button[data-value='pos']")).to_be_disabled()
    page.goto(f"{parts.scheme}://{parts.netloc}/?worker_id=carol")
    page.get_by_role("heading", name="Annotate <test>").wait_for(timeout=15_000)
    expect(page.locator(".instructions em")).to_have_text("careful")  # the researcher's HTML
    expect(page.locator(".progress")).to_have_text("1 of 2")

    page.locator("[data-scheme='sentiment'] button[data-value='neg']").click()
    page.keyboard.press("p")  # the shortcut replaces the choice
    expect(page.locator("[data-scheme='sentiment'] [aria-pressed=true]")).to_have_text("posp")
    for label in ("food", "staff", "price"):
        page.locator(f"[data-scheme='topics'] button[data-value='{label}']").click()
    expect(_error(page, "topics")).to_have_text("Choose at most 2.")
    page.locator("[data-scheme='topics'] button[data-value='price']").click()
    expect(_error(page, "topics")).to_have_text("")
    page.locator("input[name='likert-sure'][value='4']").check()
    slider = page.locator("[data-scheme='score'] input[type=range]")
    slider.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    expect(page.locator("[data-scheme='score'] output")).to_have_text("1.5")
    box = page.locator("[data-scheme='why'] textarea")
    box.fill("ok")
    expect(_error(page, "why")).to_have_text("Write at least 3 characters (now 2).")
    box.fill("okay")
    page.keyboard.press("g")  # typed in the text box: not a shortcut
    expect(box).to_have_value("okayg")
    page.evaluate(SELECT_SOUP)
    page.locator("[data-scheme='aspects'] button[data-value='bad']").click()
    expect(page.locator("[data-scheme='aspects'] mark")).to_have_text("soup")
    page.locator("input[name='pair-better'][value='tie']").check()
    page.locator("input[name='best-rank'][value='a']").check()
    page.locator("input[name='worst-rank'][value='id']").check()
    page.get_by_role("button", name="Submit").click()
    page.get_by_text("Your answer was submitted.").wait_for(timeout=15_000)
    context.close()
    launch.stop_cleanly()

    exported = run_mephisto("export", "--task", "annotate-test", env=mephisto_cli_env)
    assert exported.returncode == 0, exported.stderr
    (record,) = [json.loads(line) for line in exported.stdout.splitlines()]
    assert record["outputs"] == {
        "sentiment": "pos",
        "topics": ["food", "staff"],
        "sure": 4,
        "score": 1.5,
        "why": "okayg",
        "aspects": [{"start": 4, "end": 8, "label": "bad", "text": "soup"}],
        "better": "tie",
        "rank": {"best": "a", "worst": "id"},
    }
