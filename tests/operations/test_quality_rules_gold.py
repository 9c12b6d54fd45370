"""Gold-accuracy rules act by themselves: a grant and a task block fire once, reach the provider, are recorded
with the rule, stop the worker, and are undone from the command line through the provider.

Real operator and router on 127.0.0.1, real SQLite and PostgreSQL, the worker's page over a real WebSocket."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from quality_rules_helpers import RulePlatformPlugin, RulePlatformProvider, hello, until_told
from socket_page import run_with_operator
from test_rules_through_router import say, submit

from mephisto_core.data_model import Review, ReviewKind, Worker
from mephisto_core.data_model.models import database_proxy
from mephisto_core.data_model.qualifications import granted_value
from mephisto_core.data_model.rule_actions import RuleAction
from mephisto_core.errors import ConfigError
from mephisto_core.operations.run.worker_rules import RunRules
from mephisto_core.task_config import load_task_config

pytestmark = pytest.mark.usefixtures("test_types")

RULES = [
    {"name": "sloppy", "measure": "gold", "after": 1, "below": 1.0, "action": "grant", "qualification": "sloppy"},
    {"name": "gold-floor", "measure": "gold", "after": 2, "below": 0.6, "action": "block_task"},
]


@pytest.fixture
def gold_task(mephisto_register_plugin: Any, task_file: Any, tmp_path: Path) -> Any:
    mephisto_register_plugin(RulePlatformPlugin())
    RulePlatformProvider.calls.clear()
    gold = tmp_path / "gold.jsonl"
    gold.write_text(
        "".join(json.dumps({"inputs": {"n": 90 + i}, "answers": {"answer": "right"}}) + "\n" for i in range(2))
    )
    path = task_file(rows=3, gold={"data_jsonl": str(gold), "every": 1, "max_wrong": 10}, quality_rules=RULES)
    path.write_text(path.read_text().replace('type = "crowd_test"', 'type = "rule_platform_test"'))
    return path


def test_gold_rules_fire_once_through_the_provider_and_undo(database, mephisto_settings, gold_task, mephisto_cli):
    def cli(*args: str) -> Any:
        result = mephisto_cli(*args)
        database_proxy.initialize(database.db)  # the command closed its connection, which unbinds the models
        return result

    async def scenario(url: str) -> None:
        first, done = await say(url, "carol", submit("wrong", "carol-g1"))
        assert first["init_data"]["n"] == 90 and done["type"] == "submitted"
        await until_told(1)  # 1 gold unit graded, accuracy 0 %: "sloppy" fired, "gold-floor" waits for 2
        second, done = await say(url, "carol", submit("wrong", "carol-g2"))
        assert second["init_data"]["n"] == 91 and done["type"] == "submitted"
        await until_told(2)
        (refused,) = await say(url, "carol")  # the task block holds from her next hello
        assert refused["reason"] in {"blocked", "not_qualified"}, refused
        dana, done, more = await say(url, "dana", submit("right", "dana-g1"), hello("dana"))
        assert dana["init_data"]["n"] == 90 and more["type"] == "assigned"  # right answers: no rule fires

    run_with_operator(database, mephisto_settings, load_task_config(gold_task), scenario)
    carol = Worker.get(Worker.name == "carol")
    actions = list(RuleAction.select().order_by(RuleAction.id))
    assert [(a.rule, a.action, a.worker_id, a.counted, a.score) for a in actions] == [
        ("sloppy", "grant", carol.id, 1, 0.0),
        ("gold-floor", "block_task", carol.id, 2, 0.0),
    ]
    assert [a.platform_status for a in actions] == ["done", "done"]
    assert RulePlatformProvider.calls[0] == ("grant", "carol", "sloppy", 1)
    kind, name, task, reason = RulePlatformProvider.calls[1]
    assert (kind, name, task) == ("block_task", "carol", "echo") and "'gold-floor'" in reason and "0%" in reason
    assert len(RulePlatformProvider.calls) == 2  # each rule fired once
    assert granted_value(carol, "sloppy") == 1 and granted_value(carol, "echo-blocked") == 1
    by_rule = {r.reviewer: r for r in Review.select().where(Review.kind == ReviewKind.GRANT.value)}
    assert set(by_rule) == {"rule sloppy", "rule gold-floor"}
    assert "gold accuracy 0% below 60% after 2 gold units" in by_rule["rule gold-floor"].feedback
    platform = [r.reviewer for r in Review.select().where(Review.kind == ReviewKind.PLATFORM.value)]
    assert sorted(platform) == ["rule gold-floor", "rule sloppy"]

    listed = cli("quality", "actions", "--json")
    assert listed.exit_code == 0, listed.output
    assert [(row["rule"], row["worker"], row["undone"]) for row in json.loads(listed.output)] == [
        ("gold-floor", "carol", None),
        ("sloppy", "carol", None),
    ]
    RulePlatformProvider.calls.clear()
    for action in actions:
        undone = cli("quality", "undo", str(action.id))
        assert undone.exit_code == 0, undone.output
        assert f"Undid quality rule action {action.id}." in undone.output and "Platform:" in undone.output
    assert RulePlatformProvider.calls == [("revoke", "carol", "sloppy"), ("unblock_task", "carol", "echo")]
    assert granted_value(carol, "sloppy") is None and granted_value(carol, "echo-blocked") is None
    assert all(a.undone_at is not None and a.undone_by == "cli" for a in RuleAction.select())
    again = cli("quality", "undo", str(actions[0].id))
    assert again.exit_code != 0 and "undone already" in again.output


def test_mephisto_check_names_the_rule_and_its_line(task_file: Any, mephisto_cli: Any) -> None:
    path = task_file()
    path.write_text(
        path.read_text() + '\n[[task.quality_rules]]\nname = "floor"\nmeasure = "gold"\nafter = 3\n'
        'below = 0.5\naction = "block"\n'
    )
    line = path.read_text().splitlines().index("[[task.quality_rules]]") + 1
    result = mephisto_cli("check", str(path))
    assert result.exit_code != 0
    assert f"task.toml:{line}" in result.output and "quality rule 'floor'" in result.output, result.output


def test_rules_that_could_never_fire_are_refused_with_their_line(task_file: Any) -> None:
    no_gold = task_file()
    rule = "\n".join(f"{key} = {json.dumps(value)}" for key, value in RULES[1].items())
    no_gold.write_text(no_gold.read_text() + "\n[[task.quality_rules]]\n" + rule + "\n")
    with pytest.raises(ConfigError) as raised:
        RunRules.from_config(load_task_config(no_gold))
    assert "quality rule 'gold-floor'" in str(raised.value) and "[task.gold]" in str(raised.value)
    assert raised.value.key == "task.quality_rules[0]"
    assert raised.value.line == no_gold.read_text().splitlines().index("[[task.quality_rules]]") + 1
    agreeing = [{**RULES[0], "measure": "agreement"}, {**RULES[1], "measure": "agreement", "name": "sloppy"}]
    inline = task_file(units_per_assignment=2, quality_rules=agreeing)
    with pytest.raises(ConfigError, match="a second rule is named 'sloppy'") as raised:
        RunRules.from_config(load_task_config(inline))
    lines = inline.read_text().splitlines()
    headers = [n for n, line in enumerate(lines, start=1) if line == "[[task.quality_rules]]"]
    assert len(headers) == 2 and raised.value.line == headers[1] and raised.value.key == "task.quality_rules[1]"
    no_qualification = task_file(quality_rules=[{k: v for k, v in RULES[0].items() if k != "qualification"}])
    with pytest.raises(ConfigError, match="needs `qualification`"):
        load_task_config(no_qualification)
