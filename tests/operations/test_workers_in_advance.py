"""Blocking and qualifying workers who have never opened a task: the real CLI, then the real worker's arrival."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import connect

from mephisto_core.data_model import Review, Worker, open_database
from mephisto_core.data_model.qualifications import BLOCK_QUALIFICATION, granted_value
from mephisto_core.operations.run.operator import Operator
from mephisto_core.task_config import load_task_config

pytestmark = pytest.mark.usefixtures("test_types")


async def hello(url: str, worker: str) -> dict[str, Any]:
    async with connect("ws" + url[4:] + "ws") as ws:
        await ws.send(json.dumps({"type": "hello", "id": 1, "params": {"worker_id": worker}, "token": None}))
        while True:
            reply = dict(json.loads(await asyncio.wait_for(ws.recv(), 10)))
            if reply.get("id") == 1:
                return reply


def test_workers_blocked_and_granted_before_they_ever_came_are_refused_and_admitted(
    mephisto_cli, mephisto_settings, task_file
):
    blocked = mephisto_cli("workers", "block", "mallory", "--reason", "known spammer", "--provider", "crowd_test")
    assert blocked.exit_code == 0, blocked.output
    assert "added as a worker of provider 'crowd_test'" in blocked.output
    assert "provider was not told" in blocked.output  # no run of crowd_test to act through yet
    granted = mephisto_cli("qualifications", "grant", "adult", "trent", "--provider", "crowd_test")
    assert granted.exit_code == 0, granted.output
    task_blocked = mephisto_cli("workers", "block", "oscar", "--reason", "pilot", "--task", "echo")
    assert task_blocked.exit_code == 0, task_blocked.output  # one provider known now: it is the default

    db = open_database(None, mephisto_settings.sqlite_path)
    try:
        workers = {w.name: w for w in Worker.select()}
        assert {n: w.provider_type for n, w in workers.items()} == {
            "mallory": "crowd_test",
            "trent": "crowd_test",
            "oscar": "crowd_test",
        }
        assert granted_value(workers["mallory"], BLOCK_QUALIFICATION) == 1
        records = [(r.kind, r.feedback) for r in Review.select().where(Review.worker == workers["mallory"])]
        assert records[0] == ("block", "known spammer")
        assert records[1][0] == "platform" and "the provider was not told" in records[1][1]
        config = load_task_config(task_file(rows=3, qualifications=[{"name": "adult", "comparator": "==", "value": 1}]))

        async def main() -> dict[str, dict[str, Any]]:
            operator = Operator(mephisto_settings, db)
            run = asyncio.create_task(operator.run(config))
            await asyncio.wait_for(operator.ready.wait(), 20)
            try:
                return {name: await hello(operator.stats.worker_url, name) for name in ("mallory", "trent", "minnie")}
            finally:
                operator.request_stop()
                operator.request_stop()
                await asyncio.wait_for(run, 20)

        answers = asyncio.run(main())
    finally:
        db.close()
    assert (answers["mallory"]["type"], answers["mallory"]["reason"]) == ("refused", "blocked")
    assert answers["trent"]["type"] == "assigned"  # the grant made in advance is theirs on arrival
    assert (answers["minnie"]["type"], answers["minnie"]["reason"]) == ("refused", "not_qualified")


def test_adding_a_worker_needs_a_known_provider(mephisto_cli):
    nobody_ran = mephisto_cli("workers", "block", "eve", "--reason", "x")
    assert nobody_ran.exit_code == 1
    assert "no worker named 'eve' yet" in nobody_ran.output and "--provider" in nobody_ran.output
    typo = mephisto_cli("qualifications", "grant", "adult", "eve", "--provider", "crowd_tset")
    assert typo.exit_code == 1 and "unknown provider type 'crowd_tset'" in typo.output
    assert "crowd_test" in typo.output  # the installed types are listed
    # Lifting what was never there stays an error: nothing is created for it.
    unblock = mephisto_cli("workers", "unblock", "eve")
    assert unblock.exit_code == 1 and "no worker named 'eve'" in unblock.output
