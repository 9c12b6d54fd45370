"""Agreement rules act once an assignment has all its answers: a revoke and a global block fire for the workers
who disagree, go through the provider, are recorded, hold at the next hello, and are undone (the revoked value
comes back). Real operator and router on 127.0.0.1, real SQLite and PostgreSQL, pages over real WebSockets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from quality_rules_helpers import RulePlatformPlugin, RulePlatformProvider, until_told
from socket_page import run_with_operator
from test_rules_through_router import say, submit

from mephisto_core.data_model import Review, ReviewKind, Worker
from mephisto_core.data_model.qualifications import BLOCK_QUALIFICATION, grant_qualification, granted_value
from mephisto_core.data_model.rule_actions import RuleAction
from mephisto_core.operations.review.actions import ReviewActions
from mephisto_core.operations.run import quality_rules
from mephisto_core.task_config import load_task_config

pytestmark = pytest.mark.usefixtures("test_types")

RULES = [
    {"name": "outlier", "measure": "agreement", "after": 1, "below": 0.5, "action": "block"},
    {
        "name": "untrust",
        "measure": "agreement",
        "after": 1,
        "below": 0.75,
        "action": "revoke",
        "qualification": "trusted",
    },
]


@pytest.fixture
def agreement_task(mephisto_register_plugin: Any, task_file: Any, tmp_path: Path) -> Any:
    mephisto_register_plugin(RulePlatformPlugin())
    RulePlatformProvider.calls.clear()
    path = task_file(rows=2, units_per_assignment=2, quality_rules=RULES)
    path.write_text(path.read_text().replace('type = "crowd_test"', 'type = "rule_platform_test"'))
    return load_task_config(path)


def test_agreement_rules_fire_when_assignments_complete_and_undo(database, mephisto_settings, agreement_task) -> None:
    with database.write():
        for name in ("ann", "cid"):
            grant_qualification(Worker.create(provider_type="rule_platform_test", name=name), "trusted", 2)

    async def scenario(url: str) -> None:
        # ann answers both items "x"; bob agrees on the first, cid disagrees on the second.
        first, stored = await say(url, "ann", submit("x", "ann-key-1"))
        assert stored["type"] == "submitted", stored
        second, _ = await say(url, "ann", submit("x", "ann-key-2"))
        assert {first["init_data"]["n"], second["init_data"]["n"]} == {0, 1}
        await say(url, "bob", submit("x", "bob-key-1"))  # completes item 0: ann 1/1, bob 1/1, no rule fires
        assert RuleAction.select().count() == 0
        await say(url, "cid", submit("z", "cid-key-1"))  # completes item 1: ann 1/2 = 50 %, cid 0 %
        await until_told(3)
        (refused,) = await say(url, "cid")
        assert refused["reason"] == "blocked"

    run_with_operator(database, mephisto_settings, agreement_task, scenario)
    ann, cid = Worker.get(Worker.name == "ann"), Worker.get(Worker.name == "cid")
    fired = {(a.rule, a.worker_id): a for a in RuleAction.select()}
    assert set(fired) == {("untrust", ann.id), ("outlier", cid.id), ("untrust", cid.id)}  # ann's 50 % is not < 50 %
    # ann's tally was read whole when item 0 completed, then item 1 was added: the same as a full read now.
    assert fired[("untrust", ann.id)].score == 0.5 and fired[("untrust", ann.id)].counted == 2
    assert quality_rules.agreement_score(fired[("untrust", ann.id)].task_id, ann.id, []) == (0.5, 2)
    assert fired[("outlier", cid.id)].score == 0.0 and fired[("outlier", cid.id)].previous_value is None
    assert all(a.platform_status == "done" for a in fired.values())
    assert sorted(c[:2] for c in RulePlatformProvider.calls) == [("block", "cid"), ("revoke", "ann"), ("revoke", "cid")]
    assert granted_value(ann, "trusted") is None and granted_value(cid, BLOCK_QUALIFICATION) == 1
    (block_record,) = Review.select().where(Review.kind == ReviewKind.BLOCK.value)
    assert block_record.reviewer == "rule outlier" and "agreement with the other workers 0%" in block_record.feedback

    RulePlatformProvider.calls.clear()
    actions = ReviewActions(database, mephisto_settings, reviewer="alice@lab")
    outcomes = quality_rules.undo(actions, fired[("untrust", ann.id)].id)
    assert [o.status for o in outcomes] == ["done"] and granted_value(ann, "trusted") == 2  # the old value back
    quality_rules.undo(actions, fired[("outlier", cid.id)].id)
    assert granted_value(cid, BLOCK_QUALIFICATION) is None
    assert RulePlatformProvider.calls == [("grant", "ann", "trusted", 2), ("unblock", "cid")]
    rows = {row["id"]: row for row in quality_rules.action_rows(task_name="echo")}
    assert rows[fired[("outlier", cid.id)].id]["undone"] is not None
    assert rows[fired[("untrust", cid.id)].id]["undone"] is None
    assert RuleAction.get_by_id(fired[("outlier", cid.id)].id).undone_by == "alice@lab"
