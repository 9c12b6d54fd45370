"""Real Chromium through `mephisto review` on PostgreSQL: simulated workers fill the static template, the reviewer
opens the app, the database server ends every connection the app keeps (as a restart or an idle timeout would),
and the reviewer goes on approving without seeing an error; the verdict is stored."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from e2e_helpers import LaunchProcess, ReviewProcess, review_app_page
from playwright.sync_api import expect

from mephisto_core.data_model import Task, Unit, UnitStatus, open_database


def _app_backends(url: str, end_them: bool = False) -> list[int]:
    """The backends connected to the test's database but this one (ended first when `end_them`)."""
    import psycopg2

    conn = psycopg2.connect(url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            ending = ", pg_terminate_backend(pid)" if end_them else ""
            others = "datname = current_database() AND pid <> pg_backend_pid()"
            cur.execute(f"SELECT pid{ending} FROM pg_stat_activity WHERE {others}")
            return [row[0] for row in cur.fetchall()]
    finally:
        conn.close()


def _unit_ids(url: str, task_name: str) -> list[int]:
    database = open_database(url, Path("/nonexistent"))
    try:
        return [u.id for u in Unit.select(Unit.id).join(Task).where(Task.name == task_name).order_by(Unit.id)]
    finally:
        database.close()


def _status(url: str, unit_id: int) -> Any:
    database = open_database(url, Path("/nonexistent"))
    try:
        return Unit.get_by_id(unit_id).status
    finally:
        database.close()


def test_review_goes_on_after_the_database_ends_its_connections_in_chromium(
    static_task: Path, pg_env: dict[str, str], postgres_url: str, browser: Any, tmp_path: Path
) -> None:
    with contextlib.closing(
        LaunchProcess(
            [str(static_task), "architect.port=0", "--simulate", "3", "--no-panel"], pg_env, tmp_path / "l.log"
        )
    ) as launch:
        assert launch.wait(90) == 0, launch.output()
    first, second, *_ = _unit_ids(postgres_url, static_task.parent.name)

    with contextlib.closing(ReviewProcess(["--undo-seconds", "0"], pg_env, tmp_path / "review.log")) as review:
        link = review.wait_for_link()
        with review_app_page(browser, link) as page:
            expect(page.locator("#unit-count")).to_have_text("4 units match.")
            page.get_by_role("button", name=f"Open unit {first}").click()
            expect(page.locator("#unit-heading")).to_contain_text(f"Unit {first}")
            page.wait_for_load_state("networkidle")  # the unit's requests answered: no connection being opened
            kept = _app_backends(postgres_url)
            assert kept, "the app keeps its connections between requests"

            # every connection the app keeps is ended (and any it opened since: a chroot CI run saw one more)
            ended = _app_backends(postgres_url, end_them=True)
            assert set(kept) <= set(ended)
            deadline = time.monotonic() + 10
            while set(_app_backends(postgres_url)) & set(ended):
                assert time.monotonic() < deadline, "the ended backends did not go"
                time.sleep(0.05)

            page.keyboard.press("a")
            expect(page.locator("#status-message")).to_have_text(f"Unit {first} approved.")
            expect(page.locator("#unit-heading")).to_contain_text(f"Unit {second}")  # the next one opened
        assert "Traceback" not in review.output()
    assert _status(postgres_url, first) == UnitStatus.ACCEPTED
