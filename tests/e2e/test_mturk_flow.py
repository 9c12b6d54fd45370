"""`mephisto launch` with provider.type = "mturk_sandbox" against the local FakeMTurk: the operator is a real
process reaching the fake through MEPHISTO_MTURK_ENDPOINT_URL; workers accept HITs at the fake and open the page
it gives them (Chromium, or a socket page speaking docs/protocol.md); their pages post the completion step to the
fake's externalSubmit; the review runs through the real `mephisto review --cli`."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from e2e_helpers import registered_fake_mturk
from mephisto_provider_mturk.testing import FakeMTurk
from websockets.sync.client import connect

from mephisto_core.data_model import Agent, AgentStatus, Unit, UnitStatus, open_database
from mephisto_core.data_model.payments import Payment

UNITS = 4  # rows of the static template's data.csv
MTURK_ARGS = (
    "architect.port=0",
    "provider.type=mturk_sandbox",
    "provider.requester_name=lab",
    "provider.sync_interval_seconds=5",
    "--no-panel",
)
ANSWER = "I like walking along the river early in the morning."


@pytest.fixture
def fake(cli_env: dict[str, str]) -> Iterator[FakeMTurk]:
    """A FakeMTurk the `mephisto` subprocesses reach, and the requester `lab` registered with its account."""
    with registered_fake_mturk(cli_env) as server:
        yield server


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30) -> Any:
    """Poll `check` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def open_hits(fake: FakeMTurk) -> list[str]:
    snapshot = fake.snapshot()
    return sorted(h for h, status in snapshot.hit_statuses.items() if status == "Assignable")


class SocketPage:
    """A worker page over the router's WebSocket: hello with the link's parameters, submit, completion."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.params = dict(parse_qsl(parts.query))
        self._sockets = contextlib.ExitStack()
        self.ws = self._sockets.enter_context(connect(f"ws://{parts.netloc}/ws", open_timeout=5))
        self.next_id = 0

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({**message, "id": self.next_id}))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            reply = json.loads(self.ws.recv(timeout=20))
            if reply.get("id") == self.next_id:
                return dict(reply)
        raise AssertionError(f"no answer to {message['type']}")

    def hello(self) -> dict[str, Any]:
        return self.request({"type": "hello", "params": self.params, "token": None})

    def submit(self, outputs: dict[str, Any]) -> dict[str, Any]:
        return self.request({"type": "submit", "submit_key": f"k-{time.monotonic_ns()}", "outputs": outputs})

    def close(self) -> None:
        self._sockets.close()


def submit_through_page(url: str, topic_check: bool = True) -> dict[str, Any]:
    """A socket worker does the unit and posts the completion step, as mephisto-task.js does."""
    page = SocketPage(url)
    try:
        assigned = page.hello()
        assert assigned["type"] == "assigned", assigned
        topic = assigned["init_data"]["inputs"]["topic"]
        submitted = page.submit({"topic": topic, "frequency": "daily", "answer": ANSWER})
        assert submitted["type"] == "submitted", submitted
        completion = submitted["completion"]
        assert completion["method"] == "POST" and completion["url"].endswith("/mturk/externalSubmit")
        posted = httpx.post(completion["url"], data=completion["fields"])
        assert posted.status_code < 400, posted.text
        return assigned
    finally:
        page.close()


def review_in_terminal(keys: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`mephisto review --cli` in a fresh process, the keys typed on its stdin."""
    command = [sys.executable, "-m", "mephisto_core.cli", "review", "--cli"]
    return subprocess.run(command, input=keys, env=env, capture_output=True, text=True, timeout=120, check=False)


def _db(settings):  # type: ignore[no-untyped-def]
    return open_database(None, settings.sqlite_path)


