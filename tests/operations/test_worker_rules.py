"""Who may work: qualification requirements, blocks, onboarding answers, screening and gold units."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pool_helpers import call, hello

from mephisto_core.abstractions.task_args import QualificationRequirement
from mephisto_core.data_model import Agent, Review, ReviewKind, Unit, UnitStatus, Worker
from mephisto_core.data_model.qualifications import BLOCK_QUALIFICATION, grant_qualification, granted_value
from mephisto_core.errors import ConfigError
from mephisto_core.operations.run.replies import Assigned, Refusal, Refused, Submitted
from mephisto_core.operations.run.worker_rules import load_function, load_gold, unmet_requirement

pytestmark = pytest.mark.usefixtures("test_types")


def worker_named(name: str) -> Worker:
    return Worker.get(Worker.name == name)


def refused_for(result: Any, reason: Refusal) -> bool:
    return isinstance(result, Refused) and result.reason == reason


@pytest.mark.parametrize(
    ("comparator", "value", "held", "ok"),
    [
        ("exists", None, None, False),
        ("exists", None, 0, True),
        ("not_exists", None, None, True),
        ("not_exists", None, 1, False),
        ("==", 3, 3, True),
        ("==", 3, None, False),
        ("!=", 3, 4, True),
        (">", 3, 3, False),
        (">=", 3, 3, True),
        ("<", 3, 2, True),
        ("<=", 3, 4, False),
        ("in", [1, 2], 2, True),
        ("not_in", [1, 2], 2, False),
        ("not_in", [1, 2], None, False),
    ],
)
def test_requirement_comparators(comparator, value, held, ok):
    grants = {} if held is None else {"skill": held, "other": 7}
    requirement = QualificationRequirement(name="skill", comparator=comparator, value=value)
    assert (unmet_requirement(grants, [requirement]) is None) is ok


def test_worker_without_the_required_qualification_is_refused_and_nothing_reserved(database, make_pool):
    pool = make_pool(qualifications=[{"name": "english", "comparator": ">=", "value": 3}])
    refused = hello(database, pool, "alice")
    assert refused_for(refused, Refusal.NOT_QUALIFIED)
    assert "qualification 'english' is at least 3" in refused.message(1)["message"]
    assert Agent.select().count() == 0
    assert Unit.select().where(Unit.status == UnitStatus.ASSIGNED).count() == 0
    with database.write():
        grant_qualification(worker_named("alice"), "english", 4)
    assert isinstance(hello(database, pool, "alice"), Assigned)


def test_globally_blocked_and_task_blocked_workers_are_refused(database, make_pool):
    pool = make_pool()
    hello(database, pool, "alice"), hello(database, pool, "bob")
    with database.write():
        grant_qualification(worker_named("alice"), BLOCK_QUALIFICATION, 1)
        grant_qualification(worker_named("bob"), "echo-blocked", 1)
    for name in ("alice", "bob"):
        refused = hello(database, pool, name)
        assert refused_for(refused, Refusal.BLOCKED)
        assert refused.message(1)["message"] == "You can no longer work on this task."


def test_onboarding_graded_by_a_validator_function_in_the_task_folder(database, make_pool, tmp_path):
    (tmp_path / "checks.py").write_text("def onboard(outputs):\n    return outputs.get('answer') == '42'\n")
    pool = make_pool(onboarding=True, task_onboarding={"validator": "checks:onboard"})
    first = hello(database, pool, "alice")
    assert first.is_onboarding
    failed = call(database, pool.submit, first.agent_id, True, "onb-key-alice", {"answer": "yes"}, [])
    assert failed.next == "onboarding_failed"
    refused = hello(database, pool, "alice")
    assert refused_for(refused, Refusal.NOT_QUALIFIED) and "qualification test" in refused.message(1)["message"]
    assert [r.kind for r in Review.select()] == [ReviewKind.ONBOARDING_FAIL]


def test_onboarding_answers_from_the_task_file(database, make_pool):
    pool = make_pool(onboarding=True, task_onboarding={"answers": {"answer": "42"}})
    first = hello(database, pool, "alice")
    passed = call(database, pool.submit, first.agent_id, True, "onb-key-alice", {"answer": " 42 "}, [])
    assert passed.next == "onboarding_passed"
    assert isinstance(hello(database, pool, "alice"), Assigned)


def test_failed_screening_stops_the_worker_and_passed_screening_lets_them_continue(database, make_pool, tmp_path):
    (tmp_path / "checks.py").write_text("def screen(inputs, outputs):\n    return outputs['answer'] != 'bad'\n")
    pool = make_pool(rows=5, screening={"units": 2, "validator": "checks:screen"})
    for name, answers in (("alice", ["good", "good", "good"]), ("bob", ["good", "bad"])):
        for i, answer in enumerate(answers):
            got = hello(database, pool, name)
            assert isinstance(got, Assigned), (name, i, got)
            assert isinstance(
                call(database, pool.submit, got.agent_id, False, f"{name}-key-{i}", {"answer": answer}, []), Submitted
            )
    assert granted_value(worker_named("alice"), "echo-screened") == 1
    assert granted_value(worker_named("bob"), "echo-screened") == 0
    refused = hello(database, pool, "bob")
    assert refused_for(refused, Refusal.NOT_QUALIFIED) and "did not pass the check" in refused.message(1)["message"]
    kinds = sorted(r.kind for r in Review.select())
    assert kinds == sorted([ReviewKind.SCREEN_PASS] * 3 + [ReviewKind.SCREEN_FAIL])


def test_gold_units_are_mixed_in_graded_and_too_many_wrong_answers_stop_the_worker(database, make_pool, tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text(
        "\n".join(json.dumps({"inputs": {"n": 100 + i}, "answers": {"answer": f"gold-{i}"}}) for i in range(3)) + "\n"
    )
    pool = make_pool(rows=6, gold={"data_jsonl": str(gold), "every": 2, "max_wrong": 0})
    first = hello(database, pool, "alice")
    assert first.init_data["n"] == 100  # the first unit is gold
    assert Unit.get_by_id(first.unit_id).unit_index == -2
    call(database, pool.submit, first.agent_id, False, "alice-gold-0", {"answer": "gold-0"}, [])
    second = hello(database, pool, "alice")
    assert second.init_data["n"] < 100  # then a normal unit
    call(database, pool.submit, second.agent_id, False, "alice-real-1", {"answer": "x"}, [])
    third = hello(database, pool, "alice")
    assert third.init_data["n"] == 101  # a gold unit she has not seen
    call(database, pool.submit, third.agent_id, False, "alice-gold-1", {"answer": "wrong"}, [])
    stopped = hello(database, pool, "alice")
    assert refused_for(stopped, Refusal.NOT_QUALIFIED) and "check questions" in stopped.message(1)["message"]
    results = [(r.kind, r.feedback) for r in Review.select().order_by(Review.id)]
    assert results == [
        (ReviewKind.GOLD_CORRECT, "all answers as expected"),
        (ReviewKind.GOLD_WRONG, "wrong fields: answer"),
    ]
    # Gold units are extra: the run's own units are unaffected and still offered to others.
    assert Unit.select().where(Unit.unit_index >= 0).count() == 6


def test_bad_validator_and_gold_file_are_config_errors(tmp_path: Path):
    with pytest.raises(ConfigError, match="cannot import 'nope'"):
        load_function("nope:fn", tmp_path, "task.screening.validator")
    with pytest.raises(ConfigError, match="not of the form module:function"):
        load_function("justname", tmp_path, "task.screening.validator")
    bad = tmp_path / "gold.jsonl"
    bad.write_text('{"inputs": {}, "answers": {"a": 1}}\n{"inputs": {}}\n')
    with pytest.raises(ConfigError, match=r"gold.jsonl:2.*answers"):
        load_gold(bad)
