"""`mephisto launch` with `provider.type = "prolific"` against the fake Prolific: the real operator process, the real
httpx client, real SQLite and real Chromium.

The fake runs in this process on 127.0.0.1; the test-only MEPHISTO_PROLIFIC_API_URL that points the launch at it
also lifts the public-https rule (the local architect serves http) and allows --simulate.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import mephisto
from mephisto_provider_prolific.testing import FakeProlific, Visit

from mephisto_core.data_model import Agent, Unit, UnitStatus, open_database
from mephisto_core.settings import Settings
from mephisto_core.testing.processes import mephisto_command

TIMEOUT_MS = 20_000
REJECTION = (
    "The answer repeats the prompt instead of describing a place of your own, which the instructions asked for. "
    "Thank you for your time."
)


@pytest.fixture
def fake_prolific() -> Iterator[FakeProlific]:
    with FakeProlific() as fake:
        yield fake


@pytest.fixture
def mephisto_cli_env(mephisto_settings: Settings, fake_prolific: FakeProlific) -> dict[str, str]:
    """The core's environment for `mephisto` processes, pointed at the fake (for launch, register, review)."""
    import os

    return {
        **os.environ,
        "COLUMNS": "250",
        "MEPHISTO_PROLIFIC_API_URL": fake_prolific.base_url,
        "MEPHISTO_PROLIFIC_COMPLETION_URL": fake_prolific.completion_url,
    }


@pytest.fixture
def registered(fake_prolific: FakeProlific, cli_env: dict[str, str]) -> FakeProlific:
    done = mephisto("register", "prolific", "prolific", f"api_key={fake_prolific.api_key}", env=cli_env)
    assert done.returncode == 0, done.stdout + done.stderr
    return fake_prolific


def review_cli(env: dict[str, str], answers: str) -> subprocess.CompletedProcess[str]:
    """`mephisto review --cli` with one answer per line on stdin (a pipe, as the review documents)."""
    return subprocess.run(
        mephisto_command("review", "--cli"), env=env, input=answers, capture_output=True, text=True, timeout=120
    )


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def in_db(settings: Settings, query: Callable[[], Any]) -> Any:
    db = open_database(None, settings.sqlite_path)
    try:
        return query()
    finally:
        db.close()


def agent_status(settings: Settings, session: str) -> str | None:
    def query() -> str | None:
        agent = Agent.get_or_none(Agent.provider_agent_id == session)
        return None if agent is None else str(agent.status)

    return in_db(settings, query)  # type: ignore[no-any-return]


def active_study(fake: FakeProlific) -> str | None:
    live = [s for s in fake.studies() if s["status"] == "ACTIVE"]
    return live[0]["id"] if len(live) == 1 else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def open_task(browser: Any, fake: FakeProlific, visit: Visit) -> Any:
    """The participant's browser, sent by Prolific to the study URL (with Prolific's cookie for the completion)."""
    context = browser.new_context()
    context.add_cookies(fake.browser_cookies(visit))
    page = context.new_page()
    page.goto(visit.url)
    page.locator("textarea[name=answer]").wait_for(timeout=TIMEOUT_MS)
    return page


def answer_and_submit(page: Any, fake: FakeProlific) -> None:
    page.locator("select[name=frequency]").select_option("weekly")
    page.locator("textarea[name=answer]").fill("A bench under the old oak tree in the park by the river.")
    page.get_by_role("button", name="Submit").click()
    page.wait_for_url(re.compile(re.escape(fake.completion_url) + r"\?cc="), timeout=TIMEOUT_MS)


@pytest.mark.browser
def test_simulated_workers_finish_a_prolific_run_and_leave_nothing(
    registered: FakeProlific, static_task: Path, start_launch: Any, cli_env: dict[str, str]
) -> None:
    fake = registered
    launch = start_launch(
        str(static_task), "provider.type=prolific", "architect.port=0", "--simulate", "3", "--no-panel"
    )
    assert launch.wait(90) == 0, launch.output()
    assert "All 4 units are done" in launch.output()
    [study] = fake.studies()
    assert study["internal_name"].endswith("-finished")
    assert study["status"] in ("AWAITING REVIEW", "COMPLETED")  # stopped: it takes nobody any more
    assert study["reward"] == 5 and study["total_available_places"] == 4
    left = mephisto("prolific", "cleanup", "--dry-run", env=cli_env)
    assert left.returncode == 0 and "Nothing left behind." in left.stdout, left.stdout + left.stderr


