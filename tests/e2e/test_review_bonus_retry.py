"""Real Chromium through `mephisto review`: the answer to a bonus is lost after the server paid it (the page sees a
network error), the reviewer presses Pay bonus again on the same form, and the worker is paid once: the page sent
the same client key both times, and the payments ledger found it paid."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from e2e_helpers import ReviewProcess
from playwright.sync_api import Route, expect

from mephisto_core.data_model import Task, Unit, open_database
from mephisto_core.data_model.payments import Payment
from mephisto_core.settings import Settings


def test_a_bonus_whose_answer_was_lost_is_paid_once_when_pressed_again(
    static_task: Path,
    start_launch: Any,
    browser: Any,
    mephisto_settings: Settings,
    mephisto_review: Callable[..., ReviewProcess],
) -> None:
    launch = start_launch(str(static_task), "architect.port=0", "--simulate", "2", "--no-panel")
    assert launch.wait(90) == 0, launch.output()
    database = open_database(None, mephisto_settings.sqlite_path)
    try:
        first = Unit.select().join(Task).where(Task.name == static_task.parent.name).order_by(Unit.id).first().id
    finally:
        database.close()

    link = mephisto_review().wait_for_link()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        sent: list[dict[str, Any]] = []

        def lose_the_first_answer(route: Route) -> None:
            sent.append(route.request.post_data_json)
            if len(sent) == 1:
                route.fetch()  # the server pays...
                route.abort("connectionreset")  # ...and its answer never reaches the page
            else:
                route.continue_()

        page.route("**/api/units/*/bonus", lose_the_first_answer)
        page.goto(link)
        expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=15_000)
        with page.expect_response(re.compile(rf"/api/units/{first}$")):
            page.get_by_role("button", name=f"Open unit {first}").click()
        expect(page.locator("#unit-heading")).to_contain_text(f"Unit {first}")
        page.get_by_label("Amount", exact=True).fill("0.70")
        page.get_by_label("Reason (the worker sees it)", exact=True).fill("Thorough")
        page.get_by_role("button", name="Pay bonus").click()
        expect(page.locator("#error-message")).to_contain_text("The review server did not answer")
        # The unit is drawn again before the reviewer tries again (they reopen it, or a late answer arrives): what
        # they typed stays, and so does the bonus's key.
        with page.expect_response(re.compile(rf"/api/units/{first}$")):
            page.get_by_role("button", name=f"Open unit {first}").click()
        expect(page.get_by_label("Amount", exact=True)).to_have_value("0.70")
        page.get_by_role("button", name="Pay bonus").click()  # the reviewer tries again
        expect(page.locator("#status-message")).to_have_text(
            f"Bonus of 0.70 for unit {first} was paid already; nothing more was paid."
        )
    finally:
        context.close()

    assert len(sent) == 2  # the press whose answer was lost, and the second press
    assert sent[0]["client_key"] == sent[-1]["client_key"] and re.fullmatch(r"[0-9a-f]{32}", sent[0]["client_key"])
    database = open_database(None, mephisto_settings.sqlite_path)
    try:
        payments = [(p.kind, p.unit_id, p.amount, p.status) for p in Payment.select()]
    finally:
        database.close()
    assert payments == [("bonus", first, Decimal("0.70"), "paid")]
