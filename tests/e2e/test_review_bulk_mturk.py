"""A bulk approve of MTurk work in real Chromium through `mephisto review`: the page's "select all" and "Apply to
selected units", the review server asking the local FakeMTurk (real boto3, MTurk's wire protocol) for several
assignments at once while the fake throttles it, and every assignment approved once there and paid once here."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from e2e_helpers import ReviewProcess, registered_fake_mturk, review_app_page
from mephisto_provider_mturk.testing import FakeMTurk
from mephisto_provider_mturk.testing.review_seed import submitted_mturk_run
from playwright.sync_api import expect

from mephisto_core.data_model import Agent, Unit, UnitStatus, open_database
from mephisto_core.data_model.payments import Payment
from mephisto_core.settings import Settings

UNITS = 24
#: requests per second the fake allows the requester: a bulk of UNITS asks faster, so some calls are throttled
RATE_LIMIT = 10.0


@pytest.fixture
def fake(cli_env: dict[str, str]) -> Iterator[FakeMTurk]:
    """A FakeMTurk the `mephisto` subprocesses reach, and the requester `lab` registered with its account."""
    with registered_fake_mturk(cli_env) as server:
        yield server


@pytest.mark.browser
def test_select_all_and_approve_reaches_mturk_for_every_unit_once(
    fake: FakeMTurk, browser: object, mephisto_settings: Settings, mephisto_review: Callable[..., ReviewProcess]
) -> None:
    database = open_database(None, mephisto_settings.sqlite_path)
    try:
        assignments = {
            agent.provider_agent_id
            for unit in submitted_mturk_run(fake, database, UNITS, "lab").units
            for agent in Agent.select().where(Agent.unit == unit.id)
        }
    finally:
        database.close()
    fake.set_rate_limit(RATE_LIMIT)
    calls_before = len(fake.requests())

    with review_app_page(browser, mephisto_review("--undo-seconds", "0").wait_for_link()) as page:  # type: ignore[arg-type]
        page.locator("#select-all").check()
        expect(page.locator("#bulk-count")).to_have_text(str(UNITS))
        page.locator("#bulk-action").select_option("approve")
        page.locator("#bulk-feedback").fill("Thank you for the careful descriptions.")
        page.locator("#bulk-apply").click()
        expect(page.locator("#status-message")).to_have_text(f"approve: {UNITS} done, 0 refused.", timeout=60_000)

    calls = fake.requests()[calls_before:]
    assert any(call.error and "Throttl" in call.error for call in calls), "the fake never throttled the bulk"
    approved = [
        call.params["AssignmentId"] for call in calls if call.operation == "ApproveAssignment" and not call.error
    ]
    assert sorted(approved) == sorted(assignments)  # each approved once at MTurk
    assert {fake.assignment(a).state.value for a in assignments} == {"Approved"}
    database = open_database(None, mephisto_settings.sqlite_path)
    try:
        assert {u.status for u in Unit.select()} == {UnitStatus.ACCEPTED.value}
        assert sorted((p.kind, p.status, p.attempts) for p in Payment.select()) == [("reward", "paid", 1)] * UNITS
    finally:
        database.close()
