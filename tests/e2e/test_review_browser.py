"""Real Chromium through `mephisto review`: simulated workers fill the static template, then a reviewer approves,
rejects, pays a bonus and blocks a worker with clicks and keyboard shortcuts; the database and `mephisto export`
then show exactly those decisions."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import ReviewProcess, review_app_page
from mephisto_provider_mock import read_ledger
from playwright.sync_api import APIResponse, Page, Route, expect

from mephisto_core.data_model import Review, Task, Unit, Worker, open_database
from mephisto_core.data_model.payments import Payment
from mephisto_core.data_model.qualifications import BLOCK_QUALIFICATION, granted_value
from mephisto_core.settings import Settings

REJECT_FEEDBACK = "The answer does not describe a place."
BONUS_REASON = "Lovely detail, thank you"
BLOCK_REASON = "Answers look copied"


@pytest.fixture
def review_process(mephisto_review: Callable[..., ReviewProcess]) -> ReviewProcess:
    """`mephisto review --no-browser` running in the background (killed at the end of the test). Verdicts are sent
    at once: the undo window has its own test (test_review_flow_browser.py)."""
    return mephisto_review("--undo-seconds", "0")


def _units_and_workers(settings: Settings, task_name: str) -> tuple[list[int], dict[int, str]]:
    database = open_database(None, settings.sqlite_path)
    try:
        units = list(Unit.select().join(Task).where(Task.name == task_name).order_by(Unit.id))
        return [u.id for u in units], {u.id: Worker.get_by_id(u.worker_id).name for u in units}
    finally:
        database.close()


def _open_unit(page: Page, unit_id: int) -> None:
    expect(page.locator("#unit-heading")).to_contain_text(f"Unit {unit_id}")


def _reopen_with_its_answer_held(page: Page, unit_id: int, hold: Callable[[Route], Any]) -> list[Any]:
    """Open unit `unit_id`, then open it again with the answer held back by `hold` (given the route; what it
    returns is kept): that one item, once the page has asked (5 s at most)."""
    page.get_by_role("button", name=f"Open unit {unit_id}").click()
    _open_unit(page, unit_id)
    held: list[Any] = []
    page.route(re.compile(rf"/api/units/{unit_id}$"), lambda route: held.append(hold(route)))
    page.get_by_role("button", name=f"Open unit {unit_id}").click()
    _wait_for_one_held(page, held)
    return held


def _wait_for_one_held(page: Page, held: list[Any]) -> None:
    """Wait (5 s at most) until the page has asked for the held answer: exactly one."""
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert len(held) == 1


def _shows_only(page: Page, unit_id: int) -> None:
    """After a second for late answers: the pane shows unit `unit_id`, and the list marks it."""
    page.wait_for_timeout(1000)
    expect(page.locator("#unit-heading")).to_contain_text(f"Unit {unit_id}")
    expect(page.locator('tr[aria-current="true"]')).to_have_attribute("data-unit", str(unit_id))


def _collect(static_task: Path, start_launch: Any, settings: Settings, bots: int) -> tuple[list[int], dict[int, str]]:
    """Launch the static task with `bots` simulated workers until every unit is done; its units and workers."""
    launch = start_launch(str(static_task), "architect.port=0", "--simulate", str(bots), "--no-panel")
    assert launch.wait(90) == 0, launch.output()
    return _units_and_workers(settings, static_task.parent.name)


def test_reviewer_approves_rejects_pays_and_blocks_in_chromium(
    static_task, start_launch, review_process, browser, mephisto_settings, cli_env
) -> None:
    task_name = static_task.parent.name
    unit_ids, worker_of = _collect(static_task, start_launch, mephisto_settings, bots=3)
    assert len(unit_ids) == 4
    approved, rejected, bonused, untouched = unit_ids
    blocked_worker = worker_of[bonused]

    link = review_process.wait_for_link()
    base = link.split("/?token=")[0]

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        refused = page.goto(base + "/")
        assert refused is not None and refused.status == 403
        expect(page.get_by_role("heading", name="Access refused")).to_be_visible()

        page.goto(link)
        expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=15_000)
        expect(page.locator("#unit-count")).to_have_text("4 units match.")

        # Approve the first unit with the keyboard: the next unit opens.
        page.get_by_role("button", name=f"Open unit {approved}").click()
        _open_unit(page, approved)
        page.keyboard.press("a")
        expect(page.locator("#status-message")).to_have_text(f"Unit {approved} approved.")
        _open_unit(page, rejected)

        # r puts the cursor in the feedback box, then the Reject button.
        page.keyboard.press("r")
        expect(page.get_by_label("Feedback to the worker", exact=True)).to_be_focused()
        page.keyboard.type(REJECT_FEEDBACK)
        page.get_by_role("button", name="Reject r", exact=True).click()
        expect(page.locator("#status-message")).to_have_text(f"Unit {rejected} rejected.")

        # The next unit opened: a bonus through the form, then block its worker.
        _open_unit(page, bonused)
        page.get_by_label("Amount", exact=True).fill("0.60")
        page.get_by_label("Reason (the worker sees it)", exact=True).fill(BONUS_REASON)
        page.get_by_role("button", name="Pay bonus").click()
        expect(page.locator("#status-message")).to_have_text(f"Bonus of 0.60 paid for unit {bonused}.")
        page.get_by_label("Reason for blocking", exact=True).fill(BLOCK_REASON)
        page.get_by_role("button", name="Block worker").click()
        # The answer also says what the provider did (the mock records the block in its ledger).
        expect(page.locator("#status-message")).to_have_text(
            f"Worker {blocked_worker} blocked. Platform: block: done at mock (requester MOCK_REQUESTER)."
        )
        expect(page.locator("#worker-blocked")).to_have_text("yes")
        expect(page.get_by_role("button", name="Unblock worker")).to_be_visible()

        # An illegal action is shown as a message: the approved unit cannot be rejected.
        page.keyboard.press("k")
        page.keyboard.press("k")
        _open_unit(page, approved)
        expect(page.get_by_role("button", name="Reject r", exact=True)).to_be_disabled()

        # The help lists the shortcuts.
        page.keyboard.press("?")
        expect(page.get_by_role("dialog")).to_contain_text("Next unit")
        page.keyboard.press("Escape")
        expect(page.get_by_role("dialog")).to_be_hidden()
    finally:
        context.close()

    review_process.proc.send_signal(signal.SIGTERM)
    assert review_process.wait(15) == 0, review_process.output()

    database = open_database(None, mephisto_settings.sqlite_path)
    try:
        statuses = {u.id: u.status for u in Unit.select()}
        assert statuses == {approved: "accepted", rejected: "rejected", bonused: "completed", untouched: "completed"}
        rows = [(r.kind, r.unit_id, r.amount, r.feedback, r.reviewer) for r in Review.select().order_by(Review.id)]
        assert rows == [
            ("approve", approved, None, "", "review-app"),
            ("reject", rejected, None, REJECT_FEEDBACK, "review-app"),
            ("bonus", bonused, Decimal("0.60"), BONUS_REASON, "review-app"),
            ("block", None, None, BLOCK_REASON, "review-app"),
            ("platform", None, None, "block: done at mock (requester MOCK_REQUESTER).", "review-app"),
        ]
        worker = Worker.get(Worker.name == blocked_worker)
        assert granted_value(worker.id, BLOCK_QUALIFICATION) == 1
        payments = [(p.kind, p.unit_id, p.amount, p.status) for p in Payment.select().order_by(Payment.id)]
        assert payments[1:] == [("bonus", bonused, Decimal("0.60"), "paid")]
        assert payments[0][:2] == ("reward", approved) and payments[0][3] == "paid"
        assert [w.name for w in Worker.select() if granted_value(w.id, BLOCK_QUALIFICATION)] == [blocked_worker]
    finally:
        database.close()
    ledger = read_ledger(mephisto_settings.data_dir / "providers" / "mock")
    assert [(e["action"], e["unit_id"]) for e in ledger] == [
        ("approve", approved),
        ("reject", rejected),
        ("block", None),
    ]  # money is not in the mock's file: the payments ledger has it (checked above)

    exported = subprocess.run(
        [sys.executable, "-m", "mephisto_core.cli", "export", "--task", task_name],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert exported.returncode == 0, exported.stderr
    records = {r["unit_id"]: r for r in map(json.loads, exported.stdout.splitlines())}
    assert {unit_id: r["status"] for unit_id, r in records.items()} == statuses
    assert [r["kind"] for r in records[approved]["review"]] == ["approve"]
    assert [(r["kind"], r["feedback"]) for r in records[rejected]["review"]] == [("reject", REJECT_FEEDBACK)]
    assert [(r["kind"], r["amount"], r["feedback"]) for r in records[bonused]["review"]] == [
        ("bonus", 0.6, BONUS_REASON)
    ]
    assert records[untouched]["review"] == []


def test_quick_keyboard_moves_show_the_last_unit_asked_for(
    static_task, start_launch, review_process, browser, mephisto_settings
) -> None:
    first, second, third, _ = _collect(static_task, start_launch, mephisto_settings, bots=2)[0]
    with review_app_page(browser, review_process.wait_for_link(), width=1280) as page:
        page.get_by_role("button", name=f"Open unit {third}").click()
        _open_unit(page, third)

        held: list[Route] = []
        # The middle unit's answer is held back until the first unit's has been shown.
        page.route(re.compile(rf"/api/units/{second}$"), lambda route: held.append(route))
        page.keyboard.press("k")
        page.keyboard.press("k")
        _open_unit(page, first)
        # The page asked for the middle unit first, but Playwright may hand its route over after the first unit shows.
        _wait_for_one_held(page, held)
        held[0].continue_()  # it arrives after the first unit's, and must not replace it
        _shows_only(page, first)


def test_a_unit_opened_while_the_list_reloads_stays_open(
    static_task, start_launch, review_process, browser, mephisto_settings
) -> None:
    first, _, third, _ = _collect(static_task, start_launch, mephisto_settings, bots=2)[0]
    with review_app_page(browser, review_process.wait_for_link(), width=1280) as page:
        _open_unit(page, first)
        held: list[Route] = []
        # The list for a new filter is held back; meanwhile the reviewer opens a unit of the list on screen.
        page.route(re.compile(r"/api/units\?"), lambda route: held.append(route))
        page.locator("#filter-status").select_option("")
        _wait_for_one_held(page, held)
        page.get_by_role("button", name=f"Open unit {third}").click()
        _open_unit(page, third)
        held[0].continue_()  # the new list arrives: it must not open its first unit over the reviewer's choice
        expect(page.locator("#unit-count")).to_have_text("4 units match.")
        _shows_only(page, third)


def test_a_unit_answer_computed_before_a_verdict_never_replaces_it(
    static_task, start_launch, review_process, browser, mephisto_settings
) -> None:
    first = _collect(static_task, start_launch, mephisto_settings, bots=2)[0][0]
    with review_app_page(browser, review_process.wait_for_link(), width=1280) as page:
        # The server answers this unit's GET at once (before the verdict), but the page gets it only later, as a
        # loaded server or network may deliver it.
        held: list[tuple[Route, APIResponse]] = _reopen_with_its_answer_held(
            page, first, lambda route: (route, route.fetch())
        )
        page.keyboard.press("a")
        expect(page.locator("#status-message")).to_have_text(f"Unit {first} approved.")
        route, answered_before = held[0]
        route.fulfill(response=answered_before)
        page.wait_for_timeout(1000)
        expect(page.locator(f'tr[data-unit="{first}"] .badge')).to_have_text("accepted")
        page.unroute(re.compile(rf"/api/units/{first}$"))
        page.keyboard.press("k")
        _open_unit(page, first)
        expect(page.locator("#unit-heading")).to_contain_text("accepted")


def test_the_field_being_typed_in_keeps_its_text_and_the_focus_when_the_unit_is_drawn_again(
    static_task, start_launch, review_process, browser, mephisto_settings
) -> None:
    first = _collect(static_task, start_launch, mephisto_settings, bots=2)[0][0]
    with review_app_page(browser, review_process.wait_for_link(), width=1280) as page:
        held: list[Route] = _reopen_with_its_answer_held(page, first, lambda route: route)
        amount = page.get_by_label("Amount", exact=True)
        amount.click()
        page.keyboard.type("0.")
        before = amount.element_handle()
        held[0].continue_()  # the unit is drawn again while the reviewer is typing
        page.wait_for_function("field => !field.isConnected", arg=before)
        page.keyboard.type("70")
        expect(amount).to_have_value("0.70")
        expect(amount).to_be_focused()


def test_reviewer_soft_rejects_selected_units_in_bulk_on_a_narrow_window(
    static_task, start_launch, review_process, browser, mephisto_settings
) -> None:
    unit_ids, _ = _collect(static_task, start_launch, mephisto_settings, bots=2)
    first, second, *others = unit_ids
    with review_app_page(browser, review_process.wait_for_link(), width=420) as page:
        page.get_by_role("checkbox", name=f"Select unit {first}").check()
        page.get_by_role("checkbox", name=f"Select unit {second}").check()
        expect(page.locator("#bulk-count")).to_have_text("2")
        page.get_by_label("Action", exact=True).select_option("soft-reject")
        expect(page.get_by_label("Bonus amount (each)")).to_be_hidden()
        page.get_by_label("Feedback to the workers").fill("Not usable for this study")
        page.get_by_role("button", name="Apply to selected units").click()
        expect(page.locator("#status-message")).to_have_text("soft-reject: 2 done, 0 refused.")
        expect(page.locator(f'tr[data-unit="{first}"]')).to_contain_text("soft-rejected")

        page.get_by_label("Status").select_option("soft_rejected")
        expect(page.locator("#unit-count")).to_have_text("2 units match.")

    database = open_database(None, mephisto_settings.sqlite_path)
    try:
        statuses = {u.id: u.status for u in Unit.select()}
        assert statuses == {first: "soft_rejected", second: "soft_rejected", **dict.fromkeys(others, "completed")}
        feedback = {(r.unit_id, r.kind, r.feedback) for r in Review.select()}
        assert feedback == {(u, "soft_reject", "Not usable for this study") for u in (first, second)}
    finally:
        database.close()


def test_reviewer_grants_a_qualification_to_and_blocks_the_workers_of_selected_units_in_bulk(
    static_task, start_launch, review_process, browser, mephisto_settings
) -> None:
    unit_ids, worker_of = _collect(static_task, start_launch, mephisto_settings, bots=3)
    workers = sorted(set(worker_of.values()))
    assert len(workers) >= 2, worker_of
    first_of = {worker: min(u for u in unit_ids if worker_of[u] == worker) for worker in workers}
    blocked = [first_of[workers[0]], first_of[workers[1]]]
    with review_app_page(browser, review_process.wait_for_link()) as page:
        bulk = page.locator("#bulk-panel")
        for unit_id in unit_ids:
            page.get_by_role("checkbox", name=f"Select unit {unit_id}").check()
        page.get_by_label("Action", exact=True).select_option("grant")
        bulk.get_by_label("Qualification").fill("passed-pilot")
        bulk.get_by_label("Value").fill("2")
        page.get_by_role("button", name="Apply to selected units").click()
        expect(page.locator("#status-message")).to_have_text(f"grant: {len(unit_ids)} done, 0 refused.")

        for unit_id in unit_ids:
            page.get_by_role("checkbox", name=f"Select unit {unit_id}").set_checked(unit_id in blocked)
        page.get_by_label("Action", exact=True).select_option("block")
        bulk.get_by_label("Reason").fill(BLOCK_REASON)
        page.get_by_role("button", name="Apply to selected units").click()
        expect(page.locator("#status-message")).to_have_text("block: 2 done, 0 refused.")

    database = open_database(None, mephisto_settings.sqlite_path)
    try:
        ids = {w.name: w.id for w in Worker.select()}
        assert {name: granted_value(ids[name], "passed-pilot") for name in workers} == dict.fromkeys(workers, 2)
        grants = {
            (r.worker_id, r.unit_id, r.qualification_value) for r in Review.select().where(Review.kind == "grant")
        }
        assert grants == {(ids[name], first_of[name], 2) for name in workers}  # once per worker, on their first unit
        assert {name for name in workers if granted_value(ids[name], BLOCK_QUALIFICATION)} == set(workers[:2])
        blocks = {(r.worker_id, r.feedback) for r in Review.select().where(Review.kind == "block")}
        assert blocks == {(ids[name], BLOCK_REASON) for name in workers[:2]}
    finally:
        database.close()
