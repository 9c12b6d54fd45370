"""Real Chromium on the review app while a run is going: the live panel shows the run's metrics, a quality rule
that fired on the static template's answers is listed, and its Undo button lifts it (SQLite, real router, the
mock provider, simulated workers over real WebSockets, the review server over real HTTP)."""

from __future__ import annotations

import asyncio
import csv
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from mephisto_core.abstractions import SimulatedAnswer
from mephisto_core.data_model import Database, Worker
from mephisto_core.data_model.qualifications import granted_value
from mephisto_core.data_model.rule_actions import RuleAction
from mephisto_core.operations.run.operator import Operator
from mephisto_core.operations.run.simulate import SimulatedWorker
from mephisto_core.review_app.app import ReviewApp
from mephisto_core.review_app.server import ReviewServer
from mephisto_core.settings import Settings
from mephisto_core.task_config import load_task_config

RULE = """
[[task.quality_rules]]
name = "look-again"
measure = "agreement"
after = 1
below = 1.0
fields = ["answer"]
action = "grant"
qualification = "needs-a-look"
"""


def _task(static_task: Path) -> Any:
    data = static_task.parent / "three.csv"  # a third item keeps the run going after the four answers
    with data.open("w", newline="") as fh:
        rows = csv.writer(fh)
        rows.writerow(["topic", "prompt"])
        rows.writerows([f"topic-{i}", f"Describe thing {i}."] for i in range(3))
    text = static_task.read_text().replace("[blueprint]", f"units_per_assignment = 2\n{RULE}\n[blueprint]", 1)
    static_task.write_text(text)
    return load_task_config(static_task, ["architect.port=0", f"blueprint.data_csv={data}"])


def test_live_numbers_and_a_rule_action_undone_in_the_review_app(
    static_task: Path, database: Database, mephisto_settings: Settings, page: Page, request: Any
) -> None:
    config = _task(static_task)
    settings = mephisto_settings.model_copy(update={"metrics_port": 0})
    serving, stop = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    async def run() -> None:
        operator = Operator(settings, database)
        running = asyncio.create_task(operator.run(config))
        await asyncio.wait_for(operator.ready.wait(), 20)
        assert operator.ctx is not None
        blueprint = operator.ctx.blueprint

        def own_words(init_data: dict[str, Any], rng: random.Random) -> SimulatedAnswer:
            answer = blueprint.simulate_answer(init_data, rng)
            answer.outputs["answer"] += " In my own words."
            return answer

        # ann and bob answer both items; bob's answers differ from ann's: agreement 0 % for both.
        for name, answers in (("ann", blueprint.simulate_answer), ("bob", own_words)):
            bot = SimulatedWorker(operator.stats.worker_url, name, answers, max_units=2)
            assert (await bot.run()).submitted == 2
        deadline = time.monotonic() + 20
        while RuleAction.select().where(RuleAction.platform_status != "pending").count() < 2:
            assert time.monotonic() < deadline, "the rule did not fire for both workers"
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # the panel's unit counts refresh every tick
        serving.set()
        await asyncio.to_thread(stop.wait, 60)
        operator.request_stop()
        await asyncio.wait_for(running, 30)

    def operate() -> None:
        try:
            asyncio.run(run())
        except BaseException as exc:  # handed to the test thread, which fails with it
            failure.append(exc)
            serving.set()

    thread = threading.Thread(target=operate)
    thread.start()
    server = ReviewServer(ReviewApp(mephisto_settings, database), "127.0.0.1", 0)
    server.start()
    try:
        assert serving.wait(60) and not failure, failure
        page.goto(server.url)
        live = page.locator("#live-panel")
        expect(live).to_be_visible(timeout=10_000)
        expect(live.locator("tbody tr")).to_have_count(1)
        expect(live.locator("tbody tr td").nth(0)).to_have_text(config.task.name)
        expect(live.locator("tbody tr td").nth(2)).to_have_text("4 completed, 2 launched")
        expect(live.locator("tbody tr td").nth(5)).to_have_text("0")  # both bots closed their pages
        # The open unit's worker history shows the rule's record, by the rule (ann and bob both got one).
        page.locator("#unit-table tbody tr").first.click()
        expect(page.locator("#unit-detail")).to_contain_text(
            "quality rule 'look-again': agreement with the other workers 0%", timeout=10_000
        )
        rules = page.locator("#rule-actions-panel")
        expect(rules.locator("tbody tr")).to_have_count(2)
        expect(rules).to_contain_text("look-again")
        expect(rules).to_contain_text("grant needs-a-look")
        expect(rules).to_contain_text("0% of ")
        if os.environ.get("MEPHISTO_DOCS_SCREENSHOTS") == "1" and "sqlite" in request.node.name:
            images = Path(__file__).parents[2] / "docs" / "images"
            images.mkdir(exist_ok=True)
            page.locator(".quality-panels").screenshot(path=str(images / "review-quality-panel.png"))
        ann_row = rules.locator("tbody tr", has_text="ann")
        ann_row.get_by_role("button", name="Undo").click()
        expect(rules.locator("[data-role=note]")).to_contain_text("Undid quality rule action")
        expect(ann_row).to_contain_text("undone")
        expect(rules.locator("tbody tr", has_text="bob").get_by_role("button", name="Undo")).to_be_visible()
    finally:
        stop.set()
        thread.join(60)
        server.shutdown()
    assert not failure, failure
    assert granted_value(Worker.get(Worker.name == "ann"), "needs-a-look") is None
    assert granted_value(Worker.get(Worker.name == "bob"), "needs-a-look") == 1
