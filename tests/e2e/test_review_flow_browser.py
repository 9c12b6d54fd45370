"""Real Chromium on the review app: answers drawn as a readable summary (a ticked box and an unticked one told
apart, chosen options, an image thumbnail, text with its line breaks), approve -> the next unit opens with an
Undo, the header counts follow, and a reload keeps the task, filters and open unit.

With MEPHISTO_SCREENSHOTS_DIR set, the test also saves the screenshots used in docs/review.md there.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from mephisto_core.data_model import AgentFile, Database, Unit, open_database
from mephisto_core.review_app import ReviewApp, ReviewServer
from mephisto_core.settings import Settings

ANSWERS = [
    {"answer": "First line\nSecond line", "may_quote": True, "topics": ["birds", "trees"], "frequency": "weekly"},
    {"answer": "Short.", "may_quote": False, "topics": [], "frequency": "rarely"},
    {"answer": "Third.", "may_quote": True, "topics": ["rivers"], "frequency": "daily"},
]


#: an <img>'s natural width once it has loaded (0 if it fails to)
LOADED_WIDTH = """img => img.complete ? img.naturalWidth : new Promise((resolve) => {
    img.addEventListener("load", () => resolve(img.naturalWidth), { once: true });
    img.addEventListener("error", () => resolve(0), { once: true });
})"""


def _png() -> bytes:
    """A valid 120x80 PNG (a blue-green gradient), large enough to see as a thumbnail."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    header = (120).to_bytes(4, "big") + (80).to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    rows = b"".join(b"\x00" + b"".join(bytes([30, 60 + x, 120 + y]) for x in range(120)) for y in range(80))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@pytest.fixture
def review_link(make_submitted_run, mephisto_rows_database: Database, mephisto_settings: Settings) -> Iterator[str]:
    """Three submitted units of a static task (the first with an uploaded photo) served by a real review app."""
    made = make_submitted_run(
        3, outputs=lambda i: ANSWERS[i], inputs=lambda i: {"topic": f"topic {i}"}, task_name="study"
    )
    photo = _png()
    relative = Path("files") / "uploads" / "u0" / "file" / "photo.png"
    (mephisto_settings.data_dir / relative).parent.mkdir(parents=True)
    (mephisto_settings.data_dir / relative).write_bytes(photo)
    with mephisto_rows_database.write():
        AgentFile.create(
            agent=made.agents[0],
            field="photo",
            name="photo.png",
            size=len(photo),
            content_type="image/png",
            sha256=hashlib.sha256(photo).hexdigest(),
            path=str(relative),
        )
    server = ReviewServer(ReviewApp(mephisto_settings, mephisto_rows_database, undo_seconds=2), "127.0.0.1", 0)
    server.start()
    try:
        yield server.url
    finally:
        server.shutdown()


def _shot(page: Page, name: str, top: str = "submission-heading") -> None:
    folder = os.environ.get("MEPHISTO_SCREENSHOTS_DIR")
    if folder:
        page.evaluate("id => document.getElementById(id).scrollIntoView()", top)
        page.screenshot(path=str(Path(folder) / name), full_page=False)


def test_summary_next_unit_undo_counts_and_address(review_link: str, browser: Browser, mephisto_rows_database) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.goto(review_link)
    expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=15_000)
    first, second, third = [u.id for u in Unit.select().order_by(Unit.id)]
    expect(page.locator("#unit-heading")).to_contain_text(f"Unit {first}")

    # The summary: label -> answer, ticked and unticked told apart, options highlighted, a thumbnail, line breaks.
    answers = page.locator("#answers")
    expect(answers.locator('dd[data-field="may_quote"]')).to_have_text("☑ Yes (ticked)")
    expect(answers.locator("dt").first).to_have_text("Answer")
    text = answers.locator('dd[data-field="answer"] .answer-text')
    expect(text).to_have_css("white-space", "pre-wrap")
    assert text.inner_text() == "First line\nSecond line"
    chosen = answers.locator('dd[data-field="topics"] .choice')
    expect(chosen).to_have_text(["birds", "trees"])
    thumb = answers.locator('dd[data-field="photo"] img.thumb')
    expect(thumb).to_be_visible()
    # The image itself, served by the app: once it has loaded (visible comes first: its box is sized by the style).
    assert thumb.evaluate(LOADED_WIDTH) == 120
    # The raw view is one click away.
    page.locator("#task-view summary").click()
    expect(page.locator("#task-view table")).to_be_visible()
    _shot(page, "review-summary.png")
    expect(page.locator("#task-counts")).to_contain_text("3 completed (awaiting review), 0 accepted")

    # Approve: the next unit opens at once, with an Undo; undone, nothing is sent and the unit opens again.
    page.keyboard.press("a")
    expect(page.locator("#unit-heading")).to_contain_text(f"Unit {second}")
    expect(page.locator('dd[data-field="may_quote"]')).to_have_text("☐ No (not ticked)")
    expect(page.locator("#status-message")).to_contain_text(f"Unit {first} will be approved in 2 s.")
    _shot(page, "review-undo.png")
    page.get_by_role("button", name="Undo").click()
    expect(page.locator("#status-message")).to_have_text(f"Undone: unit {first} was not approved.")
    expect(page.locator("#unit-heading")).to_contain_text(f"Unit {first}")
    page.wait_for_timeout(2500)
    assert Unit.get_by_id(first).status == "completed"

    # Approve for real: sent after the undo time, the message stays, the header counts follow.
    page.keyboard.press("a")
    expect(page.locator("#status-message")).to_have_text(f"Unit {first} approved.", timeout=10_000)
    expect(page.locator("#task-counts")).to_contain_text("2 completed (awaiting review), 1 accepted")
    expect(page.locator(f'tr[data-unit="{first}"] .badge')).to_have_text("accepted")
    assert Unit.get_by_id(first).status == "accepted"

    # One unit, not "1 units".
    page.keyboard.press("x")
    expect(page.locator("#bulk-heading")).to_have_text("1 unit selected")
    page.keyboard.press("x")

    # The task, the status filter and the open unit survive a reload.
    page.locator("#filter-status").select_option("")
    page.get_by_role("button", name=f"Open unit {third}").click()
    expect(page.locator("#unit-heading")).to_contain_text(f"Unit {third}")
    assert f"unit={third}" in page.url and "status=&" in page.url + "&"
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=15_000)
    expect(page.locator("#unit-heading")).to_contain_text(f"Unit {third}")
    expect(page.locator("#filter-status")).to_have_value("")
    expect(page.locator("#unit-count")).to_have_text("3 units match.")

    # A verdict still in its undo time is sent when the page is left.
    page.keyboard.press("a")
    expect(page.locator("#status-message")).to_contain_text(f"Unit {third} will be approved")
    page.goto("about:blank")
    for _ in range(100):
        if Unit.get_by_id(third).status == "accepted":
            break
        page.wait_for_timeout(50)
    assert Unit.get_by_id(third).status == "accepted"
    context.close()


