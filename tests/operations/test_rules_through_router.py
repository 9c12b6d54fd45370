"""Worker rules seen from the page: refusals and checks through the real router and protocol."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from socket_page import run_with_operator
from websockets.asyncio.client import connect

from mephisto_core.data_model import Worker
from mephisto_core.data_model.qualifications import BLOCK_QUALIFICATION, grant_qualification
from mephisto_core.task_config import load_task_config

pytestmark = pytest.mark.usefixtures("test_types")


async def say(url: str, worker: str, *messages: dict[str, Any]) -> list[dict[str, Any]]:
    """Open a page for `worker`, say hello, then send each message; return every answer in order."""
    answers = []
    async with connect("ws" + url[4:] + "ws") as ws:
        for number, msg in enumerate([{"type": "hello", "params": {"worker_id": worker}, "token": None}, *messages]):
            await ws.send(json.dumps({**msg, "id": number + 1}))
            while True:
                reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if reply.get("id") == number + 1:
                    answers.append(reply)
                    break
    return answers


def submit(answer: str, key: str) -> dict[str, Any]:
    return {"type": "submit", "submit_key": key, "outputs": {"answer": answer}, "uploads": []}


def test_refusals_reach_the_page_in_words_and_the_panel_counts_them(database, mephisto_settings, task_file, tmp_path):
    (tmp_path / "checks.py").write_text("def onboard(outputs):\n    return outputs.get('answer') == 'yes'\n")
    config = load_task_config(
        task_file(
            rows=4,
            onboarding=True,
            task_onboarding={"validator": "checks:onboard"},
            qualifications=[{"name": "adult", "comparator": "==", "value": 1}],
            maximum_units_per_worker=1,
        )
    )
    with database.write():
        for name in ("alice", "bob", "carol", "mallory"):
            grant_qualification(Worker.create(provider_type="crowd_test", name=name), "adult", 1)
        grant_qualification(Worker.get(Worker.name == "mallory"), BLOCK_QUALIFICATION, 1)

    async def scenario(url: str) -> None:
        (minor,) = await say(url, "minnie")
        assert minor["reason"] == "not_qualified" and "qualification 'adult' is equal to 1" in minor["message"]
        (blocked,) = await say(url, "mallory")
        assert blocked == {
            "type": "refused",
            "id": 1,
            "reason": "blocked",
            "message": "You can no longer work on this task.",
        }
        onboarding, passed = await say(url, "alice", submit("yes", "alice-onb-1"))
        assert onboarding["is_onboarding"] and passed["next"] == "onboarding_passed"
        unit, done, over_limit = await say(
            url,
            "alice",
            submit("a", "alice-unit-1"),
            {"type": "hello", "params": {"worker_id": "alice"}, "token": None},
        )
        assert unit["type"] == "assigned" and not unit["is_onboarding"] and done["type"] == "submitted"
        assert over_limit["reason"] == "max_units_reached"
        onboarding, failed = await say(url, "bob", submit("no", "bob-onb-1"))
        assert failed["next"] == "onboarding_failed"
        (never,) = await say(url, "bob")
        assert never["reason"] == "not_qualified" and "qualification test" in never["message"]

    stats = run_with_operator(database, mephisto_settings, config, scenario)
    assert stats.refusals == {"not_qualified": 2, "blocked": 1, "max_units_reached": 1}


def test_screening_and_gold_failures_stop_the_worker(database, mephisto_settings, task_file, tmp_path):
    (tmp_path / "checks.py").write_text("def screen(inputs, outputs):\n    return outputs['answer'] != 'bad'\n")
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"inputs": {"n": 99}, "answers": {"answer": "right"}}) + "\n")
    screened = load_task_config(task_file(rows=4, screening={"units": 1, "validator": "checks:screen"}))

    async def screening(url: str) -> None:
        _, done, refused = await say(
            url, "bob", submit("bad", "bob-key-01"), {"type": "hello", "params": {"worker_id": "bob"}, "token": None}
        )
        assert done["type"] == "submitted" and refused["reason"] == "not_qualified"
        assert "did not pass the check" in refused["message"]

    run_with_operator(database, mephisto_settings, screened, screening)

    golden = load_task_config(task_file(rows=4, gold={"data_jsonl": str(gold), "every": 5, "max_wrong": 0}))

    async def gold_check(url: str) -> None:
        assigned, done, refused = await say(
            url,
            "carol",
            submit("wrong", "carol-key-1"),
            {"type": "hello", "params": {"worker_id": "carol"}, "token": None},
        )
        assert assigned["init_data"]["n"] == 99 and done["type"] == "submitted"
        assert refused["reason"] == "not_qualified" and "check questions" in refused["message"]

    # A new task name: the gold run must not resume the screening run.
    golden.task.name = "echo-gold"
    run_with_operator(database, mephisto_settings, golden, gold_check)
