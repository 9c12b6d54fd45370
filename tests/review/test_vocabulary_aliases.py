"""One vocabulary for unit statuses: the stored words, with the review app's words accepted as aliases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from review_helpers import task_units

from mephisto_core.cli import cli
from mephisto_core.data_model import Task
from mephisto_core.errors import MephistoError
from mephisto_core.operations.unit_filters import unit_statuses


def test_aliases_resolve_to_the_stored_words_and_unknown_words_list_them() -> None:
    assert unit_statuses(["approved", "Awaiting review", "soft-rejected", "accepted"]) == (
        "accepted",
        "completed",
        "soft_rejected",
    )
    with pytest.raises(MephistoError) as caught:
        unit_statuses(["finished"])
    message = str(caught.value)
    assert "status 'finished' is not a unit status" in message
    assert "approved = accepted" in message and "awaiting_review = completed" in message


def test_export_takes_status_approved(review_data: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["review", "--cli", "--task", "study"], input="a\na\nq\n")
    assert result.exit_code == 0, result.output
    approved = runner.invoke(cli, ["export", "--task", "study", "--status", "approved", "--format", "json"])
    assert approved.exit_code == 0, approved.output
    rows = json.loads(approved.output)
    assert [r["status"] for r in rows] == ["accepted", "accepted"]
    waiting = runner.invoke(cli, ["export", "--task", "study", "--status", "awaiting-review", "--format", "json"])
    assert waiting.exit_code == 0, waiting.output
    assert len(json.loads(waiting.output)) == 6


def test_review_api_takes_the_aliases(client) -> None:
    study_id = Task.get(Task.name == "study").id
    first = task_units("study")[0]
    assert client.post(f"/api/units/{first.id}/approve", {}).status == 200
    approved = client.get(f"/api/units?task={study_id}&status=approved").json
    assert [u["unit_id"] for u in approved["units"]] == [first.id]
    waiting = client.get(f"/api/units?task={study_id}&status=awaiting_review").json
    assert waiting["total"] == 7