def test_the_first_page_is_asked_for_beside_the_task_and_an_address_naming_a_stranger_is_asked_again(
    review_link: str, browser: Browser
) -> None:
    units = list(Unit.select().order_by(Unit.id))
    task_id, run_id, worker_id = units[0].task_id, units[0].task_run_id, units[1].worker_id
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    events: list[str] = []
    page.on("request", lambda request: events.append("asked " + request.url.split("/", 3)[3]))
    page.on("requestfinished", lambda request: events.append("answered " + request.url.split("/", 3)[3]))

    def api_events() -> list[str]:
        return [event.split("?")[0] for event in events if " api/" in event]

    # An address naming the task, its run and one of its workers: the units' page is asked for before the task's
    # detail is answered, once, with those filters.
    page.goto(f"{review_link}&task={task_id}&status=&run={run_id}&worker={worker_id}")
    expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=15_000)
    expect(page.locator("#unit-heading")).to_contain_text(f"Unit {units[1].id}")
    expect(page.locator("#unit-count")).to_have_text("1 unit matches.")
    expect(page.locator("#filter-worker")).to_have_value(str(worker_id))
    asked = api_events()
    assert asked.index("asked api/units") < asked.index(f"answered api/tasks/{task_id}"), asked
    assert asked.index("asked api/tasks") < asked.index("answered api/session"), asked
    unit_pages = [event for event in events if event.startswith("asked api/units?")]
    assert len(unit_pages) == 1 and f"worker={worker_id}" in unit_pages[0], unit_pages

    # A worker the task does not have: the filter falls back to every worker, and that page is asked for.
    events.clear()
    page.goto(f"{review_link}&task={task_id}&status=&worker=999999")
    expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=15_000)
    expect(page.locator("#unit-count")).to_have_text("3 units match.")
    expect(page.locator("#filter-worker")).to_have_value("")
    unit_pages = [event for event in events if event.startswith("asked api/units?")]
    assert len(unit_pages) == 2 and "worker=999999" in unit_pages[0] and "worker" not in unit_pages[1], unit_pages
    assert "worker=" not in page.url
    context.close()


def test_form_answers_read_well_in_the_summary_and_in_the_form_view(
    mephisto_init, mephisto_launch, mephisto_settings: Settings, browser: Browser
) -> None:
    task_file = mephisto_init("form")
    launch = mephisto_launch(str(task_file), "architect.port=0", "--simulate", "1", "--no-panel")
    assert launch.wait(90) == 0, launch.output()
    database = open_database(None, mephisto_settings.sqlite_path)
    server = ReviewServer(ReviewApp(mephisto_settings, database), "127.0.0.1", 0)
    server.start()
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    try:
        page = context.new_page()
        page.goto(server.url)
        expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=15_000)
        expect(page.locator("#answers")).to_be_visible()
        # The form's checkbox group is a list of the values chosen: highlighted chips in the summary.
        expect(page.locator('#answers dd[data-kind="choices"]').first).to_be_visible()
        # Labels come from the form's definition, not the field names.
        expect(page.locator("#answers dt").first).to_have_text("First name")
        _shot(page, "review-form-summary.png")
        page.locator("#task-view summary").click()
        frame = page.frame_locator("#task-view iframe")
        checked = frame.locator("label:has(input[type=checkbox]:checked)").first
        unchecked = frame.locator("label:has(input[type=checkbox]:not(:checked))").first
        style = (
            "el => [getComputedStyle(el).backgroundColor, getComputedStyle(el).fontWeight, getComputedStyle(el).color]"
        )
        ticked_look, unticked_look = checked.evaluate(style), unchecked.evaluate(style)
        assert ticked_look != unticked_look  # a ticked box's option and an unticked one's look different
        assert ticked_look[0] == "rgb(219, 232, 255)" and ticked_look[1] == "600"
        assert frame.locator("body").evaluate("b => getComputedStyle(b).fontFamily").startswith("system-ui")
        _shot(page, "review-form-view.png", top="task-view")
    finally:
        context.close()
        server.shutdown()
        database.close()
