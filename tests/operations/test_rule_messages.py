"""Which rule refused a worker is what the worker reads; gold units count towards the per-worker limit; onboarding
rules on a task with no onboarding page stop the launch before any run exists."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from pool_helpers import call, hello

from mephisto_core.data_model import TaskRun, Unit, Worker
from mephisto_core.data_model.qualifications import grant_qualification
from mephisto_core.errors import ConfigError
from mephisto_core.operations.run.operator import Operator
from mephisto_core.operations.run.replies import Assigned, Refusal, Refused, Submitted
from mephisto_core.task_config import load_task_config

pytestmark = pytest.mark.usefixtures("test_types")


def refusal_text(result: Any) -> str:
    assert isinstance(result, Refused) and result.reason == Refusal.NOT_QUALIFIED, result
    return str(result.message(1)["message"])


def test_a_qualification_refusal_names_the_rule_that_refused(database, make_pool):
    pool = make_pool(
        rows=3,
        qualifications=[
            {"name": "english", "comparator": ">=", "value": 3},
            {"name": "pilot", "comparator": "not_exists"},
            {"name": "region", "comparator": "in", "value": [1, 2]},
        ],
    )
    assert refusal_text(hello(database, pool, "ann")) == (
        "This task is open only to workers whose qualification 'english' is at least 3; you do not have it."
    )
    with database.write():
        grants = {"bob": {"english": 2}, "cat": {"english": 4, "pilot": 1}, "dan": {"english": 4, "region": 5}}
        for name, held in grants.items():
            worker = Worker.create(provider_type="crowd_test", name=name)
            for qualification, value in held.items():
                grant_qualification(worker, qualification, value)
    assert refusal_text(hello(database, pool, "bob")).endswith("'english' is at least 3; yours is 2.")
    assert refusal_text(hello(database, pool, "cat")) == (
        "This task is not open to workers with the qualification 'pilot', and you have it."
    )
    assert refusal_text(hello(database, pool, "dan")).endswith("'region' is one of 1, 2; yours is 5.")


def test_gold_units_count_towards_maximum_units_per_worker(database, make_pool, tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text(
        "".join(json.dumps({"inputs": {"n": 100 + i}, "answers": {"answer": "g"}}) + "\n" for i in range(3))
    )
    pool = make_pool(rows=6, maximum_units_per_worker=3, gold={"data_jsonl": str(gold), "every": 2})
    kinds = []
    for i in range(3):
        got = hello(database, pool, "alice")
        assert isinstance(got, Assigned), (i, got)
        kinds.append("gold" if Unit.get_by_id(got.unit_id).unit_index < 0 else "real")
        assert isinstance(
            call(database, pool.submit, got.agent_id, False, f"alice-key-{i}", {"answer": "g"}, []), Submitted
        )
    assert kinds == ["gold", "real", "gold"]
    over = hello(database, pool, "alice")
    assert isinstance(over, Refused) and over.reason == Refusal.MAX_UNITS_REACHED


def test_launch_refuses_onboarding_rules_without_an_onboarding_page_and_leaves_no_run(
    database, mephisto_settings, task_file
):
    config = load_task_config(task_file(rows=2, onboarding=False, task_onboarding={"answers": {"answer": "yes"}}))
    with pytest.raises(ConfigError) as caught:
        asyncio.run(Operator(mephisto_settings, database).run(config))
    assert caught.value.key == "task.onboarding" and caught.value.line is not None
    assert "remove [task.onboarding]" in str(caught.value)
    assert TaskRun.select().count() == 0
