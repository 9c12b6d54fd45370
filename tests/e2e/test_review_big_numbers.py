"""The review app in real Chromium shows stored numbers exactly: integers past 2**53 (up to thousands of digits)
keep every digit, and a NaN or Infinity stored by an older version no longer stops the unit from opening."""

from __future__ import annotations

import json
import secrets
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, NoReturn

import pytest
from playwright.sync_api import Page, expect

from mephisto_core.data_model import Agent, Assignment, Database, Requester, Task, TaskRun, Unit, Worker
from mephisto_core.review_app.app import ReviewApp
from mephisto_core.review_app.server import ReviewServer
from mephisto_core.settings import Settings

BIG = int("9876543210" * 400)  # 4000 digits: JSON.parse makes it Infinity, JSON.stringify then writes null
JUST_PAST = 2**53 + 1  # JSON.parse rounds it to 9007199254740992
NESTED = {"ids": [2**63, -(2**70)], "ok": True}
OUTPUTS = {"big": BIG, "edge": JUST_PAST, "nested": NESTED, "ratio": 0.1, "text": "plain", "missing": None}


def _submitted_unit(outputs: dict[str, Any], inputs: dict[str, Any]) -> Unit:
    task, _ = Task.get_or_create(name="numbers", defaults={"blueprint_type": "no_such_blueprint"})
    requester, _ = Requester.get_or_create(name="requester", defaults={"provider_type": "mock"})
    # A blueprint that is not installed: the page shows its plain tables of inputs and outputs.
    run = TaskRun.create(
        task=task,
        requester=requester,
        blueprint_type="no_such_blueprint",
        architect_type="local",
        provider_type="mock",
        config={"schema": 1, "task": {"name": "numbers"}},
    )
    assignment = Assignment.create(task_run=run, inputs=inputs)
    worker, _ = Worker.get_or_create(name="wanda", provider_type="mock")
    unit = Unit.create(
        assignment=assignment,
        task_run=run,
        task=task,
        unit_index=0,
        pay_amount=Decimal("0.50"),
        status="completed",
        worker=worker,
    )
    agent = Agent.create(
        unit=unit,
        worker=worker,
        task_run=run,
        assignment=assignment,
        status="completed",
        outputs=outputs,
        token=secrets.token_hex(8),
    )
    Unit.update(agent_id=agent.id).where(Unit.id == unit.id).execute()
    unit.agent_id = agent.id
    return unit


@pytest.fixture
def review_server(sqlite_database: Database, mephisto_settings: Settings) -> Iterator[ReviewServer]:
    with ReviewServer(ReviewApp(mephisto_settings, sqlite_database), "127.0.0.1", 0) as server:
        yield server


def _open_unit(page: Page, server: ReviewServer, unit_id: int) -> dict[str, dict[str, str]]:
    """Open the review page, open one unit, and read its Inputs and Outputs tables as {caption: {key: text}}."""
    page.goto(f"{server.base_url}/?token={server.app.token}")
    expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=15_000)
    page.get_by_role("button", name=f"Open unit {unit_id}").click()
    expect(page.locator("#unit-heading")).to_contain_text(f"Unit {unit_id}")
    tables: dict[str, dict[str, str]] = page.eval_on_selector_all(
        "table.values",
        """tables => Object.fromEntries(tables.map(t => [
            t.querySelector('caption').textContent,
            Object.fromEntries([...t.querySelectorAll('tr')].filter(r => r.querySelector('th'))
              .map(r => [r.querySelector('th').textContent, r.querySelector('pre').textContent]))]))""",
    )
    return tables


def _api_unit(server: ReviewServer, unit_id: int) -> Any:
    def refuse(name: str) -> NoReturn:
        raise AssertionError(f"the review server sent {name}, which is not JSON")

    request = urllib.request.Request(
        f"{server.base_url}/api/units/{unit_id}", headers={"Authorization": f"Bearer {server.app.token}"}
    )
    with urllib.request.urlopen(request, timeout=15) as response:
        return json.loads(response.read(), parse_constant=refuse)


def test_review_page_shows_integers_beyond_javascript_numbers_digit_for_digit(
    review_server: ReviewServer, page: Page
) -> None:
    unit = _submitted_unit(OUTPUTS, {"row": 2**64, "source": "web"})
    tables = _open_unit(page, review_server, unit.id)
    assert tables["Outputs"] == {
        "big": str(BIG),
        "edge": "9007199254740993",
        "nested": json.dumps(NESTED, indent=2),
        "ratio": "0.1",
        "text": "plain",
        "missing": "",
    }
    assert tables["Inputs"] == {"row": str(2**64), "source": "web"}
    # The API itself carries the exact numbers too, for scripts.
    assert _api_unit(review_server, unit.id)["unit"]["outputs"] == OUTPUTS


def test_a_stored_infinity_no_longer_stops_the_unit_from_opening(
    review_server: ReviewServer, sqlite_database: Database, page: Page
) -> None:
    unit = _submitted_unit({"score": 1, "list": [1]}, {"row": 1})
    # What an older version stored for `1e999` and `-1e999`, as SQL: the JSON field itself now refuses it.
    stored = '{"score":Infinity,"list":[-Infinity]}'
    with sqlite_database.write():
        sqlite_database.db.execute_sql("UPDATE agent SET outputs = ? WHERE id = ?", (stored, unit.agent_id))
    tables = _open_unit(page, review_server, unit.id)
    assert tables["Outputs"] == {"score": "Infinity", "list": "[\n  -Infinity\n]"}
    assert _api_unit(review_server, unit.id)["unit"]["outputs"] == {"score": "Infinity", "list": ["-Infinity"]}