@pytest.mark.browser
def test_sandbox_run_with_chromium_and_socket_workers_then_review(  # type: ignore[no-untyped-def]
    fake, static_task, start_launch, browser, mephisto_settings, cli_env
):
    launch = start_launch(str(static_task), *MTURK_ARGS)
    launch.wait_for_link()
    hits = wait_for("one HIT per unit", lambda: len(open_hits(fake)) == UNITS and open_hits(fake))

    # A preview reserves nothing.
    preview = SocketPage(fake.preview_url(hits[0]))
    assert preview.hello()["type"] == "preview"
    preview.close()
    db = _db(mephisto_settings)
    try:
        assert Agent.select().count() == 0
        assert [u.status for u in Unit.select()] == [UnitStatus.LAUNCHED.value] * UNITS
    finally:
        db.close()

    # A worker in Chromium: accept at MTurk, open the page MTurk frames, submit, land on MTurk's externalSubmit.
    visit = fake.accept(hits[0], "ACHROMEWORKER")
    assert visit.url is not None
    page = browser.new_context().new_page()
    page.goto(visit.url)
    page.locator("select[name=frequency]").select_option("weekly")
    page.locator("textarea[name=answer]").fill(ANSWER)
    page.get_by_role("button", name="Submit").click()
    wait_for(
        "the Chromium page's externalSubmit", lambda: fake.assignment(visit.assignment_id).state.value == "Submitted"
    )
    page.wait_for_url(f"{fake.endpoint_url}/mturk/externalSubmit*", timeout=15_000)
    page.context.close()

    # Two socket workers; the second returns the HIT at MTurk before submitting: the in-run sync frees the unit.
    second = fake.accept(hits[1], "ASOCKETWORKER1")
    assert second.url is not None
    submit_through_page(second.url)
    third = fake.accept(hits[2], "ASOCKETWORKER2")
    assert third.url is not None
    held = SocketPage(third.url)
    assert held.hello()["type"] == "assigned"
    fake.return_assignment(third.assignment_id)

    def returned() -> bool:
        db = _db(mephisto_settings)
        try:
            agent = Agent.get_or_none(Agent.provider_agent_id == third.assignment_id)
            return agent is not None and agent.status == AgentStatus.RETURNED.value
        finally:
            db.close()

    wait_for("the returned assignment's unit to be freed (in-run sync)", returned, timeout=60)
    held.close()
    for hit_id, worker in ((hits[2], "ASOCKETWORKER3"), (hits[3], "ASOCKETWORKER4")):
        visit_n = fake.accept(hit_id, worker)
        assert visit_n.url is not None
        submit_through_page(visit_n.url)
    assert launch.wait(60) == 0, launch.output()
    assert f"All {UNITS} units are done" in launch.output()
    assert open_hits(fake) == []  # shutdown expired every HIT and checked
    submitted = [a for a in fake.snapshot().assignments.values() if a.state.value == "Submitted"]
    assert len(submitted) == UNITS

    # Review through the real terminal review: bonus + approve the first unit, reject the second, approve the rest.
    keys = "b\n0.25\nVery clear\na\nr\nThe answer ignores the prompt.\na\na\nq\n"
    reviewed = review_in_terminal(keys, cli_env)
    assert reviewed.returncode == 0, reviewed.stdout + reviewed.stderr
    assert "Review finished: 1 bonus paid, 3 approved, 1 rejected" in reviewed.stdout, reviewed.stdout
    db = _db(mephisto_settings)
    try:
        verdicts = {a.provider_agent_id: a.unit.status for a in Agent.select().where(Agent.status != "returned")}
        (bonus,) = Payment.select().where(Payment.kind == "bonus")
        bonus_agent = Agent.get((Agent.unit == bonus.unit_id) & (Agent.status != "returned"))
    finally:
        db.close()
    states = {a.assignment_id: a.state.value for a in fake.snapshot().assignments.values()}
    for assignment_id, status in verdicts.items():
        assert states[assignment_id] == ("Rejected" if status == UnitStatus.REJECTED.value else "Approved")
    (paid,) = fake.snapshot().bonuses
    assert (paid.assignment_id, paid.amount, bonus.status) == (bonus_agent.provider_agent_id, Decimal("0.25"), "paid")


