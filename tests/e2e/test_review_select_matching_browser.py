"""Real Chromium through `mephisto review`: every unit that matches the filters is selected from the first page
("Select all N units that match"), and one bulk approve decides them all, sent in parts of the server's largest
bulk (500), more than a page and more than one part."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from e2e_helpers import ReviewProcess, review_app_page
from playwright.sync_api import expect

from mephisto_core.data_model import Review, Unit, UnitStatus, open_database
from mephisto_core.settings import Settings
from mephisto_core.testing import create_submitted_run

UNITS = 520  # more than the server's largest bulk (500), so the page sends two parts


def test_every_matching_unit_is_selected_and_approved_in_parts(
    browser: Any, mephisto_settings: Settings, mephisto_review: Callable[..., ReviewProcess]
) -> None:
    database = open_database(None, mephisto_settings.sqlite_path)
    try:
        create_submitted_run(database, UNITS, provider_type="mock", task_name="big")
    finally:
        database.close()

    link = mephisto_review("--task", "big", "--undo-seconds", "0").wait_for_link()
    with review_app_page(browser, link) as page:
        expect(page.locator("#unit-count")).to_have_text(f"{UNITS} units match.")
        expect(page.locator("#bulk-matching")).to_be_hidden()
        page.locator("#select-all").check()
        expect(page.locator("#bulk-count")).to_have_text("50")
        page.get_by_role("button", name=f"Select all {UNITS} units that match these filters").click()
        expect(page.locator("#bulk-count")).to_have_text(str(UNITS))
        expect(page.locator("#bulk-matching")).to_be_hidden()
        page.locator("#bulk-action").select_option("approve")
        page.locator("#bulk-apply").click()
        expect(page.locator("#status-message")).to_have_text(f"approve: {UNITS} done, 0 refused.", timeout=60_000)
        expect(page.locator("#unit-count")).to_have_text("No unit matches.")  # the list shows those awaiting review
        # The header counts again at once, as after a single verdict (not at its next 15 s refresh).
        expect(page.locator("#task-counts")).to_have_text(
            f"{UNITS} submitted: 0 completed (awaiting review), {UNITS} accepted, 0 rejected, 0 soft-rejected",
            timeout=5_000,
        )

    database = open_database(None, mephisto_settings.sqlite_path)
    try:
        assert {u.status for u in Unit.select()} == {UnitStatus.ACCEPTED.value}
        assert Review.select().where(Review.kind == "approve").count() == UNITS
    finally:
        database.close()