@pytest.mark.browser
def test_participants_return_time_out_complete_and_are_reviewed_across_a_kill_9(
    registered: FakeProlific,
    static_task: Path,
    start_launch: Any,
    browser: Any,
    mephisto_settings: Settings,
    cli_env: dict[str, str],
) -> None:
    fake = registered
    args = [
        str(static_task),
        "provider.type=prolific",
        f"architect.port={free_port()}",  # the same address after the kill: the study's URL stays valid
        "provider.sync_interval_seconds=1",
        "--no-panel",
    ]
    first = start_launch(*args)
    first.wait_for_link()
    study_id = wait_for("the study to be published", lambda: active_study(fake))
    assert fake.study(study_id)["total_available_places"] == 4

    # Ann does a unit in Chromium and is sent back to Prolific with the completion code.
    ann = fake.start(study_id, fake.new_participant_id())
    answer_and_submit(open_task(browser, fake, ann), fake)
    assert fake.submission(ann.session_id)["status"] == "AWAITING REVIEW"

    # Bea returns the study and Cal times out at Prolific: the in-run sync frees each unit at once.
    for leave in (fake.return_submission, fake.time_out):
        visit = fake.start(study_id, fake.new_participant_id())
        page = open_task(browser, fake, visit)
        wait_for("the unit to be held", lambda v=visit: agent_status(mephisto_settings, v.session_id) == "in_task")
        leave(visit)
        wait_for("the unit to be freed", lambda v=visit: agent_status(mephisto_settings, v.session_id) == "returned")
        page.context.close()

    # Dan holds a unit when the operator is killed, and returns the study while nobody serves the run.
    dan = fake.start(study_id, fake.new_participant_id())
    dan_page = open_task(browser, fake, dan)
    wait_for("Dan's unit to be held", lambda: agent_status(mephisto_settings, dan.session_id) == "in_task")
    first.kill()
    fake.return_submission(dan)
    dan_page.context.close()

    second = start_launch(*args)
    second.wait_for_link()
    assert agent_status(mephisto_settings, dan.session_id) == "returned"  # reconciled before any unit is offered
    assert [s["id"] for s in fake.studies()] == [study_id]  # resumed: the same study, no place added twice
    assert fake.study(study_id)["total_available_places"] == 4

    eve = fake.start(study_id, fake.new_participant_id())
    answer_and_submit(open_task(browser, fake, eve), fake)
    second.stop_cleanly(60)
    assert fake.study(study_id)["status"] in ("AWAITING REVIEW", "COMPLETED")  # stopped at shutdown

    # Review: a bonus and an approval for the first unit shown, a rejection for the other.
    first_review = review_cli(cli_env, "b\n0.40\nVery clear answer\na\nq\n")
    approved = re.search(r"Unit \d+ \((\w+)\) approved", first_review.stdout)
    assert approved, first_review.stdout + first_review.stderr
    second_review = review_cli(cli_env, f"r\n{REJECTION}\nq\n")
    assert "rejected" in second_review.stdout, second_review.stdout + second_review.stderr
    verdicts = {v.participant_id: fake.submission(v.session_id) for v in (ann, eve)}
    winner = approved.group(1)
    assert verdicts[winner]["status"] == "APPROVED" and verdicts[winner]["bonus_payments"] == [40]
    [loser] = [s for pid, s in verdicts.items() if pid != winner]
    assert loser["status"] == "REJECTED" and loser["bonus_payments"] == []
    assert len(fake.bonuses_paid()) == 1

    units = in_db(mephisto_settings, lambda: sorted(str(u.status) for u in Unit.select()))
    assert units.count(UnitStatus.ACCEPTED.value) == 1 and units.count(UnitStatus.REJECTED.value) == 1
    left = mephisto("prolific", "cleanup", "--dry-run", env=cli_env)
    assert left.returncode == 0 and "Nothing left behind." in left.stdout, left.stdout + left.stderr


@pytest.mark.browser
def test_a_script_approves_and_bonuses_a_prolific_run_in_bulk(
    registered: FakeProlific,
    static_task: Path,
    start_launch: Any,
    browser: Any,
    cli_env: dict[str, str],
    mephisto_settings: Settings,
) -> None:
    fake = registered
    launch = start_launch(str(static_task), "provider.type=prolific", "architect.port=0", "--no-panel")
    launch.wait_for_link()
    study_id = wait_for("the study to be published", lambda: active_study(fake))
    for _ in range(4):  # four participants do a unit each in Chromium and go back to Prolific with the code
        answer_and_submit(open_task(browser, fake, fake.start(study_id, fake.new_participant_id())), fake)
    assert launch.wait(90) == 0, launch.output()
    from mephisto_core.data_model import Task

    task = in_db(mephisto_settings, lambda: Task.get().name)

    approved = mephisto("review", "approve", "--task", task, "--feedback", "thanks", "--json", "--yes", env=cli_env)
    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert [line["error"] for line in map(json.loads, approved.stdout.splitlines())] == [None] * 4
    assert {s["status"] for s in fake.submissions()} == {"APPROVED"}
    assert len(fake.requests_to("POST", "submissions/bulk-approve/")) == 1  # one call for the four
    assert fake.requests_to("POST", "submissions/*/transition/") == []

    args = ("review", "bonus", "--task", task, "--amount", "0.40", "--reason", "careful work", "--yes")
    # A script started twice at once pays once: the two processes would each read no record of the bonuses and set
    # up a bulk bonus of their own (Prolific pays both), but one waits for the other's lock on the data folder's
    # bonuses, then finds them paid. Prolific slowed down so that the two overlap.
    fake.set_latency(0.3)
    both = [
        subprocess.Popen(
            mephisto_command(*args), env=cli_env, text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        for _ in "ab"
    ]
    for process in both:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0 and "bonus of 0.40: 4 done, 0 refused." in err, err
    fake.set_latency(0)
    paid = mephisto(*args, env=cli_env)  # and once more, after them
    assert paid.returncode == 0 and "bonus of 0.40: 4 done, 0 refused." in paid.stderr, paid.stderr
    assert sorted(b["amount"] for b in fake.bonuses_paid()) == [40] * 4
    assert len(fake.requests_to("POST", "bulk-bonus-payments/*/pay/")) == 1
    assert [m["body"] for m in fake.messages()] == ["Bonus of 0.40: careful work"] * 4
    statuses = in_db(mephisto_settings, lambda: {u.status for u in Unit.select()})
    assert statuses == {UnitStatus.ACCEPTED.value}

    # the four blocked from every study of the workspace in one call to its block list
    participants = sorted(str(s["participant_id"]) for s in fake.submissions())
    blocked = mephisto("workers", "block", *participants, "--reason", "pilot only", env=cli_env)
    assert blocked.returncode == 0, blocked.stdout + blocked.stderr
    [group] = [g for g in fake.participant_groups() if g["name"] == "Mephisto block list"]
    assert sorted(fake.group_members(group["id"])) == participants
    assert len(fake.requests_to("POST", "participant-groups/*/participants/")) == 1