def test_kill_9_mid_run_then_relaunch_reconciles_with_mturk(  # type: ignore[no-untyped-def]
    fake, static_task, start_launch, mephisto_settings, cli_env
):
    # A fixed port: the HITs keep the worker URL they were published with, so the relaunch must serve the same.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = (*MTURK_ARGS, f"architect.port={port}")
    first = start_launch(str(static_task), *args)
    first.wait_for_link()
    hits = wait_for("one HIT per unit", lambda: len(open_hits(fake)) == UNITS and open_hits(fake))
    done = fake.accept(hits[0], "AWORKERDONE")  # submits through the page: stored here, then at MTurk
    assert done.url is not None
    submit_through_page(done.url)
    there = fake.accept(hits[1], "AWORKERTHERE")  # holds a unit here; its answer reaches MTurk only
    assert there.url is not None
    page = SocketPage(there.url)
    assert page.hello()["type"] == "assigned"
    page.close()
    gone = fake.accept(hits[2], "AWORKERGONE")  # holds a unit here, returns the HIT while the operator is dead
    assert gone.url is not None
    page = SocketPage(gone.url)
    assert page.hello()["type"] == "assigned"
    page.close()
    first.kill()  # SIGKILL: no shutdown, the HITs stay open at MTurk
    fake.submit(there.assignment_id, {"assignmentId": there.assignment_id, "topic": "x", "answer": ANSWER})
    fake.return_assignment(gone.assignment_id)
    # A bonus for the stored unit while no launch runs, through the review.
    reviewed = review_in_terminal("b\n0.40\nThanks\na\nq\n", cli_env)
    assert reviewed.returncode == 0, reviewed.stdout + reviewed.stderr

    second = start_launch(str(static_task), *args)
    second.wait_for_link()
    output = second.output()
    assert "Resumed" in output, output
    # The returned HIT is open again and offered; the fourth HIT too: two more workers finish the run.
    remaining = wait_for("two open HITs after reconciliation", lambda: len(open_hits(fake)) == 2 and open_hits(fake))
    for n, hit_id in enumerate(remaining):
        visit = fake.accept(hit_id, f"AWORKERNEXT{n}")
        assert visit.url is not None
        submit_through_page(visit.url)
    assert second.wait(60) == 0, second.output()
    assert open_hits(fake) == []
    assert len(fake.requests("CreateHITWithHITType")) == len(fake.snapshot().hits) == UNITS  # none twice

    db = _db(mephisto_settings)
    try:
        stored = Agent.get(Agent.provider_agent_id == there.assignment_id)
        assert stored.status == AgentStatus.COMPLETED.value and stored.outputs == {"topic": "x", "answer": ANSWER}
        returned = Agent.get(Agent.provider_agent_id == gone.assignment_id)
        assert returned.status == AgentStatus.RETURNED.value
        assert sorted(u.status for u in Unit.select()) == ["accepted"] + ["completed"] * (UNITS - 1)
        (bonus,) = Payment.select().where(Payment.kind == "bonus")
        assert bonus.status == "paid"
    finally:
        db.close()
    (paid,) = fake.snapshot().bonuses
    assert (paid.assignment_id, paid.amount) == (done.assignment_id, Decimal("0.40"))
    log_lines = (mephisto_settings.runs_dir / "1" / "reconciliation.jsonl").read_text().splitlines()
    kinds = {row["kind"] for line in log_lines for row in json.loads(line).get("drifts", [])}
    assert {"submitted_there", "abandoned_there"} <= kinds, log_lines


def test_ctrl_c_withdraws_every_open_hit(fake, static_task, start_launch, mephisto_settings):  # type: ignore[no-untyped-def]
    launch = start_launch(str(static_task), *MTURK_ARGS)
    launch.wait_for_link()
    wait_for("one HIT per unit", lambda: len(open_hits(fake)) == UNITS)
    launch.stop_cleanly(60)
    assert open_hits(fake) == []
    expired = fake.requests("UpdateExpirationForHIT")
    assert len({r.params["HITId"] for r in expired}) == UNITS
    db = _db(mephisto_settings)
    try:
        assert sorted(u.status for u in Unit.select()) == [UnitStatus.EXPIRED.value] * UNITS
    finally:
        db.close()


def test_kill_9_while_publishing_creates_no_hit_twice(fake, static_task, start_launch, mephisto_settings):  # type: ignore[no-untyped-def]
    # Every first create runs at MTurk but its answer is lost; botocore's retry (same token) then hangs: the
    # operator is killed while it waits, its publish intents open and the HITs made.
    # The publisher's threads race: keyed by token, a fast retry cannot take a first call's fault.
    fake.fail_next("CreateHITWithHITType", times=UNITS, kind="drop_after", calls="first")
    fake.fail_next("CreateHITWithHITType", times=UNITS, kind="slow", delay=8, calls="repeats")
    first = start_launch(str(static_task), *MTURK_ARGS)
    wait_for("the HITs made at MTurk", lambda: len(fake.snapshot().hits) == UNITS)
    time.sleep(0.3)  # the retries are on their way and hang
    first.kill()
    db = _db(mephisto_settings)
    try:
        assert [u.provider_unit_id for u in Unit.select()] == [None] * UNITS  # the operator never heard back
    finally:
        db.close()

    second = start_launch(str(static_task), *MTURK_ARGS)
    second.wait_for_link()
    db = _db(mephisto_settings)
    try:
        recorded = sorted(u.provider_unit_id for u in Unit.select())
    finally:
        db.close()
    assert recorded == sorted(fake.snapshot().hits)  # each unit got the HIT made under its key
    created = [r for r in fake.requests("CreateHITWithHITType") if r.error is None]
    assert len(fake.snapshot().hits) == UNITS and len(created) <= UNITS  # a repeat was refused, never a new HIT
    second.stop_cleanly(60)
    assert open_hits(fake) == []
